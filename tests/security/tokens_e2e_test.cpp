// Tokens against the real binary: key rotation (a previous secret accepted only while the
// server is given it) and hostile tokens refused with 401 and counted.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/base64url.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/security/security_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

TEST_CASE("rotation: the previous secret is accepted during the grace and refused after") {
  TempDir dir{"rotation"};
  const std::string old_secret = "old-secret-0123456789abcdef0123456789abcdef";
  const std::string old_file = dir.path() + "/old.secret";
  std::ofstream(old_file) << old_secret << "\n";
  const std::string old_token = token("aud", Role::auditor, 3600, std::nullopt, old_secret);
  const std::string new_token = token("aud", Role::auditor);  // the current secret
  {
    const std::string log = dir.path() + "/stderr";
    ServerProcess server{dir.path() + "/data", {"--jwt-previous-secret-file", old_file}};
    server.capture_stderr(log);
    const auto started = std::chrono::system_clock::now();
    server.start();
    HttpClient c(server.port());
    CHECK(c.get("/v1/events", bearer(old_token)).status == 200);
    CHECK(c.get("/v1/events", bearer(new_token)).status == 200);
    server.terminate();
    // Without --jwt-previous-secret-grace the grace is 24 h, not for ever: the server says
    // until when.
    std::ifstream in(log);
    const std::string said{std::istreambuf_iterator<char>(in), {}};
    const std::string marker = "the previous JWT secret is accepted until ";
    const auto at = said.find(marker);
    REQUIRE_MESSAGE(at != std::string::npos, said);
    std::tm tm{};
    REQUIRE(strptime(said.c_str() + at + marker.size(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
    const auto until = std::chrono::system_clock::from_time_t(timegm(&tm));
    const auto grace = std::chrono::duration_cast<std::chrono::seconds>(until - started);
    CHECK(grace.count() > 24 * 3600 - 120);
    CHECK(grace.count() < 24 * 3600 + 120);
  }
  {
    // Grace over: the operator restarts without --jwt-previous-secret-file.
    ServerProcess server{dir.path() + "/data"};
    server.start();
    HttpClient c(server.port());
    check_problem(c.get("/v1/events", bearer(old_token)), 401, "unauthenticated");
    CHECK(c.get("/v1/events", bearer(new_token)).status == 200);
    CHECK(denied(c, "unauthenticated") == 1);
  }
}

TEST_CASE("rotation: a previous secret shorter than 32 bytes stops the server from starting") {
  TempDir dir{"rotation-short"};
  const std::string old_file = dir.path() + "/old.secret";
  std::ofstream(old_file) << "too-short\n";
  ServerProcess server{dir.path() + "/data", {"--jwt-previous-secret-file", old_file}};
  CHECK_THROWS(server.start());
}

TEST_CASE("hostile tokens over HTTP: none, RS256 label, expired, wrong secret → 401") {
  TempDir dir{"tokens"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  using api::base64url_encode;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string claims =
      base64url_encode(R"({"sub":"x","role":"admin","exp":)" + std::to_string(now + 600) + "}");
  auto hmac_token = [&](const std::string& header, const std::string& secret) {
    std::string input = base64url_encode(header) + "." + claims;
    return input + "." + base64url_encode(api::hmac_sha256(secret, input));
  };
  const std::vector<std::string> hostile{
      base64url_encode(R"({"alg":"none"})") + "." + claims + ".",
      hmac_token(R"({"alg":"RS256","typ":"JWT"})", kTestSecret),
      hmac_token(R"({"alg":"HS256","typ":"JWT"})", "wrong-secret-0123456789abcdef0123456789"),
      token("x", Role::admin, -3600),  // expired an hour ago
  };
  for (const auto& t : hostile) {
    auto r = c.get("/v1/audit/verify", bearer(t));
    check_problem(r, 401, "unauthenticated");
    CHECK(r.body.find(t) == std::string::npos);
  }
  CHECK(denied(c, "unauthenticated") == static_cast<int64_t>(hostile.size()));
}

TEST_CASE("rotation: with --jwt-previous-secret-grace the old secret expires in a running server") {
  TempDir dir{"rotation-grace"};
  const std::string old_secret = "old-secret-0123456789abcdef0123456789abcdef";
  const std::string old_file = dir.path() + "/old.secret";
  std::ofstream(old_file) << old_secret << "\n";
  const std::string old_token = token("aud", Role::auditor, 3600, std::nullopt, old_secret);
  ServerProcess server{
      dir.path() + "/data",
      {"--jwt-previous-secret-file", old_file, "--jwt-previous-secret-grace", "10s"}};
  server.start();
  HttpClient c(server.port());
  // In the grace (10 s from start-up: room for a slow start on a loaded machine).
  CHECK(c.get("/v1/events", bearer(old_token)).status == 200);
  // Out of it within the bound (polled): the same token is refused, a new one still works.
  int status = 200;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       status == 200 && std::chrono::steady_clock::now() < end;) {
    status = c.get("/v1/events", bearer(old_token)).status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(status == 401);
  CHECK(c.get("/v1/events", bearer(token("aud", Role::auditor))).status == 200);
  server.terminate();
  // A restart with the same flags does not start the grace again: it counts from the first
  // start with this previous secret.
  const std::string log = dir.path() + "/stderr";
  ServerProcess again{
      dir.path() + "/data",
      {"--jwt-previous-secret-file", old_file, "--jwt-previous-secret-grace", "10s"}};
  again.capture_stderr(log);
  again.start();
  HttpClient c2(again.port());
  check_problem(c2.get("/v1/events", bearer(old_token)), 401, "unauthenticated");
  std::ifstream in(log);
  const std::string said{std::istreambuf_iterator<char>(in), {}};
  CHECK_MESSAGE(said.find(": over, it is refused") != std::string::npos, said);
}

TEST_CASE("serve refuses a flag it cannot take as written, instead of guessing") {
  TempDir dir{"bad-flags"};
  const std::string old_file = dir.path() + "/old.secret";
  std::ofstream(old_file) << "old-secret-0123456789abcdef0123456789abcdef\n";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{"--partition", "4"}, "unknown option --partition"},  // a typo of --partitions
      {{"--max-batch", "0"}, "--max-batch must be an integer in 1..65536"},
      {{"--queue-capacity", "0"}, "--queue-capacity"},
      {{"--http-threads", "-1"}, "--http-threads"},
      {{"--partitions", "4294967297"}, "--partitions"},
      {{"--partitions", "2abc"}, "--partitions"},
      {{"--platform-fee-bps", "500x"}, "--platform-fee-bps"},
      {{"--listen", "127.0.0.1:65536"}, "--listen"},
      {{"--reservation-ttl", "106751991167d"}, "--reservation-ttl"},
      {{"--reservation-ttl", "0"}, "bad --reservation-ttl: 0 is not a duration in 1ms..3650d"},
      {{"--payment-timeout", "-1s"}, "bad --payment-timeout: -1s is not a duration in 0ms..3650d"},
      {{"--flow-wait-timeout", "61s"}, "bad --flow-wait-timeout: 61s is not a duration in 1ms..1m"},
      {{"--auto-release-after", "7 d"}, "bad --auto-release-after"},
      {{"--read-timeout", "0s"}, "bad --read-timeout"},
      {{"--idle-timeout", "10w"}, "bad --idle-timeout"},
      {{"--subscribe-write-timeout", "0"}, "bad --subscribe-write-timeout"},
      {{"--query-timeout", "61s"},
       "bad --query-timeout: 61s is not a duration in 1ms..1m (like 10s"},
      {{"--min-free-disk-mb", "-1"}, "--min-free-disk-mb must be an integer in 0..1000000"},
      {{"--min-free-disk-mb", "1000001"}, "--min-free-disk-mb"},
      {{"--rate-limit", "inf"}, "--rate-limit"},
      {{"--rate-limit", "5abc"}, "--rate-limit"},
      {{"--kafka-topic", "t"}, "--kafka-topic needs --kafka"},
      {{"--kafka-timeout-ms", "5abc"}, "--kafka-timeout-ms needs --kafka"},
      {{"--kafka-transactional-prefix", "p-"}, "--kafka-transactional-prefix needs --kafka"},
      {{"--views-schema", "v"}, "--views-schema needs --postgres"},
      {{"--min-position-wait", "1s"}, "--min-position-wait needs --postgres"},
      {{"--postgres", "host=127.0.0.1 port=1", "--min-position-wait", "61s"},
       "bad --min-position-wait: 61s is not a duration in 1ms..1m (like 5s, the default)"},
      {{"--postgres", "host=127.0.0.1 port=1", "--min-position-wait", "0s"},
       "bad --min-position-wait"},
      {{"--jwt-previous-secret-grace", "1h"},
       "--jwt-previous-secret-grace needs --jwt-previous-secret-file"},
      {{"--jwt-previous-secret-file", old_file, "--jwt-previous-secret-grace", "5x"},
       "--jwt-previous-secret-grace"},
      {{"--jwt-secret-file", dir.path() + "/typo.secret"}, "cannot read secret file"},
  };
  for (const auto& c : cases) {
    std::string all_args;
    for (const auto& a : c.args) all_args += a + " ";
    CAPTURE(all_args);
    const std::string log = dir.path() + "/stderr";
    std::filesystem::remove(log);
    ServerProcess server{dir.path() + "/data", c.args};
    server.capture_stderr(log);
    CHECK_THROWS(server.start());
    std::ifstream in(log);
    const std::string said{std::istreambuf_iterator<char>(in), {}};
    CHECK_MESSAGE(said.find(c.says) != std::string::npos, said);
    // A usage error is 2; an unreadable secret file is a failure to start (1).
    CHECK(server.startup_exit_code() == (c.says == "cannot read secret file" ? 1 : 2));
  }
  // Nothing was made for the mistyped secret file.
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/typo.secret"));
  // Nor a data directory (or the secret the server makes in it) for a refused flag.
  const std::string fresh = dir.path() + "/not-made";
  CliRun refused = run_ordo(dir, fmt::format("serve --data-dir '{}' --idle-timeout 0", fresh));
  CHECK(refused.code == 2);
  CHECK_MESSAGE(refused.err.find("bad --idle-timeout: 0 is not a duration in 1ms..3650d") !=
                    std::string::npos,
                refused.err);
  CHECK_FALSE(std::filesystem::exists(fresh));
  refused = run_ordo(dir, fmt::format("serve --data-dir '{}' --rate-limit inf", fresh));
  CHECK(refused.code == 2);
  CHECK_FALSE(std::filesystem::exists(fresh));
}

TEST_CASE("a secret file other users can read is named in a warning at start-up") {
  TempDir dir{"secret-mode"};
  const std::string log = dir.path() + "/stderr";
  auto warned = [&] {
    std::ifstream in(log);
    const std::string said{std::istreambuf_iterator<char>(in), {}};
    return said.find("can be read by other users") != std::string::npos;
  };
  const std::string webhook = dir.path() + "/webhook.secret";
  std::ofstream(webhook) << "webhook-secret-0123456789abcdef0123456789\n";
  std::filesystem::permissions(webhook, std::filesystem::perms::owner_read |
                                            std::filesystem::perms::owner_write |
                                            std::filesystem::perms::group_read);
  {
    ServerProcess server{dir.path() + "/data", {"--webhook-secret-file", webhook}};
    server.capture_stderr(log);
    server.start();
    server.terminate();
  }
  CHECK(warned());
  std::filesystem::remove(log);
  std::filesystem::permissions(
      webhook, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // Both secrets 0600 (the test's token secret is written so): nothing to say.
  {
    ServerProcess server{dir.path() + "/data2", {"--webhook-secret-file", webhook}};
    server.capture_stderr(log);
    server.start();
    server.terminate();
  }
  CHECK_FALSE(warned());
}

TEST_CASE("ordo token mints with the data directory's secret, made once, owner-only") {
  TempDir dir{"token-cli"};
  const std::string data = dir.path() + "/data";
  std::filesystem::create_directories(data);
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  auto first =
      run_ordo(dir, "token --data-dir '" + data + "' --sub alice --role customer --ttl 2h");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  const std::string secret_file = data + "/jwt.secret";
  REQUIRE(std::filesystem::exists(secret_file));
  const auto perms = std::filesystem::status(secret_file).permissions();
  CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
        std::filesystem::perms::none);
  std::string secret = read_file(secret_file);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  CHECK(secret.size() >= 32);
  std::string tok = first.out;
  while (!tok.empty() && tok.back() == '\n') tok.pop_back();
  auto claims = api::verify_jwt(tok, {secret}, now_s);
  REQUIRE_MESSAGE(claims.ok(), (claims.ok() ? "" : claims.error().message));
  CHECK(claims->sub == "alice");
  CHECK(claims->role == Role::customer);
  CHECK_FALSE(claims->tier.has_value());
  CHECK(claims->exp_s >= now_s + 7200);
  CHECK(claims->exp_s <= now_s + 7200 + 120);

  // The second run reuses the secret (tokens from both verify with it) and carries the tier.
  auto second =
      run_ordo(dir, "token --data-dir '" + data + "' --sub acme --role merchant --tier vip");
  REQUIRE_MESSAGE(second.code == 0, second.err);
  std::string again = read_file(secret_file);
  while (!again.empty() && (again.back() == '\n' || again.back() == '\r')) again.pop_back();
  CHECK(again == secret);
  tok = second.out;
  while (!tok.empty() && tok.back() == '\n') tok.pop_back();
  auto vip = api::verify_jwt(tok, {secret}, now_s);
  REQUIRE(vip.ok());
  CHECK(vip->role == Role::merchant);
  REQUIRE(vip->tier.has_value());
  CHECK(*vip->tier == "vip");
  CHECK(vip->exp_s <= now_s + 3600 + 120);  // the default ttl, 1 h

  // Mistakes exit 2 (usage) or 1 (the secret file), print no token, and make no file.
  struct Case {
    std::string args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases{
      {"--sub x --role king --data-dir '" + data + "'", 2, "unknown role king"},
      {"--sub x --role admin --tier gold --data-dir '" + data + "'", 2, "--tier"},
      {"--sub x --role admin --ttl 0s --data-dir '" + data + "'", 2, "--ttl"},
      {"--sub 'a b' --role admin --data-dir '" + data + "'", 2, "--sub"},
      {"--sub x --role admin", 2, "needs the server's --data-dir"},
      {"--sub x --role admin --jwt-secret-file '" + dir.path() + "/missing.secret'", 1,
       "missing.secret"},
      {"--sub x --role admin --data-dir '" + data + "' --secret s", 2, "unknown option --secret"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    auto r = run_ordo(dir, "token " + c.args);
    CHECK(r.code == c.code);
    CHECK(r.out.empty());
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/missing.secret"));
}

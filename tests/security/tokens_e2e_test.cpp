// Tokens against the real binary: key rotation (a previous secret accepted only while the
// server is given it) and hostile tokens refused with 401 and counted.
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
    ServerProcess server{dir.path() + "/data", {"--jwt-previous-secret-file", old_file}};
    server.start();
    HttpClient c(server.port());
    CHECK(c.get("/v1/events", bearer(old_token)).status == 200);
    CHECK(c.get("/v1/events", bearer(new_token)).status == 200);
    server.terminate();
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
      {"--jwt-previous-secret-file", old_file, "--jwt-previous-secret-grace", "3s"}};
  server.start();
  HttpClient c(server.port());
  CHECK(c.get("/v1/events", bearer(old_token)).status == 200);  // in the grace
  // Out of it within the bound (polled): the same token is refused, a new one still works.
  int status = 200;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       status == 200 && std::chrono::steady_clock::now() < end;) {
    status = c.get("/v1/events", bearer(old_token)).status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(status == 401);
  CHECK(c.get("/v1/events", bearer(token("aud", Role::auditor))).status == 200);
}

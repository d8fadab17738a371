// Limits against the real binary: the per-token rate limit (429 + Retry-After), slow clients
// cut off by the read and idle timeouts while others are served, and oversized input.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/server.hpp"
#include "api/webhook_signature.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/security/security_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;
using Clock = std::chrono::steady_clock;

namespace {

// A raw TCP connection to the server, for clients no HTTP library would write.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~RawConn() { ::close(fd_); }
  bool send(std::string_view s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // True when the server has closed its side (EOF or reset) within `ms`.
  bool closed_within(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n <= 0;
  }
  // What the server sends until it closes (EOF or reset) or `ms` pass without a byte.
  std::string read_all(int ms) {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, ms) <= 0) return out;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // One response's worth: reads until `marker` has arrived or `ms` pass without a byte.
  std::string read_until(std::string_view marker, int ms) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, ms) <= 0) return out;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

}  // namespace

TEST_CASE("rate limit: per token, 429 problem+json with Retry-After, others unaffected") {
  TempDir dir{"ratelimit"};
  ServerProcess server{dir.path() + "/data", {"--rate-limit", "1"}};  // 1/s, burst 2
  server.start();
  HttpClient c(server.port());
  const auto alice = bearer(token("alice", Role::auditor));
  const auto bob = bearer(token("bob", Role::auditor));

  // The bucket starts full: the burst (2 × 1) passes at once.
  CHECK(c.get("/v1/events?limit=1", alice).status == 200);
  CHECK(c.get("/v1/events?limit=1", alice).status == 200);
  // Then alice is refused within a few more requests (one token per second comes back).
  HttpResult refused;
  int alice_429 = 0;
  for (int i = 0; i < 20 && refused.status != 429; ++i) {
    auto r = c.get("/v1/events?limit=1", alice);
    if (r.status == 429) refused = r, ++alice_429;
  }
  REQUIRE(refused.status == 429);
  check_problem(refused, 429, "rate_limited");
  const int retry_after = std::stoi(refused.header("Retry-After"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 2);
  // Bob's bucket is his own; open ops endpoints are never limited.
  CHECK(c.get("/v1/events?limit=1", bob).status == 200);
  for (int i = 0; i < 20; ++i) CHECK(c.get("/livez").status == 200);
  // After Retry-After alice is served again (polled, bounded).
  bool served = false;
  for (auto deadline = Clock::now() + std::chrono::seconds(10);
       !served && Clock::now() < deadline;) {
    auto r = c.get("/v1/events?limit=1", alice);
    served = r.status == 200;
    if (r.status == 429) ++alice_429;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(served);
  CHECK(denied(c, "rate_limited") == alice_429);
}

TEST_CASE("rate limit: callers without a valid token are limited by address") {
  TempDir dir{"ratelimit-ip"};
  ServerProcess server{dir.path() + "/data", {"--rate-limit", "1"}};
  server.start();
  HttpClient c(server.port());
  CHECK(c.get("/v1/events").status == 401);
  CHECK(c.get("/v1/events", {{"Authorization", "Bearer forged.token.here"}}).status == 401);
  int limited = 0;
  for (int i = 0; i < 20 && !limited; ++i) limited += c.get("/v1/events").status == 429;
  CHECK(limited == 1);
  // A caller with a valid token is keyed by its sub, not the shared address.
  CHECK(c.get("/v1/events", bearer(token("carol", Role::auditor))).status == 200);
  CHECK(denied(c, "unauthenticated") >= 2);
}

TEST_CASE(
    "rate limit: webhooks that fail their signature are limited by address, signed ones "
    "never") {
  TempDir dir{"ratelimit-webhook"};
  std::filesystem::create_directories(dir.path());
  const std::string secret = "webhook-secret-0123456789abcdef0123456789";
  std::ofstream(dir.path() + "/webhook.secret") << secret << "\n";
  ServerProcess server{
      dir.path() + "/data",
      {"--rate-limit", "1", "--webhook-secret-file", dir.path() + "/webhook.secret"}};
  server.start();
  HttpClient c(server.port());
  const std::string body =
      R"({"event_id":"e1","payment_id":"p1","type":"captured","amount_minor":1})";
  auto signed_post = [&] {
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    return c.post("/v1/payments/webhook", body,
                  {{"Ordo-Signature", api::sign_webhook(secret, now_s, body)}});
  };
  // Unsigned: refused for the signature (401) until the address's bucket is empty, then 429.
  check_problem(c.post("/v1/payments/webhook", body), 401, "invalid_signature");
  int limited = 0;
  for (int i = 0; i < 20 && !limited; ++i)
    limited += c.post("/v1/payments/webhook", body).status == 429;
  CHECK(limited == 1);
  // The same address's signed webhooks are still served (an unknown payment: 404), however
  // many come at once.
  for (int i = 0; i < 10; ++i) CHECK(signed_post().status == 404);
  CHECK(denied(c, "rate_limited") == 1);
}

TEST_CASE("rate limit is off by default") {
  TempDir dir{"ratelimit-off"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  const auto alice = bearer(token("alice", Role::auditor));
  for (int i = 0; i < 50; ++i) REQUIRE(c.get("/v1/events?limit=1", alice).status == 200);
  CHECK(denied(c, "rate_limited") == 0);
}

TEST_CASE("slow clients are cut off by the read and idle timeouts; others are served meanwhile") {
  TempDir dir{"slow"};
  ServerProcess server{dir.path() + "/data", {"--read-timeout", "1s", "--idle-timeout", "2s"}};
  server.start();
  const uint16_t port = server.port();

  // Slow loris: the request line and headers, one byte at a time, never finished.
  std::atomic<bool> loris_cut{false}, idle_cut{false};
  std::atomic<long> loris_ms{0};
  std::thread loris([&] {
    RawConn conn(port);
    const std::string req = "GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(1000, 'a');
    const auto start = Clock::now();
    for (size_t i = 0; i < req.size() && Clock::now() - start < std::chrono::seconds(15); ++i) {
      if (!conn.send(req.substr(i, 1)) || conn.closed_within(200)) {
        loris_cut = true;
        break;
      }
    }
    loris_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  });
  // Idle: connects and never sends a byte.
  std::thread idle([&] {
    RawConn conn(port);
    for (int i = 0; i < 75 && !idle_cut; ++i) idle_cut = conn.closed_within(200);
  });

  HttpClient c(port);
  int served = 0;
  while (!loris_cut && served < 2000) {
    auto r = c.get("/livez");
    REQUIRE(r.status == 200);
    ++served;
  }
  loris.join();
  idle.join();
  CHECK(loris_cut);
  CHECK(idle_cut);
  CHECK(served > 0);
  MESSAGE("slow client cut after ", loris_ms.load(), " ms; ", served, " requests served meanwhile");
  CHECK(c.get("/livez").status == 200);
}

TEST_CASE(
    "a client that sends its body slowly is cut off by the read timeout; others are served "
    "meanwhile") {
  TempDir dir{"slow-body"};
  ServerProcess server{dir.path() + "/data", {"--read-timeout", "1s", "--idle-timeout", "2s"}};
  server.start();
  const uint16_t port = server.port();
  const std::string admin_token = token("root", Role::admin);
  const auto admin = bearer(admin_token);

  // Complete headers announcing a product body, then the body one byte at a time.
  std::atomic<bool> cut{false};
  std::atomic<long> cut_ms{0};
  std::thread slow([&] {
    RawConn conn(port);
    const std::string body =
        R"({"sku":"slow-1","seller_id":"m1","name":"Slow","price_minor":100,"currency":"EUR","stock":5})" +
        std::string(2000, ' ');
    const std::string head =
        "POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer " +
        admin_token + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    const auto start = Clock::now();
    if (!conn.send(head)) return;
    for (size_t i = 0; i < body.size() && Clock::now() - start < std::chrono::seconds(15); ++i) {
      if (!conn.send(body.substr(i, 1)) || conn.closed_within(200)) {
        cut = true;
        break;
      }
    }
    cut_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  });

  HttpClient c(port);
  int served = 0;
  while (!cut && served < 2000) {
    REQUIRE(c.get("/livez").status == 200);
    ++served;
  }
  slow.join();
  CHECK(cut);
  CHECK(served > 0);
  MESSAGE("slow body cut after ", cut_ms.load(), " ms; ", served, " requests served meanwhile");
  // The half-sent command changed nothing.
  CHECK(c.get("/v1/streams/product-slow-1/events", admin).body.find("ProductDefined") ==
        std::string::npos);
}

TEST_CASE(
    "oversized input: 431 for large or too many headers, 414 for a long URL, 413 for a body") {
  TempDir dir{"oversized"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  const auto admin = bearer(token("root", Role::admin));

  auto big_header = admin;
  big_header["X-Big"] = std::string(20 * 1024, 'h');
  check_problem(c.get("/v1/events", big_header), 431, "headers_too_large");
  CHECK(c.get("/livez").status == 200);

  auto many = admin;
  for (int i = 0; i < 150; ++i) many[fmt::format("X-H-{}", i)] = "1";
  check_problem(c.get("/v1/events", many), 431, "too_many_headers");
  CHECK(c.get("/livez").status == 200);
  auto enough = admin;
  for (int i = 0; i < 50; ++i) enough[fmt::format("X-H-{}", i)] = "1";
  CHECK(c.get("/v1/events", enough).status == 200);

  check_problem(c.get("/v1/events?type=" + std::string(3000, 'x'), admin), 414, "uri_too_long");
  CHECK(c.get("/livez").status == 200);

  const std::string body = R"({"sku":"s","seller_id":"root","name":")" +
                           std::string(70 * 1024, 'n') +
                           R"(","price_minor":1,"currency":"EUR","stock":1})";
  check_problem(c.post("/v1/products", body, admin), 413, "body_too_large");
  CHECK(c.get("/livez").status == 200);
}

TEST_CASE(
    "connections per client: past the cap a connection is closed at once; a freed slot serves "
    "again") {
  TempDir dir{"perclient"};
  ServerProcess server{dir.path() + "/data", {"--max-connections-per-client", "3"}};
  server.start();
  // Take all three slots. The readiness probe's connection may still hold one until the
  // server has seen it close, so retry (bounded) until three of ours stay open.
  auto held = std::vector<std::unique_ptr<RawConn>>();
  for (int attempt = 0; attempt < 50 && held.size() < 3; ++attempt) {
    held.clear();
    for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<RawConn>(server.port()));
    for (auto& h : held)
      if (h->closed_within(300)) {
        held.clear();
        break;
      }
  }
  REQUIRE(held.size() == 3);
  RawConn fourth(server.port());
  CHECK(fourth.closed_within(5'000));
  HttpClient c(server.port());
  CHECK(c.get("/livez").status == 0);
  for (auto& h : held) CHECK(!h->closed_within(0));  // the first three are still open
  held.pop_back();
  // The server notices the close and frees the slot (polled, bounded).
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = c.get("/livez").status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(served);
}

TEST_CASE("a new connection that sends nothing is cut off by the read timeout, not the idle one") {
  TempDir dir{"silent"};
  ServerProcess server{dir.path() + "/data", {"--read-timeout", "1s", "--idle-timeout", "60s"}};
  server.start();
  RawConn silent(server.port());
  bool cut = false;
  const auto start = Clock::now();
  // Polled up to a bound well under the 60 s idle timeout (a loaded machine is slow).
  while (!cut && Clock::now() - start < std::chrono::seconds(20)) cut = silent.closed_within(200);
  CHECK(cut);
  // A kept-alive connection between requests still gets the idle timeout.
  RawConn kept(server.port());
  const std::string livez = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(kept.send(livez));
  REQUIRE(kept.read_until("\r\n\r\n", 10'000).starts_with("HTTP/1.1 200"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2'500));  // past the read timeout
  REQUIRE(kept.send(livez));
  CHECK(kept.read_until("\r\n\r\n", 10'000).starts_with("HTTP/1.1 200"));
}

TEST_CASE("a 413 reaches a client that is still sending its large body") {
  TempDir dir{"linger"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  RawConn conn(server.port());
  const size_t body_bytes = 8 * 1024 * 1024;  // far past the 64 KiB limit and socket buffers
  const std::string head =
      "POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body_bytes) + "\r\n\r\n";
  REQUIRE(conn.send(head));
  // The whole body, as a client without Expect: 100-continue sends it; the server closes
  // once it has drained it (or its linger bound has passed).
  const std::string chunk(64 * 1024, ' ');
  size_t sent = 0;
  while (sent < body_bytes && conn.send(chunk)) sent += chunk.size();
  const std::string answer = conn.read_all(10'000);
  MESSAGE("sent ", sent, " body bytes; read ", answer.size(), " bytes back");
  // The server drained the body: a reset in the middle of the send is what most clients
  // report (a broken pipe) instead of reading the answer waiting for them.
  CHECK(sent == body_bytes);
  CHECK(answer.starts_with("HTTP/1.1 413"));
  CHECK(answer.find("body_too_large") != std::string::npos);
}

TEST_CASE("the connection cap leaves room for the engine's files under the open-file limit") {
  // The server runs with a hard limit of 1400 open files: 1000 are the log's, 256 the rest's,
  // so it takes at most 144 connections and closes the next at once instead of failing to
  // accept (EMFILE) with the connection left hanging.
  TempDir dir{"fdcap"};
  // A long read timeout: the held connections say nothing and must stay open meanwhile.
  ServerProcess server{dir.path() + "/data", {"--read-timeout", "120s"}};
  server.limit_open_files(1400);
  server.start();
  constexpr size_t kOpened = 170;
  std::vector<std::unique_ptr<RawConn>> held;
  for (size_t i = 0; i < kOpened; ++i) held.push_back(std::make_unique<RawConn>(server.port()));
  // The server accepts in order: once the last is closed, every earlier refusal is too.
  REQUIRE(held.back()->closed_within(30'000));
  size_t refused = 0;
  for (auto& h : held) refused += h->closed_within(0) ? 1 : 0;
  MESSAGE(refused, " of ", kOpened, " connections refused");
  // The limit less the reserve held; one fewer if the readiness probe's connection was
  // still counted.
  constexpr size_t kCap = 1400 - api::kReservedFds;
  static_assert(kCap < kOpened);
  CHECK(refused >= kOpened - kCap);
  CHECK(refused <= kOpened - kCap + 1);
}

TEST_CASE("HEAD is GET without the body, and the connection stays in step") {
  TempDir dir{"head"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  RawConn conn(server.port());
  // Pipelined: a HEAD of a resource, a HEAD the route refuses, then a GET that closes. Any
  // body sent after a HEAD would be read by the client as the next response's first bytes.
  REQUIRE(
      conn.send("HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n"
                "HEAD /v1/products HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string all = conn.read_all(10'000);
  INFO(all);
  auto head_end = [&](size_t from) { return all.find("\r\n\r\n", from); };
  // 1: 200 with the GET answer's length and nothing after the headers.
  REQUIRE(all.starts_with("HTTP/1.1 200"));
  const size_t first_end = head_end(0);
  REQUIRE(first_end != std::string::npos);
  const std::string first = all.substr(0, first_end);
  CHECK(first.find("Content-Length: 0") == std::string::npos);
  CHECK(first.find("Content-Length: ") != std::string::npos);
  // 2: the GET route's refusal (no token) as a HEAD: 401 headers, no problem body.
  const size_t second = first_end + 4;
  REQUIRE(all.compare(second, 12, "HTTP/1.1 401") == 0);
  const size_t second_end = head_end(second);
  REQUIRE(second_end != std::string::npos);
  CHECK(all.substr(second, second_end - second).find("application/problem+json") !=
        std::string::npos);
  // 3: the GET, right after, with its body.
  const size_t third = second_end + 4;
  REQUIRE(all.compare(third, 12, "HTTP/1.1 200") == 0);
  const size_t third_end = head_end(third);
  REQUIRE(third_end != std::string::npos);
  const std::string body = all.substr(third_end + 4);
  CHECK(!body.empty());
  // The HEAD's Content-Length is the GET body's length.
  const size_t cl = first.find("Content-Length: ");
  CHECK(std::stoul(first.substr(cl + 16)) == body.size());
  // An undeclared method's Allow names HEAD beside GET.
  RawConn other(server.port());
  REQUIRE(other.send("DELETE /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string refused = other.read_all(10'000);
  CHECK(refused.starts_with("HTTP/1.1 405"));
  CHECK(refused.find("Allow: GET, HEAD\r\n") != std::string::npos);
}

TEST_CASE("a WebSocket handshake the accept would refuse gets a problem, before any upgrade") {
  TempDir dir{"ws-handshake"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  const std::string auth = "Authorization: Bearer " + token("audit", Role::auditor) + "\r\n";
  auto handshake = [&](std::string_view version, bool host, std::string_view key) {
    return fmt::format(
        "GET /v1/subscribe HTTP/{}\r\n{}{}Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n\r\n",
        version, host ? "Host: x\r\n" : "", auth, key);
  };
  const std::string good_key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455's example
  struct Case {
    std::string request, says;
  };
  const std::vector<Case> cases{
      {handshake("1.1", true, "AAAAAAAAAAAAAAAAAAAAAAAAA"), "Sec-WebSocket-Key"},  // 25 bytes
      {handshake("1.1", true, "dGhlIHNhbXBsZSBub25jZQ="), "Sec-WebSocket-Key"},    // 23
      {handshake("1.1", true, "dGhlIHNhbXBsZSBub25j!Q=="), "Sec-WebSocket-Key"},   // not base64
      {handshake("1.1", false, good_key), "Host"},
      {handshake("1.2", true, good_key), "HTTP/1.1"},
      {handshake("1.0", true, good_key), "HTTP/1.1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.request);
    RawConn conn(server.port());
    REQUIRE(conn.send(c.request));
    const std::string got = conn.read_until("}", 10'000);
    INFO(got);
    CHECK(got.find(" 400 ") != std::string::npos);
    CHECK(got.find("application/problem+json") != std::string::npos);
    CHECK(got.find("\"code\":\"bad_request\"") != std::string::npos);
    CHECK(got.find(c.says) != std::string::npos);
    CHECK(got.find("Boost.Beast") == std::string::npos);  // not the accept's own text answer
  }
  // The same handshake with a good key, a Host and HTTP/1.1 is taken.
  RawConn ok(server.port());
  REQUIRE(ok.send(handshake("1.1", true, good_key)));
  CHECK(ok.read_until("\r\n\r\n", 10'000).starts_with("HTTP/1.1 101"));
}

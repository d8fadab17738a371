// The real binary over HTTP, as a client app uses it.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "api/base64url.hpp"
#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

struct Fixture {
  TempDir dir{"e2e"};
  ServerProcess server{dir.path() + "/data"};
  std::string merchant = token("m1", Role::merchant);
  std::string customer = token("c1", Role::customer);
  Fixture() { server.start(); }
};

}  // namespace

TEST_CASE("400 concurrent single-unit orders for 100 units: exactly 100 accepted") {
  Fixture f;
  HttpClient c(f.server.port());
  REQUIRE(c.post("/v1/products", product_body("hot", "m1", 100), bearer(f.merchant)).status == 201);
  Streams s{c};

  // 100 connections, each sending 4 orders one after another, all released at once.
  constexpr int kThreads = 100, kPerThread = 4;
  std::atomic<int> ready{0};
  std::vector<std::string> refused_ids;
  std::atomic<bool> go{false};
  std::mutex mu;
  std::set<std::string> accepted_ids;
  std::vector<std::string> other;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient tc(f.server.port());  // its own connection
      std::string tok = token(fmt::format("c{}", t), Role::customer);
      ++ready;
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = fmt::format("hot-{}-{}", t, i);
        auto r =
            tc.post("/v1/orders", order_body(fmt::format("c{}", t), {{"hot", 1}}, id), bearer(tok));
        std::lock_guard lock(mu);
        if (r.status == 201 && str_field(r, "order_id") == id)
          accepted_ids.insert(id);
        else if (r.status == 409 && str_field(r, "code") == "out_of_stock")
          refused_ids.push_back(id);
        else
          other.push_back(fmt::format("{}: {} {}", id, r.status, r.body));
      }
    });
  }
  while (ready < kThreads) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();
  CHECK(accepted_ids.size() == 100u);
  CHECK(refused_ids.size() == 300u);
  CHECK_MESSAGE(other.empty(), (other.empty() ? "" : other.front()));

  // The log holds exactly the accepted orders, each once with its reservation; the 300
  // refusals wrote nothing.
  CHECK(s.reserved("hot") == 100);  // all of the stock, never more
  const auto product_events = s.events("product-hot");
  CHECK(product_events.size() == 1u + 100u);  // ProductDefined, then one StockReserved each
  std::set<std::string> reserved_for;
  for (const auto& e : product_events)
    if (e.find("type")->as_string() == "StockReserved")
      reserved_for.insert(e.find("payload")->find("order_id")->as_string());
  CHECK(reserved_for == accepted_ids);
  for (const auto& id : refused_ids) CHECK(s.events("order-" + id).empty());
  for (const auto& id : accepted_ids) {
    auto events = s.events("order-" + id);
    REQUIRE(events.size() == 1);
    CHECK(events[0].find("type")->as_string() == "OrderPlaced");
  }
}

TEST_CASE("a 3-line order with one short line reserves nothing") {
  Fixture f;
  HttpClient c(f.server.port());
  for (auto [sku, stock] : std::vector<std::pair<std::string, int>>{{"a", 10}, {"b", 1}, {"c", 10}})
    REQUIRE(c.post("/v1/products", product_body(sku, "m1", stock), bearer(f.merchant)).status ==
            201);
  Streams s{c};
  int64_t before = s.last_offset();
  auto r = c.post("/v1/orders", order_body("c1", {{"a", 2}, {"b", 2}, {"c", 2}}, "short-1"),
                  bearer(f.customer));
  check_problem(r, 409, "out_of_stock");
  CHECK(!r.header("Ordo-Position").empty());
  CHECK(s.reserved("a") == 0);
  CHECK(s.reserved("b") == 0);
  CHECK(s.reserved("c") == 0);
  CHECK(s.events("order-short-1").empty());
  CHECK(s.last_offset() == before);

  // The same order within stock reserves all three lines atomically, priced from the catalogue.
  auto ok = c.post("/v1/orders", order_body("c1", {{"a", 2}, {"b", 1}, {"c", 3}}, "full-1"),
                   bearer(f.customer));
  REQUIRE(ok.status == 201);
  CHECK(body_json(ok).find("total_minor")->as_int() == 6000);
  CHECK(s.reserved("a") == 2);
  CHECK(s.reserved("b") == 1);
  CHECK(s.reserved("c") == 3);
}

TEST_CASE("Idempotency-Key: a retry returns the first response; another body is refused") {
  Fixture f;
  HttpClient c(f.server.port());
  REQUIRE(c.post("/v1/products", product_body("p", "m1", 10), bearer(f.merchant)).status == 201);
  auto headers = bearer(f.customer);
  headers["Idempotency-Key"] = "retry-1";
  auto first = c.post("/v1/orders", order_body("c1", {{"p", 1}}), headers);
  REQUIRE(first.status == 201);
  auto again = c.post("/v1/orders", order_body("c1", {{"p", 1}}), headers);
  CHECK(again.status == 201);
  CHECK(again.body == first.body);
  CHECK(again.header("Ordo-Position") == first.header("Ordo-Position"));
  CHECK(again.header("Idempotent-Replayed") == "true");
  auto other = c.post("/v1/orders", order_body("c1", {{"p", 2}}), headers);
  check_problem(other, 422, "idempotency_key_reused");
  Streams s{c};
  CHECK(s.reserved("p") == 1);

  // The same key from another caller is another key.
  auto h2 = bearer(token("c2", Role::customer));
  h2["Idempotency-Key"] = "retry-1";
  CHECK(c.post("/v1/orders", order_body("c2", {{"p", 2}}), h2).status == 201);
  CHECK(s.reserved("p") == 3);

  // A rejection is remembered too: the retry answers the same even after a restock.
  auto h3 = bearer(f.customer);
  h3["Idempotency-Key"] = "retry-2";
  auto big = c.post("/v1/orders", order_body("c1", {{"p", 100}}), h3);
  check_problem(big, 409, "out_of_stock");
  REQUIRE(c.post("/v1/products/p/stock", R"({"delta":1000,"reason":"restock"})", bearer(f.merchant))
              .status == 200);
  auto big_again = c.post("/v1/orders", order_body("c1", {{"p", 100}}), h3);
  CHECK(big_again.status == 409);
  CHECK(big_again.body == big.body);
}

TEST_CASE("bad input gets the right problem and changes nothing") {
  Fixture f;
  HttpClient c(f.server.port());
  REQUIRE(c.post("/v1/products", product_body("p", "m1", 10), bearer(f.merchant)).status == 201);
  Streams s{c};
  const int64_t before = s.last_offset();
  auto cust = bearer(f.customer);

  check_problem(c.post("/v1/orders", R"({"customer_id":"c1","lines":[{"sku":"p","qty":1})", cust),
                400, "validation_failed");
  check_problem(c.post("/v1/orders", R"([1,2,3])", cust), 400, "validation_failed");
  check_problem(
      c.post("/v1/orders", R"({"customer_id":"c1","lines":[{"sku":"p","qty":"1"}]})", cust), 400,
      "validation_failed");
  check_problem(
      c.post("/v1/orders", R"({"customer_id":"c1","lines":[{"sku":"p","qty":1.5}]})", cust), 400,
      "validation_failed");
  check_problem(c.post("/v1/orders", R"({"customer_id":"c1","lines":{"sku":"p"}})", cust), 400,
                "validation_failed");
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 0}}), cust), 400, "validation_failed");
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", -3}}), cust), 400,
                "validation_failed");
  check_problem(c.post("/v1/orders", R"({"customer_id":"c1","lines":[]})", cust), 400,
                "validation_failed");
  check_problem(
      c.post("/v1/orders", R"({"customer_id":"c1","lines":[{"sku":"p","qty":1}],"x":1})", cust),
      400, "validation_failed");
  check_problem(
      c.post("/v1/orders", R"({"customer_id":"c 1","lines":[{"sku":"p","qty":1}]})", cust), 400,
      "validation_failed");
  auto field =
      c.post("/v1/orders",
             R"({"customer_id":"c1","lines":[{"sku":"p","qty":1},{"sku":"q","qty":true}]})", cust);
  check_problem(field, 400, "validation_failed");
  CHECK(str_field(field, "field") == "lines[1].qty");
  check_problem(c.post("/v1/orders", order_body("c1", {{"nope", 1}}), cust), 422, "unknown_sku");
  // ?wait is true or false on every command, also where there is no flow to wait for.
  for (const char* target : {"/v1/orders?wait=maybe", "/v1/orders?wait=", "/v1/orders?wait=TRUE"}) {
    CAPTURE(target);
    auto bad_wait = c.post(target, order_body("c1", {{"p", 1}}), cust);
    check_problem(bad_wait, 400, "validation_failed");
    CHECK(str_field(bad_wait, "field") == "wait");
  }
  check_problem(c.post("/v1/products/p/stock?wait=1", R"({"delta":1})", bearer(f.merchant)), 400,
                "validation_failed");
  check_problem(c.post("/v1/products?wait=no", product_body("w", "m1", 1), bearer(f.merchant)), 400,
                "validation_failed");
  check_problem(c.post("/v1/products", product_body("neg", "m1", -1), bearer(f.merchant)), 400,
                "validation_failed");
  check_problem(
      c.post("/v1/products", product_body("cur", "m1", 1, 10, "euro"), bearer(f.merchant)), 400,
      "validation_failed");
  check_problem(c.post("/v1/products/p/stock", R"({"delta":0})", bearer(f.merchant)), 400,
                "validation_failed");
  check_problem(c.post("/v1/products/p/stock", R"({"delta":-11})", bearer(f.merchant)), 409,
                "stock_below_reserved");
  // U+0000 in free text: PostgreSQL could not store it, so it never reaches the log.
  auto nul =
      c.post("/v1/products/p/stock", R"({"delta":1,"reason":"a\u0000b"})", bearer(f.merchant));
  check_problem(nul, 400, "validation_failed");
  CHECK(str_field(nul, "field") == "reason");
  // A stream name outside the id characters (here a NUL) is bad input, not a storage error.
  check_problem(c.get("/v1/streams/product-p%00/events", bearer(token("a1", Role::auditor))), 400,
                "validation_failed");

  // Oversized body: refused before it is read in full.
  std::string huge = R"({"customer_id":"c1","lines":[{"sku":"p","qty":1}],"pad":")" +
                     std::string(70 * 1024, 'x') + "\"}";
  HttpClient c2(f.server.port());
  check_problem(c2.post("/v1/orders", huge, cust), 413, "body_too_large");

  // Authentication: missing, forged, expired, alg none.
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}})), 401, "unauthenticated");
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}}),
                       bearer(token("c1", Role::customer, 3600, {},
                                    "another-secret-of-at-least-32-bytes!!"))),
                401, "unauthenticated");
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}}),
                       bearer(token("c1", Role::customer, -3600))),
                401, "unauthenticated");
  std::string good = f.customer;
  std::string none = api::base64url_encode(R"({"alg":"none","typ":"JWT"})") +
                     good.substr(good.find('.'), good.rfind('.') - good.find('.')) + ".";
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}}), bearer(none)), 401,
                "unauthenticated");
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}}), bearer("not-a-token")), 401,
                "unauthenticated");

  // A customer cannot order as another customer; a merchant cannot sell as another seller.
  check_problem(c.post("/v1/orders", order_body("c2", {{"p", 1}}), cust), 403, "forbidden");
  check_problem(c.post("/v1/products", product_body("x", "m2", 1), bearer(f.merchant)), 403,
                "forbidden");
  check_problem(
      c.post("/v1/products/p/stock", R"({"delta":5})", bearer(token("m2", Role::merchant))), 404,
      "not_found");
  check_problem(
      c.post("/v1/orders", order_body("c1", {{"p", 1}}), bearer(token("a1", Role::auditor))), 403,
      "forbidden");
  // Every answer to a command names a position, also a refusal no partition decided
  // (validation, authentication, role, ownership, the router): nothing was written, so it is
  // where the log already ended.
  const std::string at_end = fmt::format("0-{}", before);
  CHECK(c.post("/v1/orders", R"([1,2,3])", cust).header("Ordo-Position") == at_end);
  CHECK(c.post("/v1/orders", order_body("c1", {{"p", 1}})).header("Ordo-Position") == at_end);
  CHECK(c.post("/v1/orders", order_body("c2", {{"p", 1}}), cust).header("Ordo-Position") == at_end);
  CHECK(c.post("/v1/orders", order_body("c1", {{"nope", 1}}), cust).header("Ordo-Position") ==
        at_end);
  CHECK(c.post("/v1/orders/none/cancel", "{}", cust).header("Ordo-Position") == at_end);
  CHECK(c.get("/v1/nothing", cust).header("Ordo-Position").empty());  // not a command

  check_problem(c.get("/v1/streams/product-p/events", cust), 403, "forbidden");
  check_problem(c.get("/v1/nothing", cust), 404, "not_found");
  check_problem(c.request(boost::beast::http::verb::delete_, "/v1/orders", "", cust), 405,
                "method_not_allowed");
  check_problem(c.post("/v1/orders", "customer_id=c1",
                       {{"Authorization", "Bearer " + f.customer},
                        {"Content-Type", "application/x-www-form-urlencoded"}}),
                415, "unsupported_media_type");

  CHECK(s.last_offset() == before);
  CHECK(s.reserved("p") == 0);
  CHECK(c.get("/livez").status == 200);
}

TEST_CASE("cancel: the customer releases the stock; others see 404; If-Match guards the version") {
  Fixture f;
  HttpClient c(f.server.port());
  REQUIRE(c.post("/v1/products", product_body("p", "m1", 5), bearer(f.merchant)).status == 201);
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 3}}, "o1"), bearer(f.customer)).status ==
          201);
  Streams s{c};
  CHECK(s.reserved("p") == 3);

  check_problem(c.post("/v1/orders/o1/cancel", "{}", bearer(token("c2", Role::customer))), 404,
                "not_found");
  check_problem(c.post("/v1/orders/o1/cancel", "{}", bearer(token("m2", Role::merchant))), 404,
                "not_found");
  check_problem(c.post("/v1/orders/nope/cancel", "{}", bearer(f.customer)), 404, "not_found");
  auto stale = bearer(f.customer);
  stale["If-Match"] = "\"7\"";
  check_problem(c.post("/v1/orders/o1/cancel", "{}", stale), 412, "version_conflict");
  CHECK(s.reserved("p") == 3);
  // If-Match is part of what an Idempotency-Key stands for: the same key and body against
  // another version is another request, refused rather than replayed.
  stale["Idempotency-Key"] = "cancel-o1";
  check_problem(c.post("/v1/orders/o1/cancel", "{}", stale), 412, "version_conflict");
  auto other_version = stale;
  other_version["If-Match"] = "\"1\"";
  check_problem(c.post("/v1/orders/o1/cancel", "{}", other_version), 422, "idempotency_key_reused");
  CHECK(s.reserved("p") == 3);

  auto fresh = bearer(f.customer);
  fresh["If-Match"] = "\"1\"";
  auto ok = c.post("/v1/orders/o1/cancel", R"({"reason":"changed my mind"})", fresh);
  REQUIRE_MESSAGE(ok.status == 200, ok.body);
  CHECK(str_field(ok, "status") == "cancelled");
  CHECK(s.reserved("p") == 0);
  check_problem(c.post("/v1/orders/o1/cancel", "{}", bearer(f.customer)), 409,
                "invalid_transition");
  // The seller may cancel an order placed with it.
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 1}}, "o2"), bearer(f.customer)).status ==
          201);
  CHECK(c.post("/v1/orders/o2/cancel", "", bearer(f.merchant)).status == 200);
  // `If-Match: *` asks for no version (RFC 9110: any current representation); a weak or
  // malformed tag is still a 400.
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 1}}, "o3"), bearer(f.customer)).status ==
          201);
  auto any_version = bearer(f.customer);
  any_version["If-Match"] = "W/\"1\"";
  check_problem(c.post("/v1/orders/o3/cancel", "{}", any_version), 400, "validation_failed");
  any_version["If-Match"] = "*";
  CHECK(c.post("/v1/orders/o3/cancel", "{}", any_version).status == 200);
  auto events = s.events("order-o1");
  REQUIRE(events.size() == 2);
  CHECK(events[1].find("type")->as_string() == "OrderCancelled");
  CHECK(events[1].find("actor")->find("sub")->as_string() == "c1");
}

TEST_CASE("a reservation expires by the partition's timer and releases its stock") {
  TempDir dir{"e2e-ttl"};
  ServerProcess server{dir.path() + "/data", {"--reservation-ttl", "300ms"}};
  server.start();
  HttpClient c(server.port());
  REQUIRE(c.post("/v1/products", product_body("p", "m1", 5), bearer(token("m1", Role::merchant)))
              .status == 201);
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 2}}, "exp-1"),
                 bearer(token("c1", Role::customer)))
              .status == 201);
  Streams s{c};
  // Poll (bounded) for the expiry event; no assertion depends on how long it took.
  bool expired = false;
  for (int i = 0; i < 500 && !expired; ++i) {
    auto ev = s.events("order-exp-1");
    expired = ev.size() == 2 && ev[1].find("type")->as_string() == "OrderExpired";
    if (!expired) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(expired);
  CHECK(s.reserved("p") == 0);
  CHECK(s.events("order-exp-1")[1].find("actor")->find("role")->as_string() == "system");
}

TEST_CASE("state survives a clean restart and the chain continues") {
  Fixture f;
  {
    HttpClient c(f.server.port());
    REQUIRE(c.post("/v1/products", product_body("p", "m1", 5), bearer(f.merchant)).status == 201);
    REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 4}}, "r1"), bearer(f.customer)).status ==
            201);
  }
  f.server.terminate();
  f.server.start();
  HttpClient c(f.server.port());
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 2}}, "r2"), bearer(f.customer)), 409,
                "out_of_stock");
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p", 1}}, "r3"), bearer(f.customer)).status ==
          201);
  check_problem(c.post("/v1/orders", order_body("c1", {{"p", 1}}, "r1"), bearer(f.customer)), 409,
                "already_exists");
  Streams s{c};
  auto events = s.events("product-p");
  REQUIRE(events.size() == 3);
  CHECK(s.reserved("p") == 5);
}

namespace {

// A server whose views never move (nothing listens on port 1), with room for one query, and
// a product just made: `h` asks for its position, so a query with it waits its whole bound.
struct StuckViews {
  TempDir dir;
  ServerProcess server;
  std::map<std::string, std::string> admin = bearer(token("root", Role::admin));
  std::map<std::string, std::string> h;

  StuckViews(const std::string& tag, const std::string& wait)
      : dir(tag),
        server(dir.path() + "/data",
               {"--postgres", "host=127.0.0.1 port=1 dbname=none connect_timeout=1",
                "--max-pending-queries", "1", "--min-position-wait", wait}) {
    server.start();
    auto made =
        HttpClient(server.port()).post("/v1/products", product_body("mug", "acme", 5), admin);
    REQUIRE_MESSAGE(made.status == 201, made.body);
    h = admin;
    h["Ordo-Min-Position"] = made.header("Ordo-Position");
  }

  // A query with `h` on its own connection; asked again (a bounded number of times) when a
  // plain query held the one place at that moment. Sets `answered` when it has its answer.
  HttpResult wait_query(std::atomic<bool>& answered) {
    HttpClient own(server.port());
    HttpResult r;
    for (int i = 0; i < 50; ++i) {
      r = own.get("/v1/products/mug", h);
      if (str_field(r, "code") != "views_busy") break;
    }
    answered = true;
    return r;
  }

  // Plain queries until one is refused as views_busy (only a wait can hold the place then),
  // or until `answered`; each fails, as the views cannot be reached. True when refused.
  bool refused_while_waiting(const std::atomic<bool>& answered) {
    HttpClient plain(server.port());
    while (!answered) {
      auto r = plain.get("/v1/products/mug", admin);
      CHECK(r.status == 503);
      if (str_field(r, "code") == "views_busy") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
};

}  // namespace

TEST_CASE("queries waiting for Ordo-Min-Position count against --max-pending-queries") {
  StuckViews rig("minpos-bound", "2s");
  auto& server = rig.server;
  const auto& h = rig.h;
  // Two at once, with room for one: one waits out its bound, the other is refused at once.
  // (Should the second come only after the first's wait ended, on a slow machine, both
  // waited: the pair is sent again, a bounded number of times.)
  HttpResult answers[2];
  std::multiset<std::string> codes;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::thread other([&] { answers[1] = HttpClient(server.port()).get("/v1/products/mug", h); });
    answers[0] = HttpClient(server.port()).get("/v1/products/mug", h);
    other.join();
    codes.clear();
    for (const auto& r : answers) codes.insert(str_field(r, "code"));
    if (codes.count("views_busy") > 0) break;
  }
  for (const auto& r : answers) {
    INFO(r.body);
    CHECK(r.status == 503);
    CHECK(!r.header("Retry-After").empty());
  }
  CHECK(codes == std::multiset<std::string>{"position_not_reached", "views_busy"});
  for (const auto& r : answers)  // the bound waited is --min-position-wait's
    if (str_field(r, "code") == "position_not_reached")
      CHECK_MESSAGE(str_field(r, "detail").ends_with("within 2000 ms"), r.body);

  // Waits and queries share the bound: while one waits, a plain query is refused at once
  // (without the wait it would run, and fail on the unreachable PostgreSQL instead).
  std::atomic<bool> waited{false};
  HttpResult waiting;
  std::thread waiter([&] { waiting = rig.wait_query(waited); });
  const bool refused_while_waiting = rig.refused_while_waiting(waited);
  waiter.join();
  CHECK(refused_while_waiting);
  CHECK(str_field(waiting, "code") == "position_not_reached");
}

namespace {

// A loopback port whose connections the kernel completes and nobody ever answers: a
// PostgreSQL that hangs (libpq then waits out its connect_timeout). Never accepts.
struct SilentListener {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  uint16_t port() const { return acceptor.local_endpoint().port(); }
};

}  // namespace

TEST_CASE("a query the views do not answer within --query-timeout gets 503 views_timeout") {
  SilentListener pg;
  TempDir dir("query-timeout");
  // libpq waits 3 s for the silent PostgreSQL; the API answers after 500 ms.
  ServerProcess server(
      dir.path() + "/data",
      {"--postgres", fmt::format("host=127.0.0.1 port={} dbname=none connect_timeout=3", pg.port()),
       "--query-timeout", "500ms"});
  server.start();
  HttpClient c(server.port());
  auto r = c.get("/v1/products/mug", bearer(token("root", Role::admin)));
  check_problem(r, 503, "views_timeout");
  CHECK(!r.header("Retry-After").empty());
  // Commands do not wait on the views: the log takes them as before.
  CHECK(c.post("/v1/products", product_body("mug", "acme", 5), bearer(token("root", Role::admin)))
            .status == 201);
}

TEST_CASE("a stop ends a wait for Ordo-Min-Position with 503 stopping, not a cut connection") {
  // The wait could last a minute: far longer than the stop's drain.
  StuckViews rig("minpos-stop", "60s");
  auto& server = rig.server;
  HttpResult waited;
  std::atomic<bool> answered{false};
  std::thread waiter([&] { waited = rig.wait_query(answered); });
  // The wait holds the one place: a plain query refused as views_busy says it is in hand.
  const bool in_hand = rig.refused_while_waiting(answered);
  if (!in_hand) {
    waiter.join();
    FAIL("the wait ended before the stop: ", waited.body);
  }
  server.terminate();  // SIGTERM while the query waits
  waiter.join();
  CHECK_MESSAGE(waited.status == 503, waited.status, " ", waited.error, " ", waited.body);
  CHECK(str_field(waited, "code") == "stopping");
  CHECK(!waited.header("Retry-After").empty());
}

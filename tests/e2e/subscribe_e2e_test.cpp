// GET /v1/subscribe over a real WebSocket against the real binary: who sees which live
// events, filters, the refusals before the upgrade, the subscription limit, a slow reader cut
// off with 1008 while another subscriber gets everything, and the 1001 close on stop.
// Single partition: the log order of one partition is the order a subscriber receives, so
// "did not see X" is checked by X's absence before a later marker event, without sleeping.
#include <utility>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdlib>
#include <set>
#include <thread>

#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// A tiny synchronous-looking WebSocket client; every operation is bounded by a generous
// deadline (a failure path only: nothing asserts on time).
class WsClient {
 public:
  // Connects and sends the upgrade; `status()` is 101 when it was accepted. `rcvbuf` > 0
  // shrinks the socket's receive buffer (a reader that holds little).
  WsClient(uint16_t port, const std::string& token, const std::string& target = "/v1/subscribe",
           int rcvbuf = 0) {
    auto& s = beast::get_lowest_layer(ws_);
    s.socket().open(tcp::v4());
    if (rcvbuf > 0) s.socket().set_option(asio::socket_base::receive_buffer_size(rcvbuf));
    s.expires_after(std::chrono::seconds(30));
    s.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec_);
    REQUIRE_MESSAGE(!ec_, ec_.message());
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      if (!token.empty())
        req.set(http::field::authorization,
                token.rfind("Bearer ", 0) == 0 ? token : "Bearer " + token);
    }));
    ws_.async_handshake(res_, "127.0.0.1", target, [this](beast::error_code ec) { ec_ = ec; });
    run();
  }
  ~WsClient() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  int status() const { return static_cast<int>(res_.result_int()); }
  const http::response<http::string_body>& response() const { return res_; }
  bool open() const { return !ec_ && status() == 101; }

  // The next message as JSON; nullopt once the connection ended (error() tells how).
  std::optional<Json> next() {
    beast::flat_buffer buffer;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    ws_.async_read(buffer, [this](beast::error_code ec, size_t) { ec_ = ec; });
    run();
    if (ec_) return std::nullopt;
    auto j = parse_json(beast::buffers_to_string(buffer.data()));
    REQUIRE(j.ok());
    return j.value();
  }
  // The next `n` messages (fails the test if the connection ends first).
  std::vector<Json> take(size_t n) {
    std::vector<Json> out;
    while (out.size() < n) {
      auto m = next();
      REQUIRE_MESSAGE(m, "connection ended after ", out.size(), " of ", n,
                      " messages: ", ec_.message());
      out.push_back(std::move(*m));
    }
    return out;
  }
  void close() {
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    ws_.async_close(websocket::close_code::normal, [this](beast::error_code ec) { ec_ = ec; });
    run();
  }
  beast::error_code error() const { return ec_; }
  websocket::close_reason reason() const { return ws_.reason(); }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_{io_};
  websocket::response_type res_;
  beast::error_code ec_;
};

std::string type_of(const Json& e) { return e.find("type")->as_string(); }
std::string payload_str(const Json& e, const char* k) {
  const Json* v = e.find("payload")->find(k);
  return v && v->is_string() ? v->as_string() : "";
}

struct Admin {
  HttpClient& c;
  std::string tok = token("root", Role::admin);
  void post(const std::string& target, const std::string& body, int want = 201) {
    auto r = c.post(target, body, bearer(tok));
    REQUIRE_MESSAGE(r.status == want, target, " ", r.body);
  }
  // Products s0..s{n-1} of seller acme, and an order line of one of each.
  std::vector<std::pair<std::string, int64_t>> products(int n) {
    std::vector<std::pair<std::string, int64_t>> lines;
    for (int i = 0; i < n; ++i) {
      post("/v1/products", product_body(fmt::format("s{}", i), "acme", 1000));
      lines.emplace_back(fmt::format("s{}", i), 1);
    }
    return lines;
  }
};

}  // namespace

TEST_CASE("subscribe: each caller sees live the events it may see, from now on") {
  TempDir dir{"subscribe"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  Admin admin{c};
  // Before anyone subscribes: not delivered (the feed starts at the tail).
  admin.post("/v1/products", product_body("mug", "acme", 100));
  Streams streams{c};
  const int64_t before = streams.last_offset();

  WsClient alice(server.port(), token("alice", Role::customer));
  WsClient bob(server.port(), token("bob", Role::customer));
  WsClient auditor(server.port(), token("audit", Role::auditor));
  WsClient placed_only(server.port(), token("audit", Role::auditor),
                       "/v1/subscribe?types=OrderPlaced,OrderCancelled&from=now");
  WsClient acme(server.port(), token("acme", Role::merchant));
  WsClient zed(server.port(), token("zed", Role::merchant));
  WsClient finance(server.port(), token("fin", Role::finance));
  WsClient analyst(server.port(), token("ana", Role::analyst));
  for (WsClient* w : {&alice, &bob, &auditor, &placed_only, &acme, &zed, &finance, &analyst})
    REQUIRE(w->open());

  // Bob's order first, then Alice's, then Alice cancels; then a product of another seller.
  auto r = c.post("/v1/orders", order_body("bob", {{"mug", 1}}, "ob"),
                  bearer(token("bob", Role::customer)));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  const std::string alice_tok = token("alice", Role::customer);
  r = c.post("/v1/orders", order_body("alice", {{"mug", 2}}, "oa"), bearer(alice_tok));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  r = c.post("/v1/orders/oa/cancel", R"({"reason":"changed my mind"})", bearer(alice_tok));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  admin.post("/v1/products", product_body("cup", "zed", 5));
  // Last, a deposit into a wallet none of the customers or merchants here own.
  admin.post("/v1/wallets/carol/deposits",
             R"({"amount_minor":500,"currency":"EUR","reference":"top-up"})");

  // The log since subscribing, as the auditor's history endpoint has it.
  auto h = c.get(fmt::format("/v1/events?partition=0&after={}&limit=1000", before),
                 bearer(token("audit", Role::auditor)));
  REQUIRE(h.status == 200);
  const Json page = body_json(h);
  const std::vector<Json> history = page.find("events")->as_array();
  // OrderPlaced+StockReserved ×2, OrderCancelled+StockReleased, ProductDefined, WalletDeposited
  REQUIRE(history.size() == 8);

  SUBCASE("the auditor gets every event, exactly the log's envelopes, in order") {
    auto got = auditor.take(history.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO(i);
      CHECK(to_canonical(got[i]) == to_canonical(history[i]));
    }
  }
  SUBCASE("a customer gets their own order's events and none of another customer's") {
    // Alice's four: placed, reserved, cancelled, released. Bob's came first in the log, so
    // any leak would show up among them.
    auto got = alice.take(4);
    std::multiset<std::string> types;
    for (const auto& e : got) {
      CHECK(payload_str(e, "order_id") == "oa");
      types.insert(type_of(e));
    }
    CHECK(types == std::multiset<std::string>{"OrderPlaced", "StockReserved", "OrderCancelled",
                                              "StockReleased"});
    CHECK(type_of(got.front()) == "OrderPlaced");
    CHECK(got.front().find("offset")->as_int() > before);
    // Bob: exactly his two, and the first is his order (not the product defined earlier).
    auto b = bob.take(2);
    CHECK(type_of(b[0]) == "OrderPlaced");
    for (const auto& e : b) CHECK(payload_str(e, "order_id") == "ob");
  }
  SUBCASE("a merchant gets the orders of its shop; another merchant only its own product") {
    auto got = acme.take(6);
    for (const auto& e : got) {
      const std::string o = payload_str(e, "order_id");
      CHECK((o == "oa" || o == "ob"));
    }
    auto z = zed.take(1);
    CHECK(type_of(z[0]) == "ProductDefined");
    CHECK(payload_str(z[0], "sku") == "cup");
  }
  SUBCASE("finance gets the money events only; an analyst the catalogue only") {
    // Finance: the deposit, the last event, is the first it gets: no order event before it.
    auto f = finance.take(1);
    CHECK(type_of(f[0]) == "WalletDeposited");
    CHECK(to_canonical(f[0]) == to_canonical(history.back()));
    // Analyst: the new product, not the orders (nor their reservations, which name the
    // order and its customer) or the deposit; then the next catalogue event, a stock
    // adjustment made after the deposit.
    admin.post("/v1/products/mug/stock", R"({"delta":3,"reason":"count"})", 200);
    auto a = analyst.take(2);
    CHECK(type_of(a[0]) == "ProductDefined");
    CHECK(payload_str(a[0], "sku") == "cup");
    CHECK(type_of(a[1]) == "StockAdjusted");
  }
  SUBCASE("?types= filters by event type") {
    auto got = placed_only.take(3);
    CHECK(type_of(got[0]) == "OrderPlaced");
    CHECK(payload_str(got[0], "order_id") == "ob");
    CHECK(type_of(got[1]) == "OrderPlaced");
    CHECK(payload_str(got[1], "order_id") == "oa");
    CHECK(type_of(got[2]) == "OrderCancelled");
  }
}

TEST_CASE("subscribe: refusals come before the upgrade, as problem responses") {
  TempDir dir{"subscribe-refuse"};
  ServerProcess server{dir.path() + "/data",
                       {"--max-subscriptions", "3", "--max-subscriptions-per-caller", "2"}};
  server.start();
  HttpClient c(server.port());

  SUBCASE("no token, a bad token: 401, no upgrade") {
    for (std::string tok : {std::string(), std::string("Bearer not.a.token")}) {
      WsClient w(server.port(), tok);
      CHECK(!w.open());
      CHECK(w.status() == 401);
      CHECK(w.response()[http::field::content_type] == "application/problem+json");
      CHECK(w.response().body().find("\"unauthenticated\"") != std::string::npos);
    }
  }
  SUBCASE("a plain GET: 426 with Upgrade: websocket") {
    auto r = c.get("/v1/subscribe", bearer(token("alice", Role::customer)));
    check_problem(r, 426, "upgrade_required");
    CHECK(r.header("Upgrade") == "websocket");
  }
  SUBCASE("bad filters: 400 naming the parameter") {
    const std::string t = token("audit", Role::auditor);
    WsClient types(server.port(), t, "/v1/subscribe?types=OrderPlaced,,X");
    CHECK(types.status() == 400);
    CHECK(types.response().body().find("\"field\":\"types\"") != std::string::npos);
    WsClient from(server.port(), t, "/v1/subscribe?from=0-0");
    CHECK(from.status() == 400);
    CHECK(from.response().body().find("\"field\":\"from\"") != std::string::npos);
  }
  SUBCASE("more subscriptions than --max-subscriptions: 503; a closed one frees its slot") {
    const std::string t = token("audit", Role::auditor);
    const std::string other = token("audit-2", Role::auditor);
    auto first = std::make_unique<WsClient>(server.port(), t);
    WsClient second(server.port(), t);
    WsClient third(server.port(), other);
    REQUIRE(first->open());
    REQUIRE(second.open());
    REQUIRE(third.open());
    const std::string late = token("audit-3", Role::auditor);
    {
      WsClient fourth(server.port(), late);
      CHECK(fourth.status() == 503);
      CHECK(fourth.response().body().find("\"too_many_subscriptions\"") != std::string::npos);
      CHECK(!fourth.response()[http::field::retry_after].empty());
    }
    first->close();
    first.reset();
    // The slot is released once the server's side of the connection ended: retry (bounded).
    bool opened = false;
    for (int i = 0; i < 500 && !opened; ++i) {
      WsClient again(server.port(), late);
      opened = again.open();
      if (!opened) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(opened);
  }
  SUBCASE("more than --max-subscriptions-per-caller from one subject: 429; others still get in") {
    const std::string t = token("audit", Role::auditor);
    auto first = std::make_unique<WsClient>(server.port(), t);
    WsClient second(server.port(), t);
    REQUIRE(first->open());
    REQUIRE(second.open());
    {
      WsClient third(server.port(), t);
      CHECK(third.status() == 429);
      CHECK(third.response()[http::field::content_type] == "application/problem+json");
      CHECK(third.response().body().find("\"too_many_subscriptions\"") != std::string::npos);
      CHECK(third.response().body().find("already has 2 live subscriptions") != std::string::npos);
      CHECK(!third.response()[http::field::retry_after].empty());
    }
    WsClient someone_else(server.port(), token("audit-2", Role::auditor));
    CHECK(someone_else.open());
    first->close();
    first.reset();
    bool opened = false;
    for (int i = 0; i < 500 && !opened; ++i) {
      WsClient again(server.port(), t);
      opened = again.open();
      if (!opened) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(opened);
  }
}

TEST_CASE("subscribe: a slow reader is closed with 1008; another subscriber gets every event") {
  TempDir dir{"subscribe-slow"};
  // A small queue limit, so a few hundred events overflow it past the kernel's buffers; a
  // write timeout longer than the test, so the overflow (not the timeout) ends the slow one.
  ServerProcess server{dir.path() + "/data",
                       {"--subscribe-queue-limit", "100", "--subscribe-write-timeout", "120s"}};
  server.start();
  HttpClient c(server.port());
  Admin admin{c};
  constexpr int kSkus = 40, kOrders = 25;
  const auto lines = admin.products(kSkus);
  const std::string t = token("audit", Role::auditor);
  WsClient slow(server.port(), t, "/v1/subscribe", 4096);  // never reads until the end
  WsClient fast(server.port(), t);
  REQUIRE(slow.open());
  REQUIRE(fast.open());

  // Each order: OrderPlaced and one StockReserved per line. The fast subscriber reads each
  // order's events before the next order is placed, so its queue never holds more than one
  // order's worth (41 < the limit); the slow one's grows by 41 per order until it overflows.
  constexpr size_t kPerOrder = kSkus + 1;
  std::vector<Json> got;
  const std::string customer = token("carol", Role::customer);
  for (int o = 0; o < kOrders; ++o) {
    auto r =
        c.post("/v1/orders", order_body("carol", lines, fmt::format("o{}", o)), bearer(customer));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    for (auto& e : fast.take(kPerOrder)) got.push_back(std::move(e));
  }
  // The fast subscriber was not held back by the slow one: every event, in order.
  const size_t kEvents = kOrders * kPerOrder;
  REQUIRE(got.size() == kEvents);
  for (size_t i = 1; i < got.size(); ++i)
    CHECK(got[i].find("offset")->as_int() > got[i - 1].find("offset")->as_int());
  CHECK(payload_str(got.back(), "order_id") == fmt::format("o{}", kOrders - 1));

  // Every event was handed to the feed for both before the fast one saw the last, so the slow
  // one's queue overflowed: it reads what the kernel buffered, then the close.
  size_t slow_got = 0;
  while (slow.next()) ++slow_got;
  CHECK(slow.error() == websocket::error::closed);
  CHECK(slow.reason().code == websocket::close_code::policy_error);
  CHECK(std::string(slow.reason().reason).find("too slow") != std::string::npos);
  CHECK(slow_got < kEvents);
  MESSAGE("the slow subscriber got ", slow_got, " of ", kEvents, " events before the close");

  // The server is fine: commands and new subscriptions work.
  WsClient again(server.port(), t);
  CHECK(again.open());
  CHECK(c.get("/readyz").status == 200);
}

TEST_CASE(
    "subscribe: a subscriber that stops reading is cut off at the write timeout; its slot "
    "is free again") {
  TempDir dir{"subscribe-stuck"};
  ServerProcess server{dir.path() + "/data",
                       {"--max-subscriptions", "1", "--subscribe-write-timeout", "1s"}};
  server.start();
  HttpClient c(server.port());
  Admin admin{c};
  constexpr int kSkus = 40, kOrders = 20;  // 820 events: under the queue limit (1000)
  const auto lines = admin.products(kSkus);
  const std::string t = token("audit", Role::auditor);
  WsClient stuck(server.port(), t, "/v1/subscribe", 4096);  // never reads until the end
  REQUIRE(stuck.open());
  {
    WsClient second(server.port(), t);
    CHECK(second.status() == 503);  // the only slot is taken
  }
  // Hundreds of kilobytes of events: far past what the two sockets' buffers hold, so a write
  // to the stuck subscriber waits.
  const std::string customer = token("carol", Role::customer);
  for (int o = 0; o < kOrders; ++o)
    REQUIRE(
        c.post("/v1/orders", order_body("carol", lines, fmt::format("o{}", o)), bearer(customer))
            .status == 201);
  // A message not taken for a second ends the stuck connection and frees the slot (polled,
  // bounded; no timing is asserted).
  bool reopened = false;
  for (int i = 0; i < 300 && !reopened; ++i) {
    WsClient again(server.port(), t);
    reopened = again.open();
    if (!reopened) {
      REQUIRE(again.status() == 503);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(reopened);
  // The stuck subscriber reads what the kernel buffered, then the end: no close frame (none
  // could get through), and not every event.
  size_t got = 0;
  while (stuck.next()) ++got;
  CHECK(stuck.error() != websocket::error::closed);
  CHECK(got < size_t(kOrders) * (kSkus + 1));
  MESSAGE("the stuck subscriber got ", got, " events before the connection ended");
  CHECK(c.get("/readyz").status == 200);
}

TEST_CASE("subscribe: a subscription ends with its token, with a 1008 close") {
  TempDir dir{"subscribe-exp"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  // Expired 25 s ago: still inside the 30 s leeway at the upgrade, out of it 5 s later.
  WsClient w(server.port(), token("audit", Role::auditor, -25));
  REQUIRE(w.open());
  CHECK(!w.next());  // bounded by the client's 30 s deadline
  CHECK(w.error() == websocket::error::closed);
  CHECK(w.reason().code == websocket::close_code::policy_error);
  CHECK(std::string(w.reason().reason.c_str()) == "the token has expired");
  // A token with time left keeps its subscription.
  WsClient fresh(server.port(), token("audit", Role::auditor));
  REQUIRE(fresh.open());
  HttpClient c(server.port());
  Admin{c}.products(1);
  auto got = fresh.take(1);
  CHECK(type_of(got.at(0)) == "ProductDefined");
}

TEST_CASE("subscribe: a token of a retired secret loses its subscription when the grace ends") {
  TempDir dir{"subscribe-grace"};
  const std::string old_secret = "old-secret-0123456789abcdef0123456789abcdef";
  const std::string old_file = dir.path() + "/old.secret";
  std::ofstream(old_file) << old_secret << "\n";
  ServerProcess server{
      dir.path() + "/data",
      {"--jwt-previous-secret-file", old_file, "--jwt-previous-secret-grace", "10s"}};
  server.start();
  // Valid for five years, but signed with the previous secret: accepted in the grace only.
  const int64_t five_years_s = 5LL * 365 * 24 * 3600;
  WsClient old(server.port(), token("audit", Role::auditor, five_years_s, {}, old_secret));
  REQUIRE(old.open());
  WsClient current(server.port(), token("audit", Role::auditor, five_years_s));
  REQUIRE(current.open());
  CHECK(!old.next());  // closed at the grace's end, bounded by the client's 30 s deadline
  CHECK(old.error() == websocket::error::closed);
  CHECK(old.reason().code == websocket::close_code::policy_error);
  // The current secret's token keeps its subscription.
  HttpClient c(server.port());
  Admin{c}.products(1);
  CHECK(type_of(current.take(1).at(0)) == "ProductDefined");
}

TEST_CASE("subscribe: on stop, subscribers get a 1001 close") {
  TempDir dir{"subscribe-stop"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  WsClient w(server.port(), token("audit", Role::auditor));
  REQUIRE(w.open());
  std::thread stopper([&] { server.terminate(); });
  CHECK(!w.next());
  stopper.join();
  CHECK(w.error() == websocket::error::closed);
  CHECK(w.reason().code == websocket::close_code::going_away);
}

TEST_CASE("subscribe: over TLS (wss) too") {
  namespace ssl = asio::ssl;
  TempDir dir{"subscribe-tls"};
  const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  make_self_signed_cert(cert, key);
  ServerProcess server{dir.path() + "/data", {"--tls-cert", cert, "--tls-key", key}};
  server.start();

  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert);
  ctx.set_verify_mode(ssl::verify_peer);
  const auto at = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port());
  beast::error_code ec;
  auto run = [&] {
    io.restart();
    io.run();
  };
  // The subscriber.
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io, ctx);
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws).async_connect(at, [&](beast::error_code e) { ec = e; });
  run();
  REQUIRE_MESSAGE(!ec, ec.message());
  ws.next_layer().async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  run();
  REQUIRE_MESSAGE(!ec, ec.message());
  const std::string auditor = "Bearer " + token("audit", Role::auditor);
  ws.set_option(websocket::stream_base::decorator(
      [&](websocket::request_type& req) { req.set(http::field::authorization, auditor); }));
  ws.async_handshake("127.0.0.1", "/v1/subscribe", [&](beast::error_code e) { ec = e; });
  run();
  REQUIRE_MESSAGE(!ec, ec.message());

  // An event, over HTTPS.
  {
    beast::ssl_stream<beast::tcp_stream> https(io, ctx);
    beast::get_lowest_layer(https).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(https).connect(at, ec);
    REQUIRE(!ec);
    https.handshake(ssl::stream_base::client, ec);
    REQUIRE(!ec);
    http::request<http::string_body> req{http::verb::post, "/v1/products", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer " + token("root", Role::admin));
    req.set(http::field::content_type, "application/json");
    req.body() = product_body("tls-mug", "acme", 3);
    req.prepare_payload();
    http::write(https, req, ec);
    REQUIRE(!ec);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(https, b, res, ec);
    REQUIRE(!ec);
    CHECK(res.result_int() == 201);
  }

  beast::flat_buffer buffer;
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
  ws.async_read(buffer, [&](beast::error_code e, size_t) { ec = e; });
  run();
  REQUIRE_MESSAGE(!ec, ec.message());
  auto j = parse_json(beast::buffers_to_string(buffer.data()));
  REQUIRE(j.ok());
  CHECK(type_of(j.value()) == "ProductDefined");
  CHECK(payload_str(j.value(), "sku") == "tls-mug");
  ws.async_close(websocket::close_code::normal, [&](beast::error_code e) { ec = e; });
  run();
  CHECK(!ec);
}

// The money side over HTTP against the real binary: wallet and card payments, the order
// lifecycle with escrow and fees, refunds, the signed webhook, payouts — with 1 and with 4
// partitions, so the process managers carry flows across partitions.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "api/webhook_signature.hpp"
#include "engine/domain/ledger.hpp"
#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

const std::string kWebhookSecret = "webhook-secret-0123456789abcdef0123456789";
constexpr int64_t kFeeBps = 500;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Shop {
  explicit Shop(uint32_t partitions)
      : dir("money-" + std::to_string(partitions)),
        server(dir.path() + "/data", args(partitions)) {}
  uint16_t started() {
    server.start();
    return server.port();
  }
  std::vector<std::string> args(uint32_t partitions) {
    std::filesystem::create_directories(dir.path());
    std::ofstream(dir.path() + "/webhook.secret") << kWebhookSecret << "\n";
    return {"--partitions",          std::to_string(partitions),
            "--webhook-secret-file", dir.path() + "/webhook.secret",
            "--platform-fee-bps",    std::to_string(kFeeBps)};
  }
  HttpClient& c() { return client; }

  HttpResult as(const std::string& tok, const std::string& target, const std::string& body = "",
                std::map<std::string, std::string> extra = {}) {
    auto h = bearer(tok);
    for (auto& [k, v] : extra) h[k] = v;
    return c().post(target, body, h);
  }
  void product(const std::string& sku, const std::string& seller, int64_t price,
               int64_t stock = 100) {
    auto r = as(admin, "/v1/products", product_body(sku, seller, stock, price, "USD"));
    REQUIRE_MESSAGE(r.status == 201, r.body);
  }
  void deposit(const std::string& owner, int64_t amount) {
    auto r =
        as(finance, "/v1/wallets/" + owner + "/deposits",
           fmt::format(R"({{"amount_minor":{},"currency":"USD","reference":"test"}})", amount));
    REQUIRE_MESSAGE(r.status == 201, r.body);
  }
  std::string order(const std::string& id, const std::string& customer, const std::string& sku,
                    int64_t qty = 1) {
    auto r =
        as(token(customer, Role::customer), "/v1/orders", order_body(customer, {{sku, qty}}, id));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    return id;
  }
  std::vector<std::string> types(const std::string& stream) {
    std::vector<std::string> out;
    for (const auto& e : streams.events(stream)) out.push_back(e.find("type")->as_string());
    return out;
  }
  // The flows run on their own; a bounded wait (not a timing assertion) until `stream`
  // holds `n` events.
  std::vector<Json> await_events(const std::string& stream, size_t n) {
    for (int i = 0; i < 500; ++i) {
      auto ev = streams.events(stream);
      if (ev.size() >= n) return ev;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return streams.events(stream);
  }
  // What a wallet can pay out: probes with payout requests that are then rejected.
  bool can_pay_out(const std::string& owner, int64_t amount) {
    const std::string id = fmt::format("probe-{}-{}", owner, ++probes);
    auto r =
        as(token(owner, Role::customer), "/v1/wallets/" + owner + "/payouts",
           fmt::format(
               R"({{"payout_id":"{}","amount_minor":{},"currency":"USD","destination":"bank"}})",
               id, amount));
    if (r.status == 409) {
      CHECK(str_field(r, "code") == "insufficient_funds");
      return false;
    }
    REQUIRE_MESSAGE(r.status == 201, r.body);
    REQUIRE(as(finance, "/v1/payouts/" + id + "/reject", R"({"reason":"probe"})").status == 200);
    return true;
  }
  // Exactly `amount` available: that much can be paid out, one more cannot.
  void check_available(const std::string& owner, int64_t amount) {
    CHECK_MESSAGE(!can_pay_out(owner, amount + 1), owner, " has more than ", amount);
    if (amount > 0) CHECK_MESSAGE(can_pay_out(owner, amount), owner, " has less than ", amount);
  }
  HttpResult webhook(const std::string& body, int64_t t,
                     const std::string& secret = kWebhookSecret) {
    return c().post("/v1/payments/webhook", body,
                    {{"Ordo-Signature", api::sign_webhook(secret, t, body)}});
  }

  TempDir dir;
  ServerProcess server;
  HttpClient client{started()};
  Streams streams{client};
  std::string admin = token("root", Role::admin);
  std::string finance = token("fin", Role::finance);
  int probes = 0;
};

void lifecycle_suite(uint32_t partitions) {
  Shop s(partitions);
  const std::string alice = token("alice", Role::customer);
  const std::string shop = token("shop", Role::merchant);
  s.product("w1", "shop", 999);
  s.product("w2", "shop", 2500);

  SUBCASE(
      "wallet pay → ship → deliver → confirm credits the seller price minus fee, the platform the "
      "fee") {
    s.deposit("alice", 5000);
    s.order("o1", "alice", "w1", 3);  // 2997
    auto paid = s.as(alice, "/v1/orders/o1/pay?wait=true", R"({"method":"wallet"})");
    REQUIRE_MESSAGE(paid.status == 200, paid.body);
    CHECK(str_field(paid, "status") == "paid");
    CHECK(s.as(shop, "/v1/orders/o1/ship").status == 200);
    CHECK(s.as(shop, "/v1/orders/o1/deliver").status == 200);
    auto done = s.as(alice, "/v1/orders/o1/confirm?wait=true");
    REQUIRE_MESSAGE(done.status == 200, done.body);
    CHECK(str_field(done, "escrow") == "released");

    const int64_t fee = platform_fee_minor(2997, kFeeBps);
    CHECK(fee == 149);  // 2997 * 5% = 149.85, rounded down
    auto escrow = s.streams.events("escrow-o1");
    REQUIRE(escrow.size() == 2);
    CHECK(escrow[1].find("type")->as_string() == "EscrowReleased");
    CHECK(escrow[1].find("payload")->find("fee_minor")->as_int() == fee);
    s.check_available("shop", 2997 - fee);
    s.check_available("alice", 5000 - 2997);
    // Payment committed the reservation: on hand 97, nothing reserved.
    auto product = s.types("product-w1");
    CHECK(product.back() == "StockCommitted");
    CHECK(s.types("order-o1") == std::vector<std::string>{"OrderPlaced", "OrderPaymentRequested",
                                                          "OrderPaid", "OrderShipped",
                                                          "OrderDelivered", "OrderCompleted"});
  }

  SUBCASE("cancel after payment refunds the buyer in full and restocks") {
    s.deposit("alice", 2500);
    s.order("o2", "alice", "w2");
    REQUIRE(s.as(alice, "/v1/orders/o2/pay?wait=true", R"({"method":"wallet"})").status == 200);
    s.check_available("alice", 0);
    auto cancelled =
        s.as(alice, "/v1/orders/o2/cancel?wait=true", R"({"reason":"changed my mind"})");
    REQUIRE_MESSAGE(cancelled.status == 200, cancelled.body);
    CHECK(str_field(cancelled, "status") == "cancelled");
    CHECK(str_field(cancelled, "escrow") == "refunded");
    s.check_available("alice", 2500);
    CHECK(s.types("product-w2").back() == "StockRestocked");
    // Shipping a cancelled order is refused; the escrow cannot be released twice either.
    check_problem(s.as(shop, "/v1/orders/o2/ship"), 409, "invalid_transition");
  }

  SUBCASE("insufficient funds changes nothing") {
    s.deposit("alice", 100);
    s.order("o3", "alice", "w1");
    const std::map<std::string, std::string> key{{"Idempotency-Key", "pay-o3"}};
    auto r = s.as(alice, "/v1/orders/o3/pay?wait=true", R"({"method":"wallet"})", key);
    check_problem(r, 409, "insufficient_funds");
    s.check_available("alice", 100);
    // A retry with the key gets what the first request got (how the flow ended), not the pay
    // command's own 202, and runs nothing, even now that the wallet could pay.
    s.deposit("alice", 5000);
    auto again = s.as(alice, "/v1/orders/o3/pay?wait=true", R"({"method":"wallet"})", key);
    check_problem(again, 409, "insufficient_funds");
    CHECK(again.header("Idempotent-Replayed") == "true");
    CHECK(again.body == r.body);
    CHECK(again.header("Ordo-Position") == r.header("Ordo-Position"));
    s.check_available("alice", 5100);
    CHECK(s.types("order-o3").back() == "OrderPaymentFailed");
    // The order is back to reserved: it can be cancelled, releasing its stock.
    auto c = s.as(alice, "/v1/orders/o3/cancel");
    REQUIRE_MESSAGE(c.status == 200, c.body);
    CHECK(str_field(c, "status") == "cancelled");
    CHECK(s.streams.reserved("w1") == 0);
  }

  SUBCASE("a ?wait=true pay retried while the first waits gets 409, then the flow's end") {
    s.order("o6", "alice", "w1");
    const std::map<std::string, std::string> key{{"Idempotency-Key", "pay-o6"}};
    const std::string target = "/v1/orders/o6/pay?wait=true";
    const std::string pay = R"({"method":"card","payment_id":"card-o6"})";
    // The first request waits for the card's webhook, on its own connection.
    auto first = std::async(std::launch::async, [&] {
      HttpClient own{s.server.port()};
      auto h = bearer(alice);
      h["Idempotency-Key"] = "pay-o6";
      return own.post(target, pay, h);
    });
    s.await_events("payment-card-o6", 1);  // the pay is committed and its flow has started
    check_problem(s.as(alice, target, pay, key), 409, "idempotency_in_flight");
    auto captured = s.webhook(
        R"({"event_id":"evt-o6","payment_id":"card-o6","type":"captured","amount_minor":999})",
        now_s());
    REQUIRE_MESSAGE(captured.status == 200, captured.body);
    HttpResult r = first.get();
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(str_field(r, "status") == "paid");
    auto again = s.as(alice, target, pay, key);
    CHECK(again.status == 200);
    CHECK(again.header("Idempotent-Replayed") == "true");
    CHECK(again.body == r.body);
  }

  SUBCASE(
      "card payment settles through a signed webhook; forged and replayed webhooks change "
      "nothing") {
    s.order("o4", "alice", "w1");
    auto p = s.as(alice, "/v1/orders/o4/pay", R"({"method":"card","payment_id":"card-o4"})");
    REQUIRE_MESSAGE(p.status == 202, p.body);
    CHECK(str_field(p, "status") == "payment_pending");
    s.await_events("payment-card-o4", 1);

    const std::string body =
        R"({"event_id":"evt-1","payment_id":"card-o4","type":"captured","amount_minor":999})";
    check_problem(s.webhook(body, now_s(), "another-secret-0123456789abcdef0123456789"), 401,
                  "invalid_signature");
    check_problem(s.webhook(body, now_s() - 3600), 401, "invalid_signature");  // too old: a replay
    check_problem(s.c().post("/v1/payments/webhook", body), 401, "invalid_signature");
    CHECK(s.types("payment-card-o4") == std::vector<std::string>{"PaymentInitiated"});

    auto ok = s.webhook(body, now_s());
    REQUIRE_MESSAGE(ok.status == 200, ok.body);
    CHECK(str_field(ok, "status") == "applied");
    auto again = s.webhook(body, now_s());
    REQUIRE(again.status == 200);
    CHECK(str_field(again, "status") == "duplicate");
    auto order = s.await_events("order-o4", 3);
    REQUIRE(order.size() == 3);
    CHECK(order[2].find("type")->as_string() == "OrderPaid");
    CHECK(s.types("payment-card-o4") ==
          std::vector<std::string>{"PaymentInitiated", "PaymentCaptured"});

    // A partial refund from the provider, then one beyond the capture.
    auto part = s.webhook(
        R"({"event_id":"evt-2","payment_id":"card-o4","type":"refunded","amount_minor":400})",
        now_s());
    CHECK(part.status == 200);
    check_problem(
        s.webhook(
            R"({"event_id":"evt-3","payment_id":"card-o4","type":"refunded","amount_minor":600})",
            now_s()),
        409, "refund_exceeds_capture");
    // Completing the order releases what is left in escrow.
    REQUIRE(s.as(shop, "/v1/orders/o4/ship").status == 200);
    REQUIRE(s.as(shop, "/v1/orders/o4/deliver").status == 200);
    REQUIRE(s.as(alice, "/v1/orders/o4/confirm?wait=true").status == 200);
    s.check_available("shop", 599 - platform_fee_minor(599, kFeeBps));
  }

  SUBCASE("a full refund by the card provider cancels the order and restocks it") {
    s.order("o6", "alice", "w2", 2);
    REQUIRE(
        s.as(alice, "/v1/orders/o6/pay", R"({"method":"card","payment_id":"card-o6"})").status ==
        202);
    s.await_events("payment-card-o6", 1);
    REQUIRE(
        s.webhook(
             R"({"event_id":"e6-1","payment_id":"card-o6","type":"captured","amount_minor":5000})",
             now_s())
            .status == 200);
    s.await_events("order-o6", 3);
    REQUIRE(
        s.webhook(
             R"({"event_id":"e6-2","payment_id":"card-o6","type":"refunded","amount_minor":5000})",
             now_s())
            .status == 200);
    auto order = s.await_events("order-o6", 4);
    REQUIRE(order.size() == 4);
    CHECK(order[3].find("type")->as_string() == "OrderRefunded");
    CHECK(s.types("product-w2").back() == "StockRestocked");
    check_problem(s.as(shop, "/v1/orders/o6/ship"), 409, "invalid_transition");
  }

  SUBCASE("payouts: request holds, complete pays out, reject releases") {
    s.deposit("alice", 500);
    auto pay = [&](const std::string& id, int64_t amount) {
      return s.as(
          alice, "/v1/wallets/alice/payouts",
          fmt::format(
              R"({{"payout_id":"{}","amount_minor":{},"currency":"USD","destination":"iban:1"}})",
              id, amount));
    };
    REQUIRE(pay("p1", 300).status == 201);
    check_problem(pay("p2", 300), 409, "insufficient_funds");  // 300 of 500 are held
    REQUIRE(s.as(s.finance, "/v1/payouts/p1/reject", R"({"reason":"kyc"})").status == 200);
    REQUIRE(pay("p3", 300).status == 201);
    auto done = s.as(s.finance, "/v1/payouts/p3/complete");
    REQUIRE(done.status == 200);
    CHECK(str_field(done, "status") == "completed");
    check_problem(s.as(s.finance, "/v1/payouts/p3/complete"), 409, "invalid_transition");
    check_problem(s.as(s.finance, "/v1/payouts/p3/reject"), 409, "invalid_transition");
    s.check_available("alice", 200);
    // Someone else's wallet answers 404; a customer cannot complete payouts.
    check_problem(s.as(token("bob", Role::customer), "/v1/wallets/alice/payouts",
                       R"({"payout_id":"p9","amount_minor":1,"destination":"x"})"),
                  404, "not_found");
    check_problem(s.as(alice, "/v1/payouts/p1/complete"), 403, "forbidden");
  }

  SUBCASE("lifecycle guards: If-Match, roles, ownership, order of steps") {
    s.deposit("alice", 5000);
    s.order("o5", "alice", "w1");
    check_problem(s.as(token("bob", Role::customer), "/v1/orders/o5/pay", R"({"method":"wallet"})"),
                  404, "not_found");
    check_problem(s.as(alice, "/v1/orders/o5/pay", R"({"method":"cash"})"), 400,
                  "validation_failed");
    check_problem(
        s.as(alice, "/v1/orders/o5/pay", R"({"method":"wallet"})", {{"If-Match", "\"7\""}}), 412,
        "version_conflict");
    check_problem(s.as(shop, "/v1/orders/o5/ship"), 409, "invalid_transition");  // not paid yet
    REQUIRE(s.as(alice, "/v1/orders/o5/pay?wait=true", R"({"method":"wallet"})",
                 {{"If-Match", "\"1\""}})
                .status == 200);
    check_problem(s.as(alice, "/v1/orders/o5/ship"), 403, "forbidden");  // customers do not ship
    check_problem(s.as(token("other-shop", Role::merchant), "/v1/orders/o5/ship"), 404,
                  "not_found");
    REQUIRE(s.as(shop, "/v1/orders/o5/ship").status == 200);
    REQUIRE(s.as(shop, "/v1/orders/o5/deliver").status == 200);
    // A dispute holds the escrow until an admin settles it; here for the buyer.
    REQUIRE(s.as(alice, "/v1/orders/o5/dispute", R"({"reason":"broken"})").status == 200);
    check_problem(s.as(alice, "/v1/orders/o5/confirm"), 409, "invalid_transition");
    check_problem(s.as(alice, "/v1/escrows/o5/refund"), 403, "forbidden");
    // The admin's settlement is guarded by If-Match like every lifecycle command.
    check_problem(s.as(s.admin, "/v1/escrows/o5/release", "{}", {{"If-Match", "\"1\""}}), 412,
                  "version_conflict");
    check_problem(
        s.as(s.admin, "/v1/escrows/o5/refund", R"({"reason":"upheld"})", {{"If-Match", "\"1\""}}),
        412, "version_conflict");
    check_problem(
        s.as(s.admin, "/v1/escrows/o5/refund", R"({"reason":"upheld"})", {{"If-Match", "one"}}),
        400, "validation_failed");
    auto refund = s.as(s.admin, "/v1/escrows/o5/refund?wait=true", R"({"reason":"upheld"})");
    REQUIRE_MESSAGE(refund.status == 200, refund.body);
    CHECK(str_field(refund, "escrow") == "refunded");
    s.check_available("alice", 5000);
    s.check_available("shop", 0);
  }

  // Whatever ran, no flow step was parked and the history verifies (chain and invariants).
  auto parked = s.c().get("/v1/admin/parked", bearer(s.admin));
  REQUIRE(parked.status == 200);
  CHECK(body_json(parked).find("parked")->as_array().empty());
  auto verify = s.c().get("/v1/audit/verify", bearer(s.admin));
  REQUIRE(verify.status == 200);
  CHECK_MESSAGE(body_json(verify).find("ok")->as_bool(), verify.body);
}

}  // namespace

TEST_CASE("money over HTTP, 1 partition") { lifecycle_suite(1); }
TEST_CASE("money over HTTP, 4 partitions") { lifecycle_suite(4); }

TEST_CASE("money: a card capture after the payment timeout is returned to the card, unattended") {
  TempDir dir{"money-late"};
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() + "/webhook.secret") << kWebhookSecret << "\n";
  ServerProcess server{dir.path() + "/data",
                       {"--reservation-ttl", "3s", "--payment-timeout", "1s",
                        "--webhook-secret-file", dir.path() + "/webhook.secret"}};
  server.start();
  HttpClient c(server.port());
  Streams streams{c};
  const std::string admin = token("root", Role::admin);
  const std::string alice = token("alice", Role::customer);
  REQUIRE(
      c.post("/v1/products", product_body("w1", "shop", 10, 999, "USD"), bearer(admin)).status ==
      201);
  REQUIRE(c.post("/v1/orders", order_body("alice", {{"w1", 2}}, "ol"), bearer(alice)).status ==
          201);
  auto pay =
      c.post("/v1/orders/ol/pay", R"({"method":"card","payment_id":"card-ol"})", bearer(alice));
  REQUIRE_MESSAGE(pay.status == 202, pay.body);
  // The provider does not answer: the order expires by its partition's timer (a bounded
  // wait for the event, not a timing assertion).
  auto await_types = [&](const std::string& stream, size_t n) {
    std::vector<std::string> types;
    for (int i = 0; i < 1000 && types.size() < n; ++i) {
      types.clear();
      for (const auto& e : streams.events(stream)) types.push_back(e.find("type")->as_string());
      if (types.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return types;
  };
  REQUIRE(await_types("order-ol", 3) ==
          std::vector<std::string>{"OrderPlaced", "OrderPaymentRequested", "OrderExpired"});
  CHECK(await_types("product-w1", 3).back() == "StockReleased");

  // The capture comes late: the money is held, the expired order returns it, and the flow
  // refunds the escrow to the card. No step is parked and no one has to act.
  const std::string late =
      R"({"event_id":"late-1","payment_id":"card-ol","type":"captured","amount_minor":1998})";
  auto captured = c.post("/v1/payments/webhook", late,
                         {{"Ordo-Signature", api::sign_webhook(kWebhookSecret, now_s(), late)}});
  REQUIRE_MESSAGE(captured.status == 200, captured.body);
  CHECK(await_types("order-ol", 4).back() == "OrderPaymentReturned");
  CHECK(await_types("escrow-ol", 2) == std::vector<std::string>{"EscrowHeld", "EscrowRefunded"});
  auto escrow = streams.events("escrow-ol");
  REQUIRE(escrow.size() == 2);
  CHECK(escrow[1].find("payload")->find("to_account")->as_string() == "external:card");
  CHECK(escrow[1].find("payload")->find("amount_minor")->as_int() == 1998);
  CHECK(await_types("payment-card-ol", 3) ==
        std::vector<std::string>{"PaymentInitiated", "PaymentCaptured", "PaymentRefunded"});
  // The order stays expired: shipping it is refused.
  check_problem(c.post("/v1/orders/ol/ship", "", bearer(admin)), 409, "invalid_transition");
  auto parked = c.get("/v1/admin/parked", bearer(admin));
  REQUIRE(parked.status == 200);
  CHECK(body_json(parked).find("parked")->as_array().empty());
  auto verify = c.get("/v1/audit/verify", bearer(admin));
  REQUIRE(verify.status == 200);
  CHECK_MESSAGE(body_json(verify).find("ok")->as_bool(), verify.body);
}

TEST_CASE("money: automatic escrow release after delivery, and state survives a restart") {
  TempDir dir{"money-auto"};
  const std::vector<std::string> args{"--partitions", "2", "--auto-release-after", "1s"};
  ServerProcess server{dir.path() + "/data", args};
  server.start();
  std::optional<HttpClient> c(std::in_place, server.port());
  const std::string admin = token("root", Role::admin);
  REQUIRE(
      c->post("/v1/products", product_body("a1", "shop", 10, 1000, "USD"), bearer(admin)).status ==
      201);
  REQUIRE(c->post("/v1/wallets/bob/deposits", R"({"amount_minor":1000,"currency":"USD"})",
                  bearer(admin))
              .status == 201);
  REQUIRE(c->post("/v1/orders", order_body("bob", {{"a1", 1}}, "oa"), bearer(admin)).status == 201);
  REQUIRE(c->post("/v1/orders/oa/pay?wait=true", R"({"method":"wallet"})", bearer(admin)).status ==
          200);
  REQUIRE(c->post("/v1/orders/oa/ship", "", bearer(admin)).status == 200);
  REQUIRE(c->post("/v1/orders/oa/deliver", "", bearer(admin)).status == 200);
  // Restart before the release is due: the timer is derived from the recovered order.
  server.terminate();
  ServerProcess again{dir.path() + "/data", args};
  again.start();
  c.emplace(again.port());
  Streams streams{*c};
  std::vector<Json> escrow;
  for (int i = 0; i < 500 && escrow.size() < 2; ++i) {
    escrow = streams.events("escrow-oa");
    if (escrow.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(escrow.size() == 2);
  CHECK(escrow[1].find("type")->as_string() == "EscrowReleased");
  auto order = streams.events("order-oa");
  CHECK(order.back().find("type")->as_string() == "OrderCompleted");
  CHECK(order.back().find("payload")->find("how")->as_string() == "auto");
  // The seller's wallet came back from the snapshot + log: 1000 - 5% fee.
  auto too_much = c->post("/v1/wallets/shop/payouts",
                          R"({"payout_id":"x1","amount_minor":951,"destination":"b"})",
                          bearer(token("shop", Role::merchant)));
  check_problem(too_much, 409, "insufficient_funds");
  auto exact = c->post("/v1/wallets/shop/payouts",
                       R"({"payout_id":"x2","amount_minor":950,"destination":"b"})",
                       bearer(token("shop", Role::merchant)));
  CHECK_MESSAGE(exact.status == 201, exact.body);
}

TEST_CASE("a stop answers the requests in hand: a payment waiting for its provider gets its 202") {
  TempDir dir("money-drain");
  // The longest wait: the request is certainly still waiting when the stop comes (a short
  // one could time out first and answer on a kept-alive connection).
  ServerProcess server{dir.path() + "/data", {"--flow-wait-timeout", "60s"}};
  server.start();
  HttpClient c(server.port());
  const std::string admin = token("root", Role::admin);
  const std::string alice = token("alice", Role::customer);
  REQUIRE(
      c.post("/v1/products", product_body("w1", "shop", 10, 999, "USD"), bearer(admin)).status ==
      201);
  REQUIRE(c.post("/v1/orders", order_body("alice", {{"w1", 1}}, "o1"), bearer(alice)).status ==
          201);
  // A card payment with ?wait=true waits for the provider, who never answers.
  HttpResult paid;
  std::thread payer([&] {
    HttpClient own(server.port());
    paid = own.post("/v1/orders/o1/pay?wait=true", R"({"method":"card"})", bearer(alice));
  });
  // Once the payment is requested in the log, the request is in hand, waiting.
  Streams streams{c};
  bool requested = false;
  for (int i = 0; i < 1000 && !requested; ++i) {
    for (const auto& e : streams.events("order-o1"))
      requested = requested || e.find("type")->as_string() == "OrderPaymentRequested";
    if (!requested) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(requested);
  server.terminate();  // SIGTERM while the request waits
  payer.join();
  // Before, the stop cut the connection: status 0.
  CHECK_MESSAGE(paid.status == 202, paid.status, " ", paid.error, " ", paid.body);
  CHECK(paid.header("Connection") == "close");
}

// A bank-style crash test: many clients move money concurrently (deposits, orders paid from
// wallets, cancelled, shipped, delivered and confirmed, payouts requested and completed)
// while the server is killed with kill -9 and restarted several times. At the end every
// acknowledged command is reflected exactly once, every flow it started has finished, no
// step is parked, and the auditor's verify (hash chain, domain preconditions, money summing
// to zero per currency, no negative wallet, escrows resolved at most once) holds.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

constexpr int kThreads = 6;
constexpr int kRounds = 3;

struct Acked {
  std::mutex mu;
  std::map<std::string, std::pair<std::string, int64_t>> deposits;  // reference → (owner, amount)
  std::set<std::string> orders;
  std::map<std::string, std::string> payments;  // payment id → order id
  std::set<std::string> confirmed;              // orders confirmed (escrow must be released)
  std::set<std::string> refunded;               // paid orders cancelled (escrow must be refunded)
  std::set<std::string> payouts;
  std::set<std::string> completed_payouts;
};

int count_type(const std::vector<Json>& events, const std::string& type) {
  int n = 0;
  for (const auto& e : events) n += e.find("type")->as_string() == type;
  return n;
}

}  // namespace

TEST_CASE(
    "bank: kill -9 while money moves, several times; every acknowledged command exactly once, "
    "money conserved") {
  TempDir dir{"bank"};
  ServerProcess server{dir.path() + "/data", {"--partitions", "2"}};
  const uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Acked acked;
  const std::string admin = token("root", Role::admin);
  const std::string finance = token("fin", Role::finance);

  server.start();
  {
    HttpClient c(server.port());
    for (const char* seller : {"shop-a", "shop-b", "shop-c"})
      REQUIRE(c.post("/v1/products",
                     product_body(std::string("p-") + seller, seller, 1'000'000, 150, "USD"),
                     bearer(admin))
                  .status == 201);
  }

  for (int round = 0; round < kRounds; ++round) {
    if (!server.running()) server.start();
    std::atomic<int> responses{0};
    std::atomic<bool> stop{false};
    std::atomic<int> alive{kThreads};
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t, thread_seed = rng()] {
        struct Done {
          std::atomic<int>& n;
          ~Done() { --n; }
        } done{alive};
        std::mt19937_64 r(thread_seed);
        HttpClient c(server.port());
        const std::string me = fmt::format("cust{}", t);
        const auto customer = bearer(token(me, Role::customer));
        const auto fin = bearer(finance);
        const auto adm = bearer(admin);
        std::vector<std::string> reserved, paid, delivered;
        for (int i = 0; !stop; ++i) {
          const std::string n = fmt::format("r{}t{}i{}", round, t, i);
          HttpResult res;
          switch (r() % 8) {
            case 0: {  // deposit
              const int64_t amount = 100 + static_cast<int64_t>(r() % 400);
              auto h = fin;
              h["Idempotency-Key"] = n;
              res = c.post("/v1/wallets/" + me + "/deposits",
                           fmt::format(R"({{"amount_minor":{},"currency":"USD","reference":"{}"}})",
                                       amount, n),
                           h);
              if (res.status == 201) {
                std::lock_guard lock(acked.mu);
                acked.deposits[n] = {me, amount};
              }
              break;
            }
            case 1:
            case 2: {  // place an order
              const std::string seller =
                  std::vector<std::string>{"shop-a", "shop-b", "shop-c"}[r() % 3];
              res = c.post("/v1/orders",
                           order_body(me, {{"p-" + seller, int64_t(1 + r() % 2)}}, "o" + n),
                           customer);
              if (res.status == 201) {
                reserved.push_back("o" + n);
                std::lock_guard lock(acked.mu);
                acked.orders.insert("o" + n);
              }
              break;
            }
            case 3: {  // pay one from the wallet (the flow finishes on its own)
              if (reserved.empty()) continue;
              const std::string id = reserved.back();
              reserved.pop_back();
              res =
                  c.post("/v1/orders/" + id + "/pay?wait=true", R"({"method":"wallet"})", customer);
              if (res.status == 200 || res.status == 202) {
                std::lock_guard lock(acked.mu);
                acked.payments[str_field(res, "payment_id")] = id;
              }
              if (res.status == 200) paid.push_back(id);
              break;
            }
            case 4: {  // ship and deliver, as admin (the seller's part)
              if (paid.empty()) continue;
              const std::string id = paid.back();
              paid.pop_back();
              res = c.post("/v1/orders/" + id + "/ship", "", adm);
              if (res.status == 200) res = c.post("/v1/orders/" + id + "/deliver", "", adm);
              if (res.status == 200) delivered.push_back(id);
              break;
            }
            case 5: {  // confirm, or cancel a paid one
              if (!delivered.empty() && r() % 2) {
                const std::string id = delivered.back();
                delivered.pop_back();
                res = c.post("/v1/orders/" + id + "/confirm", "", customer);
                if (res.status == 200) {
                  std::lock_guard lock(acked.mu);
                  acked.confirmed.insert(id);
                }
              } else if (!paid.empty()) {
                const std::string id = paid.back();
                paid.pop_back();
                res = c.post("/v1/orders/" + id + "/cancel", "", customer);
                if (res.status == 200) {
                  std::lock_guard lock(acked.mu);
                  acked.refunded.insert(id);
                }
              } else {
                continue;
              }
              break;
            }
            case 6: {  // request a payout
              auto h = customer;
              res = c.post(
                  "/v1/wallets/" + me + "/payouts",
                  fmt::format(
                      R"({{"payout_id":"po{}","amount_minor":{},"currency":"USD","destination":"bank"}})",
                      n, 10 + r() % 50),
                  h);
              if (res.status == 201) {
                std::lock_guard lock(acked.mu);
                acked.payouts.insert("po" + n);
              }
              break;
            }
            default: {  // finance completes one of the acknowledged payouts
              std::string id;
              {
                std::lock_guard lock(acked.mu);
                for (const auto& p : acked.payouts)
                  if (!acked.completed_payouts.count(p) &&
                      p.find(fmt::format("t{}i", t)) != std::string::npos)
                    id = p;
              }
              if (id.empty()) continue;
              res = c.post("/v1/payouts/" + id + "/complete", "", fin);
              if (res.status == 200) {
                std::lock_guard lock(acked.mu);
                acked.completed_payouts.insert(id);
              }
              break;
            }
          }
          if (res.status == 0) return;  // the server died under us
          ++responses;
          // Refusals are domain outcomes (insufficient funds, a step already taken); never 5xx.
          CHECK_MESSAGE(res.status < 500, res.status, " ", res.body);
        }
      });
    }
    // Kill once a random amount of work was acknowledged (a count, not a clock).
    const int target = 150 + static_cast<int>(rng() % 250);
    while (responses < target && alive > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    server.kill9();
    stop = true;
    for (auto& th : clients) th.join();
  }

  server.start();
  HttpClient c(server.port());
  Streams s{c};

  // The flows the acknowledged commands started finish after the restarts: bounded wait
  // until every acknowledged payment has its outcome on the order.
  for (const auto& [payment, order] : acked.payments) {
    bool outcome = false;
    for (int i = 0; i < 1000 && !outcome; ++i) {
      outcome = !s.events("payment-" + payment).empty() &&
                (count_type(s.events("order-" + order), "OrderPaid") +
                 count_type(s.events("order-" + order), "OrderPaymentFailed")) > 0;
      if (!outcome) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK_MESSAGE(outcome, "payment ", payment, " of order ", order, " never finished");
    CHECK(count_type(s.events("payment-" + payment), "PaymentInitiated") == 1);
  }
  auto escrow_done = [&](const std::string& order, const std::string& type) {
    for (int i = 0; i < 1000; ++i) {
      if (count_type(s.events("escrow-" + order), type) > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  for (const auto& id : acked.confirmed) {
    CHECK_MESSAGE(escrow_done(id, "EscrowReleased"), "escrow of confirmed order ", id,
                  " never released");
    CHECK(count_type(s.events("escrow-" + id), "EscrowReleased") == 1);
    CHECK(count_type(s.events("order-" + id), "OrderCompleted") == 1);
  }
  for (const auto& id : acked.refunded) {
    CHECK_MESSAGE(escrow_done(id, "EscrowRefunded"), "escrow of cancelled order ", id,
                  " never refunded");
    CHECK(count_type(s.events("escrow-" + id), "EscrowRefunded") == 1);
    CHECK(count_type(s.events("escrow-" + id), "EscrowReleased") == 0);
  }
  for (const auto& id : acked.orders)
    CHECK_MESSAGE(count_type(s.events("order-" + id), "OrderPlaced") == 1, id);
  std::map<std::string, std::map<std::string, int>> deposits_seen;  // owner → reference → count
  for (int t = 0; t < kThreads; ++t) {
    const std::string owner = fmt::format("cust{}", t);
    for (const auto& e : s.events("wallet-" + owner + ".USD"))
      ++deposits_seen[owner][e.find("payload")->find("reference")->as_string()];
  }
  for (const auto& [ref, d] : acked.deposits)
    CHECK_MESSAGE(deposits_seen[d.first][ref] == 1, "deposit ", ref);
  for (const auto& id : acked.payouts)
    CHECK(count_type(s.events("payout-" + id), "PayoutRequested") == 1);
  for (const auto& id : acked.completed_payouts)
    CHECK(count_type(s.events("payout-" + id), "PayoutCompleted") == 1);
  MESSAGE(acked.deposits.size(), " deposits, ", acked.orders.size(), " orders, ",
          acked.payments.size(), " payments, ", acked.confirmed.size(), " settled, ",
          acked.refunded.size(), " refunded, ", acked.payouts.size(), " payouts acknowledged");

  auto parked = c.get("/v1/admin/parked", bearer(admin));
  REQUIRE(parked.status == 200);
  CHECK_MESSAGE(body_json(parked).find("parked")->as_array().empty(), parked.body);
  // Money conserved and every other invariant, from the whole history.
  auto verify = c.get("/v1/audit/verify", bearer(admin));
  REQUIRE(verify.status == 200);
  CHECK_MESSAGE(body_json(verify).find("ok")->as_bool(), verify.body);
}

// The money views against a real PostgreSQL: a history of deposits, a wallet and a card
// payment held in escrow, a release with the platform's fee, a refund, and payouts completed
// and rejected, projected in one batch and one event per batch alike. Wallets, escrows,
// payments, payouts and the trial balance come out right; a redelivered batch changes
// nothing; a rebuild from the log gives the same rows.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <thread>

#include "engine/log/event_codec.hpp"
#include "engine/log/event_log.hpp"
#include "engine/log/json.hpp"
#include "projections/migrations.hpp"
#include "projections/queries.hpp"
#include "projections/rebuild.hpp"
#include "projections/runner.hpp"
#include "projections/view_writer.hpp"
#include "tests/support/forwarding_log.hpp"

using namespace ordo;

namespace {

std::string pg() {
  const char* c = std::getenv("ORDO_TEST_POSTGRES");
  REQUIRE_MESSAGE(c, "ORDO_TEST_POSTGRES is not set (run through ctest)");
  return c;
}

std::string fresh_schema(const std::string& tag) {
  return "t_" + tag + "_" + std::to_string(std::random_device{}() % 1000000000);
}

void drop_schema(const std::string& schema) {
  pqxx::connection c(pg());
  pqxx::work w(c);
  w.exec("DROP SCHEMA IF EXISTS " + w.quote_name(schema) + " CASCADE");
  w.commit();
}

// Envelopes with offsets and stream versions as the log would assign them.
class History {
 public:
  explicit History(uint32_t partitions) : parts_(partitions) {}
  void add(uint32_t p, const Event& e) {
    Envelope env;
    env.partition = PartitionId{p};
    env.offset = Offset{static_cast<int64_t>(parts_[p].size())};
    env.stream = event_stream(e);
    env.stream_version = ++versions_[env.stream];
    env.type = std::string(event_type(e));
    env.schema_version = current_schema_version(env.type);
    env.occurred_at = TimestampMs{1'767'225'600'000 + 1000 * static_cast<int64_t>(++n_)};
    env.command_id = env.correlation_id = env.causation_id = "c" + std::to_string(n_);
    env.actor = {"root", "admin"};
    env.payload = encode_event_payload(e);
    env.prev_hash = env.hash = std::string(64, '0');
    parts_[p].push_back(std::move(env));
  }
  const std::vector<Envelope>& partition(uint32_t p) const { return parts_[p]; }
  uint32_t partitions() const { return static_cast<uint32_t>(parts_.size()); }

 private:
  std::vector<std::vector<Envelope>> parts_;
  std::map<std::string, int64_t> versions_;
  int n_ = 0;
};

// The same history as an EventLog, for rebuild_views.
// With `limit`, only each partition's first `limit` events: the log as it was earlier.
class MemoryLog final : public EventLog {
 public:
  explicit MemoryLog(const History& h, size_t limit = SIZE_MAX) : h_(h), limit_(limit) {}
  uint32_t partition_count() const override { return h_.partitions(); }
  Result<LogTail> tail(PartitionId p) override {
    return LogTail{
        Offset{static_cast<int64_t>(std::min(h_.partition(p.value()).size(), limit_)) - 1},
        kGenesisHash};
  }
  Status append(PartitionId, std::span<Envelope>, const DeltaBuilder&) override {
    return Error{"read only"};
  }
  Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override {
    const auto& all = h_.partition(p.value());
    std::vector<Envelope> out;
    const size_t end = std::min(all.size(), limit_);
    for (auto i = static_cast<size_t>(from.value()); i < end && out.size() < max; ++i)
      out.push_back(all[i]);
    return out;
  }
  Result<std::vector<Envelope>> read_stream(std::string_view, int64_t, size_t) override {
    return std::vector<Envelope>{};
  }

 private:
  const History& h_;
  size_t limit_;
};

projections::RunnerConfig runner_config(const std::string& schema) {
  projections::RunnerConfig rc;
  rc.conninfo = pg();
  rc.schema = schema;
  return rc;
}

History money_history() {
  const Currency eur{"EUR"}, usd{"USD"};
  const auto eu = [](int64_t v) { return AmountMinor{v}; };
  History h(2);
  h.add(0, ProductDefined{Sku{"mug"}, SellerId{"acme"}, "Mug", eu(1500), eur, Quantity{10}});
  h.add(0, WalletDeposited{OwnerId{"alice"}, eur, eu(10000), "bank-1"});
  // o1: alice pays 3000 from her wallet; delivered and completed; escrow released with a 300 fee.
  h.add(0, StockReserved{Sku{"mug"}, OrderId{"o1"}, Quantity{2}});
  h.add(0, OrderPlaced{OrderId{"o1"},
                       CustomerId{"alice"},
                       SellerId{"acme"},
                       eur,
                       {PricedLine{Sku{"mug"}, Quantity{2}, eu(1500)}},
                       eu(3000),
                       TimestampMs{1'767'229'200'000}});
  h.add(0, OrderPaymentRequested{OrderId{"o1"}, PaymentId{"pay1"}, PaymentMethod::wallet,
                                 CustomerId{"alice"}, SellerId{"acme"}, eu(3000), eur});
  h.add(0, PaymentInitiated{PaymentId{"pay1"}, OrderId{"o1"}, PaymentMethod::wallet,
                            CustomerId{"alice"}, SellerId{"acme"}, eu(3000), eur});
  h.add(0, EscrowHeld{OrderId{"o1"}, PaymentId{"pay1"}, "wallet:alice", CustomerId{"alice"},
                      SellerId{"acme"}, eu(3000), eur});
  h.add(0, PaymentCaptured{PaymentId{"pay1"}, OrderId{"o1"}, eu(3000), ""});
  h.add(0, OrderPaid{OrderId{"o1"}, PaymentId{"pay1"}});
  h.add(0, StockCommitted{Sku{"mug"}, OrderId{"o1"}, Quantity{2}});
  h.add(0, OrderShipped{OrderId{"o1"}});
  h.add(0, OrderDelivered{OrderId{"o1"}, TimestampMs{1'767'832'800'000}});
  h.add(0, OrderCompleted{OrderId{"o1"}, "confirmed", eu(3000), eur});
  h.add(0, EscrowReleased{OrderId{"o1"}, SellerId{"acme"}, eu(3000), eu(300), eur});
  // o2: bob pays 1500 by card; cancelled after payment: refunded to the card, goods restocked.
  h.add(0, StockReserved{Sku{"mug"}, OrderId{"o2"}, Quantity{1}});
  h.add(0, OrderPlaced{OrderId{"o2"},
                       CustomerId{"bob"},
                       SellerId{"acme"},
                       eur,
                       {PricedLine{Sku{"mug"}, Quantity{1}, eu(1500)}},
                       eu(1500),
                       TimestampMs{1'767'229'200'000}});
  h.add(0, OrderPaymentRequested{OrderId{"o2"}, PaymentId{"pay2"}, PaymentMethod::card,
                                 CustomerId{"bob"}, SellerId{"acme"}, eu(1500), eur});
  h.add(0, PaymentInitiated{PaymentId{"pay2"}, OrderId{"o2"}, PaymentMethod::card,
                            CustomerId{"bob"}, SellerId{"acme"}, eu(1500), eur});
  h.add(0, EscrowHeld{OrderId{"o2"}, PaymentId{"pay2"}, "external:card", CustomerId{"bob"},
                      SellerId{"acme"}, eu(1500), eur});
  h.add(0, PaymentCaptured{PaymentId{"pay2"}, OrderId{"o2"}, eu(1500), "evt-1"});
  h.add(0, OrderPaid{OrderId{"o2"}, PaymentId{"pay2"}});
  h.add(0, StockCommitted{Sku{"mug"}, OrderId{"o2"}, Quantity{1}});
  h.add(0, OrderRefunded{OrderId{"o2"}, PaymentId{"pay2"}, "changed my mind", eu(1500), eur});
  h.add(0, StockRestocked{Sku{"mug"}, OrderId{"o2"}, Quantity{1}});
  h.add(0, EscrowRefunded{OrderId{"o2"}, "external:card", eu(1500), eur, true});
  h.add(0, PaymentRefunded{PaymentId{"pay2"}, OrderId{"o2"}, eu(1500), ""});
  // o3: bob's card payment of 1500 times out and the order expires; the capture comes later
  // and is returned to the card. The order stays expired.
  h.add(0, StockReserved{Sku{"mug"}, OrderId{"o3"}, Quantity{1}});
  h.add(0, OrderPlaced{OrderId{"o3"},
                       CustomerId{"bob"},
                       SellerId{"acme"},
                       eur,
                       {PricedLine{Sku{"mug"}, Quantity{1}, eu(1500)}},
                       eu(1500),
                       TimestampMs{1'767'229'200'000}});
  h.add(0, OrderPaymentRequested{OrderId{"o3"}, PaymentId{"pay3"}, PaymentMethod::card,
                                 CustomerId{"bob"}, SellerId{"acme"}, eu(1500), eur});
  h.add(0, PaymentInitiated{PaymentId{"pay3"}, OrderId{"o3"}, PaymentMethod::card,
                            CustomerId{"bob"}, SellerId{"acme"}, eu(1500), eur});
  h.add(0, OrderExpired{OrderId{"o3"}});
  h.add(0, StockReleased{Sku{"mug"}, OrderId{"o3"}, Quantity{1}});
  h.add(0, EscrowHeld{OrderId{"o3"}, PaymentId{"pay3"}, "external:card", CustomerId{"bob"},
                      SellerId{"acme"}, eu(1500), eur});
  h.add(0, PaymentCaptured{PaymentId{"pay3"}, OrderId{"o3"}, eu(1500), "evt-late"});
  h.add(0, OrderPaymentReturned{OrderId{"o3"}, PaymentId{"pay3"}, eu(1500), eur});
  h.add(0, EscrowRefunded{OrderId{"o3"}, "external:card", eu(1500), eur, true});
  h.add(0, PaymentRefunded{PaymentId{"pay3"}, OrderId{"o3"}, eu(1500), ""});
  // acme pays out 1000 (completed) and asks for 500 more (rejected).
  h.add(0, PayoutRequested{PayoutId{"po1"}, OwnerId{"acme"}, eur, eu(1000), "iban:DE00"});
  h.add(0, PayoutCompleted{PayoutId{"po1"}, OwnerId{"acme"}, eur, eu(1000)});
  h.add(0, PayoutRequested{PayoutId{"po2"}, OwnerId{"acme"}, eur, eu(500), "iban:XX"});
  h.add(0, PayoutRejected{PayoutId{"po2"}, "destination refused"});
  // Another partition, another currency.
  h.add(1, WalletDeposited{OwnerId{"carol"}, usd, AmountMinor{700}, "bank-2"});
  h.add(1, PayoutRequested{PayoutId{"po3"}, OwnerId{"carol"}, usd, AmountMinor{200}, "iban:US"});
  return h;
}

// Every row of the views, as text, to compare whole schemas.
std::string snapshot(const std::string& schema) {
  pqxx::connection c(pg());
  pqxx::work w(c);
  w.exec("SET search_path TO " + w.quote_name(schema));
  std::string out;
  for (const char* t : {"events", "products", "orders", "order_lines", "sales_daily", "wallets",
                        "ledger_entries", "account_balances", "escrows", "payments", "payouts"})
    out +=
        std::string(t) + ":\n" +
        w.exec(fmt::format(
            "SELECT coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '') FROM {} x", t))[0][0]
            .as<std::string>() +
        "\n";
  return out;
}

// Applies partition `p` of `h` in batches of `size` events.
void project(const std::string& schema, const History& h, size_t size) {
  pqxx::connection c(pg());
  projections::apply_migrations(c, schema);
  projections::ViewWriter writer(c, schema);
  for (uint32_t p = 0; p < h.partitions(); ++p) {
    const auto& all = h.partition(p);
    int64_t done = -1;
    for (size_t i = 0; i < all.size(); i += size) {
      std::vector<Envelope> batch(all.begin() + static_cast<long>(i),
                                  all.begin() + static_cast<long>(std::min(all.size(), i + size)));
      done = writer.apply_batch(p, batch, done);
    }
    CHECK(done == static_cast<int64_t>(all.size()) - 1);
  }
}

}  // namespace

TEST_CASE("money views: wallets, escrows, payments, payouts and a trial balance of zero") {
  const History h = money_history();
  const std::string one = fresh_schema("money1"), each = fresh_schema("moneyn");
  project(one, h, 1000);
  project(each, h, 1);
  // Folding within a batch and across batches gives the very same rows.
  const std::string expected = snapshot(one);
  CHECK(snapshot(each) == expected);

  pqxx::connection c(pg());
  pqxx::work w(c);
  w.exec("SET search_path TO " + w.quote_name(one));
  auto row = [&](const std::string& sql) {
    auto r = w.exec(sql);
    REQUIRE_MESSAGE(r.size() == 1, sql);
    std::string out;
    for (const auto& f : r[0])
      out += (out.empty() ? "" : "|") + (f.is_null() ? std::string("null") : f.as<std::string>());
    return out;
  };
  auto wallet = [&](const char* owner, const char* cur) {
    return row(
        fmt::format("SELECT balance_minor, held_minor, available_minor, version FROM wallets "
                    "WHERE owner = '{}' AND currency = '{}'",
                    owner, cur));
  };
  CHECK(wallet("alice", "EUR") == "7000|0|7000|1");
  CHECK(wallet("acme", "EUR") ==
        "1700|0|1700|0");  // 3000 − 300 fee − 1000 paid out; the rejected hold is back
  CHECK(wallet("carol", "USD") == "700|200|500|1");
  CHECK(w.exec("SELECT * FROM wallets").size() == 3);
  CHECK(
      row("SELECT payment_id, buyer, seller, currency, amount_minor, held_minor, status, fee_minor "
          "FROM escrows WHERE order_id = 'o1'") == "pay1|alice|acme|EUR|3000|0|released|300");
  CHECK(row("SELECT amount_minor, held_minor, status, fee_minor FROM escrows WHERE order_id = "
            "'o2'") == "1500|0|refunded|0");
  CHECK(row("SELECT order_id, method, status, refunded_minor, reason FROM payments WHERE "
            "payment_id = 'pay1'") == "o1|wallet|captured|0|null");
  CHECK(row("SELECT order_id, method, status, refunded_minor FROM payments WHERE payment_id = "
            "'pay2'") == "o2|card|refunded|1500");
  CHECK(row("SELECT owner, currency, amount_minor, destination, status, reason FROM payouts "
            "WHERE payout_id = 'po1'") == "acme|EUR|1000|iban:DE00|completed|null");
  CHECK(row("SELECT status, reason FROM payouts WHERE payout_id = 'po2'") ==
        "rejected|destination refused");
  CHECK(row("SELECT status FROM payouts WHERE payout_id = 'po3'") == "requested");
  CHECK(row("SELECT status, version FROM orders WHERE order_id = 'o1'") == "completed|6");
  CHECK(row("SELECT status FROM orders WHERE order_id = 'o2'") == "cancelled");
  CHECK(row("SELECT status, version FROM orders WHERE order_id = 'o3'") == "expired|4");
  CHECK(row("SELECT amount_minor, held_minor, status FROM escrows WHERE order_id = 'o3'") ==
        "1500|0|refunded");
  CHECK(row("SELECT status, refunded_minor FROM payments WHERE payment_id = 'pay3'") ==
        "refunded|1500");
  CHECK(row("SELECT on_hand, reserved, available FROM products WHERE sku = 'mug'") == "8|0|8");
  // o3 counts once as expired: returning its late payment closes nothing more.
  CHECK(row("SELECT orders_placed, orders_cancelled, cancelled_minor, orders_expired, "
            "expired_minor FROM sales_daily") == "3|1|1500|1|1500");

  // The ledger: one row per leg, each event's legs and every currency sum to zero.
  CHECK(row("SELECT count(*) FROM ledger_entries") == "19");
  CHECK(w.exec("SELECT 1 FROM ledger_entries GROUP BY partition, log_offset HAVING "
               "sum(amount_minor) <> 0")
            .empty());
  CHECK(w.exec("SELECT 1 FROM ledger_entries GROUP BY currency HAVING sum(amount_minor) <> 0")
            .empty());
  CHECK(row("SELECT sum(amount_minor) FROM ledger_entries WHERE account = 'platform:fees'") ==
        "300");
  CHECK(row("SELECT sum(amount_minor) FROM ledger_entries WHERE account = 'external:bank' AND "
            "currency = 'EUR'") == "-9000");
  CHECK(row("SELECT type, order_id FROM ledger_entries WHERE account = 'wallet:acme' AND "
            "amount_minor = 2700") == "EscrowReleased|o1");
  CHECK(row("SELECT count(*) FROM ledger_entries WHERE order_id IS NULL") == "6");
  // The wallets view agrees with the ledger.
  CHECK(w.exec("SELECT 1 FROM wallets v FULL JOIN (SELECT substr(account, 8) AS owner, currency, "
               "sum(amount_minor) s "
               "FROM ledger_entries WHERE account LIKE 'wallet:%' GROUP BY 1, 2) l USING (owner, "
               "currency) "
               "WHERE v.balance_minor IS DISTINCT FROM l.s")
            .empty());
  w.commit();

  SUBCASE("the queries answer from these rows") {
    projections::ViewQueries q(pg(), one, 1);
    auto parse = [](const std::string& text) {
      auto j = parse_json(text);
      REQUIRE_MESSAGE(j.ok(), text);
      return j.value();
    };
    auto acme = q.wallet("acme", "");
    REQUIRE(acme);
    Json a = parse(*acme);
    CHECK(a.find("owner")->as_string() == "acme");
    CHECK(a.find("currency")->as_string() == "EUR");
    CHECK(a.find("available_minor")->as_int() == 1700);
    CHECK(a.find("wallets")->as_array().size() == 1);
    auto carol = q.wallet("carol", "USD");
    REQUIRE(carol);
    CHECK(parse(*carol).find("held_minor")->as_int() == 200);
    CHECK_FALSE(q.wallet("carol", "EUR"));
    CHECK_FALSE(q.wallet("nobody", ""));

    // acme's entries newest first, one per page: 1000 out, then 2700 in.
    std::vector<int64_t> amounts;
    std::optional<projections::EntryKey> after;
    for (int guard = 0; guard < 10; ++guard) {
      auto page = q.wallet_entries("acme", after, 1);
      const Json items = parse(page.items_json);  // alive while iterating over it
      for (const auto& e : items.as_array()) amounts.push_back(e.find("amount_minor")->as_int());
      if (!page.last_key) break;
      after = projections::parse_entry_key(*page.last_key);
      REQUIRE(after);
    }
    CHECK(amounts == std::vector<int64_t>{-1000, 2700});
    CHECK(parse(q.wallet_entries("nobody", std::nullopt, 10).items_json).as_array().empty());
    CHECK_FALSE(projections::parse_entry_key("1.2.3"));
    CHECK_FALSE(projections::parse_entry_key("1.2.3.x"));
    // Past the year 9999 PostgreSQL refuses the time: the cursor is bad input, not a 503.
    CHECK_FALSE(projections::parse_entry_key("10000000000000000.0.0.0"));
    CHECK(projections::parse_entry_key("253402300799999.0.0.0"));
    // A cursor at the last time the key can name still queries (no "interval out of range"):
    // every entry is older.
    CHECK(q.wallet_entries("alice", projections::parse_entry_key("253402300799999.0.0.0"), 10)
              .items_json == q.wallet_entries("alice", std::nullopt, 10).items_json);

    auto x = q.escrow("o1");
    REQUIRE(x);
    CHECK(x->buyer == "alice");
    CHECK(x->seller == "acme");
    CHECK(parse(x->json).find("fee_minor")->as_int() == 300);
    auto pay = q.payment("pay2");
    REQUIRE(pay);
    CHECK(parse(pay->json).find("status")->as_string() == "refunded");
    auto po = q.payout("po2");
    REQUIRE(po);
    CHECK(po->owner == "acme");
    CHECK(parse(po->json).find("reason")->as_string() == "destination refused");
    CHECK_FALSE(q.payout("po9"));

    Json tb = parse(q.ledger_balances());
    CHECK(tb.find("balanced")->as_bool());
    CHECK(tb.find("totals")->as_array().size() == 2);
    for (const auto& t : tb.find("totals")->as_array()) CHECK(t.find("total_minor")->as_int() == 0);
    int64_t sum = 0;
    std::string listed;
    for (const auto& acc : tb.find("accounts")->as_array()) {
      sum += acc.find("balance_minor")->as_int();
      listed += fmt::format("{}|{}|{}\n", acc.find("account")->as_string(),
                            acc.find("currency")->as_string(), acc.find("balance_minor")->as_int());
    }
    CHECK(sum == 0);
    // The kept balances are the postings' sums; the accounts at zero (settled escrows) are
    // left out.
    std::string summed;
    pqxx::work rows(c);
    rows.exec("SET LOCAL search_path TO " + rows.quote_name(one));
    for (const auto& r :
         rows.exec("SELECT account, currency, sum(amount_minor) FROM ledger_entries GROUP BY 1, 2 "
                   "HAVING sum(amount_minor) <> 0 ORDER BY currency, account"))
      summed += fmt::format("{}|{}|{}\n", r[0].as<std::string>(), r[1].as<std::string>(),
                            r[2].as<int64_t>());
    CHECK(listed == summed);
    CHECK(listed.find("escrow:o1|") == std::string::npos);  // released: zero
    CHECK(rows.exec("SELECT 1 FROM account_balances WHERE account = 'escrow:o1'").size() == 1);
  }

  SUBCASE("redelivery changes nothing") {
    pqxx::connection c2(pg());
    projections::ViewWriter writer(c2, one);
    for (uint32_t p = 0; p < h.partitions(); ++p) {
      const int64_t last = static_cast<int64_t>(h.partition(p).size()) - 1;
      // The caller believes nothing was applied: the writer refuses and names its checkpoint.
      CHECK(writer.apply_batch(p, h.partition(p), -1) == last);
      // The caller is right about the checkpoint and sends old events again: all skipped.
      CHECK(writer.apply_batch(p, h.partition(p), last) == last);
    }
    CHECK(snapshot(one) == expected);
  }

  SUBCASE("a half-applied history continues from its checkpoint") {
    const std::string half = fresh_schema("moneyh");
    pqxx::connection c2(pg());
    projections::apply_migrations(c2, half);
    projections::ViewWriter writer(c2, half);
    for (uint32_t p = 0; p < h.partitions(); ++p) {
      const auto& all = h.partition(p);
      const std::vector<Envelope> first(all.begin(),
                                        all.begin() + static_cast<long>(all.size() / 2));
      const int64_t mid = writer.apply_batch(p, first, -1);
      // Redelivered from the start, overlapping what is applied.
      CHECK(writer.apply_batch(p, all, mid) == static_cast<int64_t>(all.size()) - 1);
    }
    CHECK(snapshot(half) == expected);
    drop_schema(half);
  }

  SUBCASE("a running projector catches up with views rebuilt under it, with no new event") {
    // The server's projector has applied the whole log; then views rebuilt from an earlier
    // copy of the log (half of each partition) are swapped in under it.
    MemoryLog log(h);
    const std::string live = fresh_schema("moneyq");
    projections::RunnerConfig rc = runner_config(live);
    rc.checkpoint_recheck_ms = 100;
    projections::ProjectionRunner runner(log, rc);
    runner.start();
    auto caught_up = [&] {
      for (uint32_t p = 0; p < h.partitions(); ++p)
        if (runner.position(p) != static_cast<int64_t>(h.partition(p).size()) - 1) return false;
      return true;
    };
    // Polled up to a bound for a hung test.
    for (int i = 0; i < 3000 && !caught_up(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(caught_up());
    CHECK(snapshot(live) == expected);

    const size_t half = h.partition(0).size() / 2;
    MemoryLog earlier(h, half);
    std::ostringstream progress;
    REQUIRE(projections::rebuild_views(earlier, pg(), live, progress).ok());
    // The runner finds the moved checkpoints and applies the rest again, though the log
    // has nothing new for it.
    std::string now = snapshot(live);
    for (int i = 0; i < 300 && now != expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      now = snapshot(live);
    }
    CHECK(now == expected);
    CHECK(caught_up());
    runner.stop();
    drop_schema(live);
  }

  SUBCASE("a partition whose events cannot be decoded holds back only its own views") {
    // Partition 0 serves events of a type this binary does not know (written by a newer
    // server, say); partition 1's views must go on regardless.
    class Undecodable final : public test::ForwardingLog {
     public:
      using ForwardingLog::ForwardingLog;
      Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override {
        auto r = inner_.read(p, from, max);
        if (r.ok() && p.value() == 0)
          for (auto& env : r.value()) env.type = "EventFromTheFuture";
        return r;
      }
    };
    MemoryLog inner(h);
    Undecodable log(inner);
    const std::string live = fresh_schema("moneyu");
    projections::RunnerConfig rc = runner_config(live);
    rc.max_backoff_ms = 100;
    projections::ProjectionRunner runner(log, rc);
    runner.start();
    const int64_t last1 = static_cast<int64_t>(h.partition(1).size()) - 1;
    REQUIRE(last1 >= 0);
    // Polled up to a bound for a hung test.
    for (int i = 0; i < 3000 && (runner.position(1) != last1 || runner.healthy()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(runner.position(1) == last1);
    CHECK(runner.position(0) == -1);
    CHECK_FALSE(runner.healthy());
    CHECK(runner.last_error().find("partition 0") != std::string::npos);
    runner.stop();
    drop_schema(live);
  }

  SUBCASE("rebuild from the log gives the same rows") {
    MemoryLog log(h);
    const std::string live = fresh_schema("moneyr");
    project(live, h, 5);
    std::ostringstream progress;
    auto report = projections::rebuild_views(log, pg(), live, progress);
    REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
    CHECK(snapshot(live) == expected);
    drop_schema(live);
  }

  drop_schema(one);
  drop_schema(each);
}

TEST_CASE("the per-seller reports read the seller's rows through an index") {
  const std::string schema = fresh_schema("reportidx");
  {
    pqxx::connection c(pg());
    projections::apply_migrations(c, schema);
  }
  pqxx::connection c(pg());
  pqxx::work w(c);
  w.exec("SET LOCAL search_path TO " + w.quote_name(schema));
  // Empty tables: the planner would scan them, or sort a bitmap scan's few rows.
  w.exec("SET LOCAL enable_seqscan = off");
  w.exec("SET LOCAL enable_bitmapscan = off");
  auto plan = [&](const std::string& sql) {
    std::string out;
    for (const auto& row : w.exec("EXPLAIN " + sql)) out += row[0].as<std::string>() + "\n";
    return out;
  };
  // The queries' shapes as projections/queries.cpp runs them for a merchant, a page at a time.
  const std::string sales = plan(
      "SELECT * FROM sales_daily WHERE ('m1' = '' OR seller_id = 'm1') "
      "AND ('2026-01-01' = '' OR day >= '2026-01-01'::date) AND (day, seller_id, currency) > "
      "('2026-01-02'::date, 'm1', 'EUR') ORDER BY day, seller_id, currency LIMIT 50");
  CHECK_MESSAGE(sales.find("sales_daily_seller") != std::string::npos, sales);
  const std::string low = plan(
      "SELECT * FROM low_stock WHERE ('m1' = '' OR seller_id = 'm1') AND (available, sku) > "
      "(3, 'a') ORDER BY available, sku LIMIT 50");
  CHECK_MESSAGE(low.find("products_low_stock ") != std::string::npos, low);
  CHECK_MESSAGE(low.find("Sort") == std::string::npos, low);
  // Every seller's rows (analyst, admin): read in order from an index, not sorted.
  const std::string all = plan(
      "SELECT * FROM low_stock WHERE ('' = '' OR seller_id = '') AND (available, sku) > (3, 'a') "
      "ORDER BY available, sku LIMIT 50");
  CHECK_MESSAGE(all.find("products_low_stock_all") != std::string::npos, all);
  CHECK_MESSAGE(all.find("Sort") == std::string::npos, all);
  w.abort();
  drop_schema(schema);
}

TEST_CASE("the reports come a page at a time, in order, every row once") {
  const std::string schema = fresh_schema("reportpages");
  {
    pqxx::connection c(pg());
    projections::apply_migrations(c, schema);
    pqxx::work w(c);
    w.exec("SET LOCAL search_path TO " + w.quote_name(schema));
    // 3 sellers × 9 products; available = 12 - i % 13 ties across sellers.
    for (int i = 0; i < 27; ++i)
      w.exec(
          fmt::format("INSERT INTO products (sku, seller_id, name, price_minor, currency, "
                      "on_hand, reserved, version, updated_at) VALUES ('p{:02}', 'm{}', 'P', "
                      "100, 'EUR', {}, 1, 1, now())",
                      i, i % 3, 13 - i % 13));
    // 4 days × 2 sellers × 2 currencies.
    for (int d = 1; d <= 4; ++d)
      for (const char* seller : {"m0", "m1"})
        for (const char* cur : {"EUR", "USD"})
          w.exec(
              fmt::format("INSERT INTO sales_daily (day, seller_id, currency, orders_placed) "
                          "VALUES ('2026-03-0{}', '{}', '{}', {})",
                          d, seller, cur, d));
    w.commit();
  }
  projections::ViewQueries q(pg(), schema, 1);
  // Reads every page of `limit` rows; returns each row's `fields` joined by '|', in order.
  auto all_pages = [](auto page_at, auto parse_key, int limit,
                      const std::vector<std::string>& fields) {
    std::vector<std::string> rows;
    decltype(parse_key(std::string())) after;
    for (int guard = 0; guard < 100; ++guard) {
      projections::Page page = page_at(after, limit);
      auto items = parse_json(page.items_json);
      REQUIRE_MESSAGE(items.ok(), page.items_json);
      const Json list = items.value();
      CHECK(list.as_array().size() <= size_t(limit));
      for (const auto& row : list.as_array()) {
        std::string key;
        for (const auto& f : fields) {
          const Json* v = row.find(f);
          REQUIRE(v);
          if (!key.empty()) key += "|";
          key += v->is_string() ? v->as_string() : std::to_string(v->as_int());
        }
        rows.push_back(key);
      }
      if (!page.last_key) {
        CHECK(list.as_array().size() < size_t(limit));
        break;
      }
      CHECK(*page.last_key == rows.back());  // the cursor names the page's last row
      after = parse_key(*page.last_key);
      REQUIRE(after);
    }
    return rows;
  };
  auto low = [&q](const std::string& seller) {
    return [&q, seller](const std::optional<projections::LowStockKey>& after, int limit) {
      return q.low_stock(seller, after, limit);
    };
  };
  const std::vector<std::string> stock_fields{"available", "sku"};
  const auto everyone = all_pages(low(""), projections::parse_low_stock_key, 1000, stock_fields);
  REQUIRE(everyone.size() == 22);  // available 12 and 11 are not low: p00, p01, p13, p14, p26
  CHECK(std::is_sorted(everyone.begin(), everyone.end(), [](const auto& a, const auto& b) {
    return std::pair{std::stoll(a), a} < std::pair{std::stoll(b), b};
  }));
  // The same rows, in the same order, whatever the page size.
  for (int limit : {1, 2, 4, 22, 50})
    CHECK(all_pages(low(""), projections::parse_low_stock_key, limit, stock_fields) == everyone);
  std::vector<std::string> m1_expected;
  for (const auto& row : everyone)
    if (std::stoi(row.substr(row.find("|p") + 2)) % 3 == 1) m1_expected.push_back(row);
  CHECK(m1_expected.size() == 7);
  CHECK(all_pages(low("m1"), projections::parse_low_stock_key, 3, stock_fields) == m1_expected);

  auto sales = [&q](const std::string& seller, const std::string& from, const std::string& to) {
    return [&q, seller, from, to](const std::optional<projections::SalesKey>& after, int limit) {
      return q.sales_report(seller, from, to, after, limit);
    };
  };
  const std::vector<std::string> day_fields{"day", "seller_id", "currency"};
  const auto days = all_pages(sales("", "", ""), projections::parse_sales_key, 1000, day_fields);
  REQUIRE(days.size() == 16);
  CHECK(std::is_sorted(days.begin(), days.end()));
  for (int limit : {1, 3, 16})
    CHECK(all_pages(sales("", "", ""), projections::parse_sales_key, limit, day_fields) == days);
  CHECK(all_pages(sales("m1", "2026-03-02", "2026-03-03"), projections::parse_sales_key, 3,
                  day_fields) == std::vector<std::string>{"2026-03-02|m1|EUR", "2026-03-02|m1|USD",
                                                          "2026-03-03|m1|EUR",
                                                          "2026-03-03|m1|USD"});

  // Forged cursors are refused before any query.
  CHECK_FALSE(projections::parse_low_stock_key("3"));
  CHECK_FALSE(projections::parse_low_stock_key("3|a|b"));
  CHECK_FALSE(projections::parse_low_stock_key("x|a"));
  CHECK_FALSE(projections::parse_low_stock_key("-|a"));
  CHECK_FALSE(projections::parse_low_stock_key("1234567890123456789|a"));
  CHECK_FALSE(projections::parse_low_stock_key("3|a b"));
  CHECK(projections::parse_low_stock_key("-3|a")->available == -3);
  CHECK_FALSE(projections::parse_sales_key("2026-02-30|m1|EUR"));
  CHECK_FALSE(projections::parse_sales_key("2026-02-03|m1|eur"));
  CHECK_FALSE(projections::parse_sales_key("2026-02-03|m1"));
  CHECK_FALSE(projections::parse_sales_key("2026-02-03||EUR"));
  CHECK(projections::parse_sales_key("2026-02-03|m1|EUR")->seller_id == "m1");
  drop_schema(schema);
}

TEST_CASE("a day's sales above the int64 range sum exactly, in one batch or many") {
  // Logs from before totals were capped may hold orders up to INT64_MAX minor units.
  const Currency eur{"EUR"};
  const int64_t big = INT64_MAX - 1;
  History h(1);
  h.add(0, ProductDefined{Sku{"gem"}, SellerId{"acme"}, "Gem", AmountMinor{big}, eur, Quantity{5}});
  for (const char* id : {"o1", "o2", "o3"}) {
    h.add(0, StockReserved{Sku{"gem"}, OrderId{id}, Quantity{1}});
    h.add(0, OrderPlaced{OrderId{id},
                         CustomerId{"alice"},
                         SellerId{"acme"},
                         eur,
                         {PricedLine{Sku{"gem"}, Quantity{1}, AmountMinor{big}}},
                         AmountMinor{big},
                         TimestampMs{1'767'229'200'000}});
  }
  const std::string expected = std::to_string(static_cast<uint64_t>(big));  // one order's
  for (size_t batch : {size_t{1000}, size_t{1}}) {
    const std::string schema = fresh_schema("bigsales");
    project(schema, h, batch);
    pqxx::connection c(pg());
    pqxx::work w(c);
    w.exec("SET LOCAL search_path TO " + w.quote_name(schema));
    auto r = w.exec("SELECT gross_minor::text, gross_minor = 3 * " + expected +
                    "::numeric FROM sales_daily");
    REQUIRE(r.size() == 1u);
    CHECK_MESSAGE(r[0][1].as<bool>(), "batch ", batch, ": ", r[0][0].as<std::string>());
    w.abort();
    drop_schema(schema);
  }
}

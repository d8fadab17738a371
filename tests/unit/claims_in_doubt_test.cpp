// A write that fails with its outcome unknown (a Kafka commit that timed out) may still have
// landed. The new ids its commands claimed stay claimed, in doubt, until the partition has
// read the log back: otherwise another partition could create the same order id meanwhile.
// Two partitions on one router, run inline, over the RocksDB log with faults in front.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/partition_processor.hpp"
#include "engine/runtime/router.hpp"
#include "engine/state/rocks_db.hpp"
#include "engine/state/state_store.hpp"
#include "tests/support/forwarding_log.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

// The RocksDB log, whose next append can fail after writing (the ambiguous case) or without
// writing, and whose tail can be made unreadable (the broker still down) to keep the
// partition from recovering.
class DoubtfulLog final : public test::ForwardingLog {
 public:
  // fail_unwritten: an ambiguous failure that did not land; refuse: a failure that says it
  // wrote nothing (a Kafka transaction aborted).
  enum class Next { write, land_then_fail, fail_unwritten, refuse };
  using ForwardingLog::ForwardingLog;
  std::atomic<Next> next{Next::write};
  std::atomic<bool> tail_fails{false};

  Result<LogTail> tail(PartitionId p) override {
    if (tail_fails) return Error{"injected: the log cannot be read"};
    return inner_.tail(p);
  }
  Status append(PartitionId p, std::span<Envelope> events, const DeltaBuilder& b) override {
    const Next now = next.exchange(Next::write);
    if (now == Next::fail_unwritten) return Error{"injected: append failed"};
    if (now == Next::refuse) return Error{"injected: transaction aborted", true};
    Status s = inner_.append(p, events, b);
    if (now == Next::land_then_fail && s.ok()) return Error{"injected: commit timed out"};
    return s;
  }
};

enum class Answer { refused, in_doubt, failed, rejected, accepted };

struct TwoPartitions {
  test::TempDir dir{"doubt"};
  ManualClock clock;
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<RocksDbLog> rocks_log;
  std::unique_ptr<DoubtfulLog> log;
  std::unique_ptr<StateStore> store;
  Router router{2};
  std::unique_ptr<PartitionProcessor> procs[2];
  SellerId seller_a{"seller-0"};  // partition pa
  SellerId seller_b;              // partition pb, another one
  PartitionId pa{0}, pb{0};
  std::optional<RejectCode> last_rejection;

  TwoPartitions() {
    auto d = RocksDb::open(dir.sub("rocksdb"));
    REQUIRE_MESSAGE(d.ok(), test::error_of(d));
    db = std::move(d.value());
    auto l = RocksDbLog::open(*db, 2);
    REQUIRE_MESSAGE(l.ok(), test::error_of(l));
    rocks_log = std::move(l.value());
    log = std::make_unique<DoubtfulLog>(*rocks_log);
    store = std::make_unique<StateStore>(*db);
    ProcessorConfig config;
    config.recovery_retry = DurationMs{0};  // a test retries as soon as it runs a batch
    for (uint32_t p = 0; p < 2; ++p) {
      procs[p] =
          std::make_unique<PartitionProcessor>(PartitionId{p}, *log, *store, clock, router, config);
      auto s = procs[p]->recover();
      REQUIRE_MESSAGE(s.ok(), s.message());
    }
    pa = router.partition_for_seller(seller_a);
    for (int i = 1; seller_b.value().empty(); ++i) {
      SellerId s{"seller-" + std::to_string(i)};
      if (router.partition_for_seller(s) != pa) seller_b = s;
    }
    pb = router.partition_for_seller(seller_b);
  }

  // Routes commands as Engine::submit does, then runs them as one group in the partition of
  // the first routed one (all routed ones must share it).
  std::vector<Answer> run_group(std::vector<Command> commands) {
    std::vector<Answer> answers(commands.size(), Answer::failed);
    std::vector<std::optional<Completion>> done(commands.size());
    std::optional<PartitionId> partition;
    for (size_t i = 0; i < commands.size(); ++i) {
      Route r = router.route(commands[i]);
      if (auto* rej = std::get_if<Rejection>(&r)) {
        last_rejection = rej->code;
        answers[i] = Answer::refused;
        continue;
      }
      if (std::holds_alternative<ClaimInDoubt>(r)) {
        answers[i] = Answer::in_doubt;
        continue;
      }
      const Routed routed = std::get<Routed>(r);
      REQUIRE((!partition || *partition == routed.partition));
      partition = routed.partition;
      Submission s;
      s.command = std::move(commands[i]);
      s.owns_claim = routed.owns_claim;
      s.meta.command_id = s.meta.correlation_id = "test-" + std::to_string(i);
      s.meta.actor = Actor{"test", "admin"};
      s.done = [&done, i](Completion&& x) { done[i] = std::move(x); };
      REQUIRE(procs[routed.partition.value()]->try_submit(std::move(s)));
    }
    if (!partition) return answers;
    procs[partition->value()]->run_once();
    for (size_t i = 0; i < commands.size(); ++i) {
      if (answers[i] == Answer::refused || answers[i] == Answer::in_doubt) continue;
      REQUIRE(done[i].has_value());
      if (!done[i]->durable) {
        answers[i] = Answer::failed;
      } else if (done[i]->outcome.rejection) {
        last_rejection = done[i]->outcome.rejection->code;
        answers[i] = Answer::rejected;
      } else {
        answers[i] = Answer::accepted;
      }
    }
    return answers;
  }
  Answer run(Command c) {
    last_rejection.reset();
    return run_group({std::move(c)}).front();
  }

  // Product "a" of seller_a (partition pa, `stock_a` units) and "b" of seller_b (pb, 50).
  void define_products(int64_t stock_a = 50) {
    REQUIRE(run(DefineProduct{Sku{"a"}, seller_a, "A", AmountMinor{100}, Currency{"USD"},
                              Quantity{stock_a}}) == Answer::accepted);
    REQUIRE(run(DefineProduct{Sku{"b"}, seller_b, "B", AmountMinor{100}, Currency{"USD"},
                              Quantity{50}}) == Answer::accepted);
  }
  PlaceOrder order(const std::string& id, const char* sku) {
    return PlaceOrder{OrderId{id}, CustomerId{"cust-1"}, {OrderLineRequest{Sku{sku}, Quantity{1}}}};
  }
  const PartitionState& state(PartitionId p) { return procs[p.value()]->state_for_test(); }
};

}  // namespace

TEST_CASE(
    "an order id whose write landed but was reported failed is never taken by another "
    "partition") {
  TwoPartitions rig;
  rig.define_products();

  // o-1's events reach the log, but the append answers an error; the log cannot be read back
  // yet, so the partition cannot learn what happened.
  rig.log->next = DoubtfulLog::Next::land_then_fail;
  rig.log->tail_fails = true;
  CHECK(rig.run(rig.order("o-1", "a")) == Answer::failed);

  // The same id with the other seller's product would go to the other partition: refused as
  // a failure to retry, for either seller, while the first partition is in doubt.
  CHECK(std::holds_alternative<ClaimInDoubt>(rig.router.route(rig.order("o-1", "b"))));
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::in_doubt);
  CHECK(rig.run(rig.order("o-1", "a")) == Answer::in_doubt);
  CHECK(rig.state(rig.pb).find_order(OrderId{"o-1"}) == nullptr);
  // Commands that refer to o-1 are not told it does not exist: it may.
  CHECK(rig.run(PayOrder{OrderId{"o-1"}, PaymentId{"pay-1"}, PaymentMethod::card, std::nullopt}) ==
        Answer::in_doubt);
  CHECK(rig.run(CancelOrder{OrderId{"o-1"}, "changed my mind", std::nullopt}) == Answer::in_doubt);
  CHECK(rig.run(PayOrder{OrderId{"o-404"}, PaymentId{"pay-1"}, PaymentMethod::card,
                         std::nullopt}) == Answer::refused);
  CHECK(rig.last_rejection == RejectCode::not_found);
  // Other ids and the other partition are not held up.
  CHECK(rig.run(rig.order("o-2", "b")) == Answer::accepted);

  // The log is readable again: the next batch recovers the partition, which finds o-1.
  rig.log->tail_fails = false;
  CHECK(rig.run(rig.order("o-3", "a")) == Answer::accepted);
  REQUIRE(rig.state(rig.pa).find_order(OrderId{"o-1"}) != nullptr);
  auto ref = rig.router.order(OrderId{"o-1"});
  REQUIRE(ref.has_value());
  CHECK(ref->partition == rig.pa);
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::refused);
  CHECK(rig.last_rejection == RejectCode::already_exists);
  CHECK(rig.state(rig.pb).find_order(OrderId{"o-1"}) == nullptr);
  CHECK(rig.state(rig.pa).find_product(Sku{"a"})->reserved.value() == 2);
}

TEST_CASE("an order id whose write did not land is free again once its partition recovers") {
  TwoPartitions rig;
  rig.define_products();

  rig.log->next = DoubtfulLog::Next::fail_unwritten;
  rig.log->tail_fails = true;
  CHECK(rig.run(rig.order("o-1", "a")) == Answer::failed);
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::in_doubt);

  rig.log->tail_fails = false;
  CHECK(rig.run(AdjustStock{Sku{"a"}, Quantity{1}, "restock"}) == Answer::accepted);  // recovers pa
  CHECK(rig.state(rig.pa).find_order(OrderId{"o-1"}) == nullptr);
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::accepted);
  auto ref = rig.router.order(OrderId{"o-1"});
  REQUIRE(ref.has_value());
  CHECK(ref->partition == rig.pb);
}

TEST_CASE(
    "a rejected command in a group whose write failed holds nothing in doubt; a product's "
    "claim is settled too") {
  TwoPartitions rig;
  rig.define_products(1);

  // One group: o-8 takes the last unit, o-9 is out of stock. The append lands and fails.
  rig.log->next = DoubtfulLog::Next::land_then_fail;
  rig.log->tail_fails = true;
  CHECK(rig.run_group({rig.order("o-8", "a"), rig.order("o-9", "a")}) ==
        std::vector<Answer>{Answer::failed, Answer::failed});
  CHECK(rig.run(rig.order("o-8", "b")) == Answer::in_doubt);
  // o-9 was rejected, so it was not written whatever became of the append: its id is free.
  CHECK(rig.run(rig.order("o-9", "b")) == Answer::accepted);
  CHECK(rig.state(rig.pb).find_order(OrderId{"o-9"}) != nullptr);
  rig.log->tail_fails = false;
  CHECK(rig.run(AdjustStock{Sku{"a"}, Quantity{2}, "restock"}) == Answer::accepted);
  CHECK(rig.state(rig.pa).find_order(OrderId{"o-8"}) != nullptr);
  CHECK(rig.state(rig.pa).find_order(OrderId{"o-9"}) == nullptr);

  // A new product whose definition landed: its SKU stays the seller's.
  rig.log->next = DoubtfulLog::Next::land_then_fail;
  rig.log->tail_fails = true;
  CHECK(rig.run(DefineProduct{Sku{"c"}, rig.seller_a, "C", AmountMinor{5}, Currency{"USD"},
                              Quantity{3}}) == Answer::failed);
  CHECK(rig.run(DefineProduct{Sku{"c"}, rig.seller_b, "C", AmountMinor{5}, Currency{"USD"},
                              Quantity{3}}) == Answer::in_doubt);
  rig.log->tail_fails = false;
  CHECK(rig.run(AdjustStock{Sku{"a"}, Quantity{2}, "restock"}) == Answer::accepted);
  CHECK(rig.router.seller_of(Sku{"c"}) == rig.seller_a);
  CHECK(rig.run(DefineProduct{Sku{"c"}, rig.seller_b, "C", AmountMinor{5}, Currency{"USD"},
                              Quantity{3}}) == Answer::refused);
  CHECK(rig.last_rejection == RejectCode::already_exists);
}

TEST_CASE("a failed write that says it wrote nothing holds no id") {
  TwoPartitions rig;
  rig.define_products();
  rig.log->next = DoubtfulLog::Next::refuse;
  rig.log->tail_fails = true;
  CHECK(rig.run(rig.order("o-1", "a")) == Answer::failed);
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::accepted);
  CHECK(rig.state(rig.pb).find_order(OrderId{"o-1"}) != nullptr);
}

TEST_CASE("a payment id whose PayOrder landed stays claimed after the recovery") {
  TwoPartitions rig;
  rig.define_products();
  REQUIRE(rig.run(rig.order("o-1", "a")) == Answer::accepted);
  REQUIRE(rig.run(rig.order("o-2", "a")) == Answer::accepted);
  rig.log->next = DoubtfulLog::Next::land_then_fail;
  rig.log->tail_fails = true;
  CHECK(rig.run(PayOrder{OrderId{"o-1"}, PaymentId{"pay-1"}, PaymentMethod::card, std::nullopt}) ==
        Answer::failed);
  CHECK(rig.run(PayOrder{OrderId{"o-2"}, PaymentId{"pay-1"}, PaymentMethod::card, std::nullopt}) ==
        Answer::in_doubt);
  rig.log->tail_fails = false;
  CHECK(rig.run(AdjustStock{Sku{"a"}, Quantity{1}, "restock"}) == Answer::accepted);  // recovers
  CHECK(rig.state(rig.pa).find_order(OrderId{"o-1"})->status == OrderStatus::payment_pending);
  CHECK(rig.run(PayOrder{OrderId{"o-2"}, PaymentId{"pay-1"}, PaymentMethod::card, std::nullopt}) ==
        Answer::refused);
  CHECK(rig.last_rejection == RejectCode::already_exists);
}

TEST_CASE("an idle partition recovers by itself and settles what it held in doubt") {
  TwoPartitions rig;
  rig.define_products();
  rig.log->next = DoubtfulLog::Next::land_then_fail;
  rig.log->tail_fails = true;
  CHECK(rig.run(rig.order("o-1", "a")) == Answer::failed);

  // Its writer runs, with nothing to do: the only traffic is retries the router turns away.
  rig.procs[rig.pa.value()]->start();
  CHECK(rig.run(rig.order("o-1", "b")) == Answer::in_doubt);
  rig.log->tail_fails = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::holds_alternative<ClaimInDoubt>(rig.router.route(rig.order("o-1", "b")))) {
    if (std::chrono::steady_clock::now() >= until) FAIL("the idle partition never recovered");
    std::this_thread::yield();
  }
  Route r = rig.router.route(rig.order("o-1", "b"));
  REQUIRE(std::holds_alternative<Rejection>(r));
  CHECK(std::get<Rejection>(r).code == RejectCode::already_exists);
  rig.procs[rig.pa.value()]->stop();
  CHECK(rig.state(rig.pa).find_order(OrderId{"o-1"}) != nullptr);
}

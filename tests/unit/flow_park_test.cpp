// The runtime process manager over a real engine: a step that keeps failing is parked
// (never dropped, the flow's checkpoint still moves), an admin sees it and retries it, and
// the retried step takes effect exactly once.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include <fmt/core.h>

#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/runtime/flow_manager.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

constexpr auto kWaitBound = std::chrono::seconds(30);  // a bound for a hung test, not timing

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Completion> completion;
};

// Submits without waiting; the engine's processor threads are not running.
std::shared_ptr<Done> submit(Engine& e, Command c, SubmitResult* result = nullptr) {
  auto d = std::make_shared<Done>();
  Submission s;
  s.command = std::move(c);
  s.meta.command_id = fmt::format("cmd-{}", static_cast<const void*>(d.get()));
  s.meta.correlation_id = s.meta.command_id;
  s.meta.actor = Actor{"admin-1", "admin"};
  s.done = [d](Completion&& c) {
    std::lock_guard lock(d->mu);
    d->completion = std::move(c);
    d->cv.notify_all();
  };
  const SubmitResult r = e.submit(std::move(s));
  if (result) *result = r;
  return d;
}

bool accepted(const std::shared_ptr<Done>& d) {
  std::lock_guard lock(d->mu);
  return d->completion && d->completion->durable.ok() && !d->completion->outcome.rejection;
}

// One partition whose queue takes 4 commands; its writer is not started.
std::unique_ptr<Engine> open_small_engine(const test::TempDir& dir, const Clock& clock) {
  EngineConfig cfg;
  cfg.data_dir = dir.sub("engine");
  cfg.partitions = 1;
  cfg.processor.queue_capacity = 4;
  // No room kept for the flows' own steps: a full queue refuses them too, which is what
  // these tests need (with the reserve, it takes 1,024 more commands to get there).
  cfg.processor.system_reserve = 0;
  auto opened = Engine::open_embedded(cfg, clock);
  REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
  return std::move(opened.value());
}

// A product, a funded wallet, an order o1 and its wallet payment requested, run by hand;
// then the partition's queue is filled (its writer is not running), so the payment's flow
// step cannot be submitted.
void request_payment_behind_a_full_queue(Engine& e, PartitionProcessor& proc) {
  auto run = [&](Command c) {
    auto d = submit(e, std::move(c));
    CHECK(proc.run_once() == 1u);
    REQUIRE(accepted(d));
  };
  run(DefineProduct{Sku{"mug"}, SellerId{"acme"}, "Mug", AmountMinor{1000}, Currency{"EUR"},
                    Quantity{5}});
  run(DepositToWallet{OwnerId{"alice"}, Currency{"EUR"}, AmountMinor{5000}, "top-up"});
  run(PlaceOrder{OrderId{"o1"}, CustomerId{"alice"}, {OrderLineRequest{Sku{"mug"}, Quantity{2}}}});
  run(PayOrder{OrderId{"o1"}, PaymentId{"pay-1"}, PaymentMethod::wallet, std::nullopt});
  REQUIRE(proc.state_for_test().find_order(OrderId{"o1"})->status == OrderStatus::payment_pending);
  for (int i = 0; i < 4; ++i) {
    SubmitResult r{};
    submit(e, AdjustStock{Sku{"mug"}, Quantity{1}, "filler"}, &r);
    REQUIRE(r == SubmitResult::queued);
  }
}

// An engine of one small partition with o1's payment requested behind a full queue.
struct PaymentBehindFullQueue {
  explicit PaymentBehindFullQueue(const char* tag)
      : dir(tag),
        engine(open_small_engine(dir, clock)),
        e(*engine),
        proc(e.processor(PartitionId{0})) {
    request_payment_behind_a_full_queue(e, proc);
  }
  test::TempDir dir;
  ManualClock clock;  // never moves unless a test moves it
  std::unique_ptr<Engine> engine;
  Engine& e;
  PartitionProcessor& proc;
};

}  // namespace

TEST_CASE("an admin's retry gives up within its own budget, and one retry runs per round") {
  PaymentBehindFullQueue rig("flow-retry-budget");
  auto& e = rig.e;
  auto& clock = rig.clock;  // the clock never moves: a 0 ms budget runs out
  {
    FlowConfig fc;
    fc.park_after_ms = 0;
    FlowManager parker(e, e.flow_store(), clock, fc);
    REQUIRE(parker.load().ok());
    CHECK(parker.run_once());
    REQUIRE(parker.parked(10)->size() == 1u);
  }
  // The queue is still full. The manager's own steps would keep trying for an hour; an
  // admin's retry has retry_park_after_ms, so it is parked again instead of holding every
  // other flow (and the admin's HTTP call) up.
  FlowConfig fc;
  fc.park_after_ms = 3'600'000;
  fc.retry_park_after_ms = 0;
  fc.first_backoff_ms = 1;
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  const std::string id = flows.parked(10)->front().id;
  auto first = std::make_shared<std::optional<RetryOutcome>>();
  auto second = std::make_shared<std::optional<RetryOutcome>>();
  flows.retry_parked(id, [first](const RetryOutcome& r) { *first = r; });
  flows.retry_parked("0-999999", [second](const RetryOutcome& r) { *second = r; });
  flows.run_once();  // retries run on the calling thread, one per round
  REQUIRE(first->has_value());
  CHECK((*first)->kind == RetryOutcome::Kind::still_parked);
  CHECK((*first)->message == "the step failed again and stays parked");
  CHECK_FALSE(second->has_value());
  flows.run_once();
  REQUIRE(second->has_value());
  CHECK((*second)->kind == RetryOutcome::Kind::not_found);
  REQUIRE(flows.parked(10)->size() == 1u);
  CHECK(flows.parked(10)->front().id == id);

  // More retries than the queue holds: the overflow is the manager's state, not the step's
  // (the HTTP layer answers 503, not 409 still_failing).
  std::vector<std::shared_ptr<std::optional<RetryOutcome>>> queued;
  for (size_t i = 0; i <= FlowManager::kMaxQueuedRetries; ++i) {
    queued.push_back(std::make_shared<std::optional<RetryOutcome>>());
    flows.retry_parked(id, [r = queued.back()](const RetryOutcome& o) { *r = o; });
  }
  REQUIRE(queued.back()->has_value());
  CHECK((*queued.back())->kind == RetryOutcome::Kind::unavailable);
  CHECK((*queued.back())->message == "too many retries queued; try again shortly");
  CHECK_FALSE(queued.front()->has_value());  // the first ones wait for their round
}

TEST_CASE("a step parked for a full queue is retried by the manager itself, later") {
  PaymentBehindFullQueue rig("flow-auto-retry");
  auto& e = rig.e;
  auto& proc = rig.proc;
  auto& clock = rig.clock;
  FlowConfig fc;
  fc.park_after_ms = 0;
  fc.first_backoff_ms = 1;
  fc.auto_retry_parked_ms = 60'000;
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  CHECK(flows.run_once());
  auto parked = flows.parked(10);
  REQUIRE(parked->size() == 1u);
  CHECK(parked->front().transient);  // parked for the queue, not refused
  // More refused steps (waiting for an admin) than one pass of retries takes, all listed
  // before it: they must not hide it.
  const std::string transient_id = parked->front().id;
  for (size_t i = 0; i < FlowManager::kMaxQueuedRetries + 6; ++i) {
    ParkedStep refused;
    refused.id = fmt::format("0-0{:04}", i);  // sorts before "0-{offset}"
    refused.partition = PartitionId{0};
    refused.offset = Offset{0};
    refused.error = "insufficient_funds";
    REQUIRE(e.flow_store().park(refused).ok());
  }
  REQUIRE(flows.parked(1)->front().id < transient_id);
  // A transient record retried first that fails for its own reason (its event, the product's
  // definition, starts no step) says nothing of the outage: the pass goes on to the next.
  ParkedStep stale;
  stale.id = "0-0-stale";  // sorts first
  stale.partition = PartitionId{0};
  stale.offset = Offset{0};
  stale.command = "InitiatePayment";
  stale.transient = true;
  REQUIRE(e.flow_store().park(stale).ok());
  REQUIRE(e.flow_store().transient_parked(10)->front().id == stale.id);

  // The queue empties. Before the interval has passed nothing is retried; after it, the
  // manager runs the steps again by itself (one per round) and the flow carries on.
  CHECK(proc.run_once() == 4u);
  e.start();
  flows.run_once();
  CHECK(e.flow_store().transient_parked(10)->size() == 2u);
  clock.advance_ms(60'000);
  flows.run_once();  // the stale one: still parked, now for an admin
  auto after_stale = e.flow_store().transient_parked(10);
  REQUIRE(after_stale->size() == 1u);
  CHECK(after_stale->front().id == transient_id);
  flows.run_once();  // the same pass: the payment's step
  CHECK(e.flow_store().transient_parked(10)->empty());
  CHECK(flows.parked(1000)->size() == FlowManager::kMaxQueuedRetries + 7);  // still refused
  auto stale_now = e.flow_store().find_parked(stale.id);
  REQUIRE(stale_now->has_value());
  CHECK_FALSE((*stale_now)->transient);
  const auto until = std::chrono::steady_clock::now() + kWaitBound;
  for (;;) {  // the order's stream, not the partition's state, while its writer runs
    flows.run_once();
    auto evs = e.log().read_stream("order-o1", 0, 100);
    REQUIRE(evs.ok());
    if (!evs->empty() && evs->back().type == "OrderPaid") break;
    if (std::chrono::steady_clock::now() >= until) FAIL("the flow did not finish");
  }
  e.stop();
  CHECK(proc.state_for_test().find_order(OrderId{"o1"})->status == OrderStatus::paid);
  CHECK(
      proc.state_for_test().find_wallet(OwnerId{"alice"}, Currency{"EUR"})->balance_minor.value() ==
      5000 - 2000);
}

TEST_CASE("the manager's own pass ends at the first transient step that meets the outage again") {
  PaymentBehindFullQueue rig("flow-auto-retry-outage");
  auto& e = rig.e;
  auto& clock = rig.clock;
  FlowConfig fc;
  fc.park_after_ms = 0;
  fc.retry_park_after_ms = 0;  // a retry that fails is parked again at once
  fc.first_backoff_ms = 1;
  fc.auto_retry_parked_ms = 60'000;
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  CHECK(flows.run_once());
  auto parked = flows.parked(10);
  REQUIRE(parked->size() == 1u);
  const ParkedStep first = parked->front();
  REQUIRE(first.transient);
  // The same step under a later id: a second transient record. Retrying it runs the same
  // step, which, failing, is parked again under the first's id; each park counts.
  ParkedStep twin = first;
  twin.id = first.id + "-twin";
  REQUIRE(e.flow_store().park(twin).ok());
  REQUIRE(flows.stats().parked == 1u);

  // The queue is still full: the first retry is parked again, as transient, and the pass
  // stops there; the twin is not tried until the next pass.
  clock.advance_ms(60'000);
  flows.run_once();
  auto first_now = e.flow_store().find_parked(first.id);
  REQUIRE(first_now->has_value());
  CHECK((*first_now)->transient);
  CHECK((*first_now)->parked_at_ms == clock.now().value());
  CHECK(flows.stats().parked == 2u);
  for (int i = 0; i < 3; ++i) flows.run_once();
  CHECK(flows.stats().parked == 2u);  // nothing more was tried

  // The next pass starts again from the first, and ends there again.
  clock.advance_ms(60'000);
  for (int i = 0; i < 3; ++i) flows.run_once();
  CHECK(flows.stats().parked == 3u);
  CHECK(e.flow_store().transient_parked(10)->size() == 2u);
}

TEST_CASE("an admin dismisses a parked step: it never runs, once its round has finished") {
  PaymentBehindFullQueue rig("flow-dismiss");
  auto& e = rig.e;
  auto& proc = rig.proc;
  auto& clock = rig.clock;
  FlowConfig fc;
  fc.park_after_ms = 0;
  fc.retry_park_after_ms = 0;
  fc.first_backoff_ms = 1;
  fc.auto_retry_parked_ms = 0;
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  auto outcome_of = [&](auto&& queue) {
    auto r = std::make_shared<std::optional<RetryOutcome>>();
    queue([r](const RetryOutcome& o) { *r = o; });
    return r;
  };

  // A step parked at an offset the manager has not yet read past: a dismissal now would not
  // hold (the round reads the event again), so it is refused until the round has finished.
  ParkedStep early;
  early.id = "0-0-early";
  early.partition = PartitionId{0};
  early.offset = Offset{0};
  early.command = "InitiatePayment";
  REQUIRE(e.flow_store().park(early).ok());
  auto refused = outcome_of([&](auto done) { flows.dismiss_parked(early.id, "admin-1", done); });
  CHECK(flows.run_once());  // the dismissal first, then the round: it parks the payment step
  REQUIRE(refused->has_value());
  CHECK((*refused)->kind == RetryOutcome::Kind::unavailable);
  CHECK(e.flow_store().find_parked(early.id)->has_value());
  auto again = outcome_of([&](auto done) { flows.dismiss_parked(early.id, "admin-1", done); });
  flows.run_once();
  REQUIRE(again->has_value());
  CHECK((*again)->ok());
  CHECK_FALSE(e.flow_store().find_parked(early.id)->has_value());

  // A record past the log's end: no round will ever read its event. A retry hands it to an
  // admin with that reason, and a dismissal is not held back waiting for the checkpoint.
  ParkedStep gone = early;
  gone.id = "0-0-gone";
  gone.offset = Offset{999};
  gone.error = "overloaded";
  gone.transient = true;
  REQUIRE(e.flow_store().park(gone).ok());
  auto gone_retry = outcome_of([&](auto done) { flows.retry_parked(gone.id, done); });
  flows.run_once();
  REQUIRE(gone_retry->has_value());
  CHECK((*gone_retry)->kind == RetryOutcome::Kind::still_parked);
  CHECK_FALSE((*gone_retry)->outage());
  auto gone_now = e.flow_store().find_parked(gone.id);
  REQUIRE(gone_now->has_value());
  CHECK_FALSE((*gone_now)->transient);
  CHECK((*gone_now)->error == "its event is not in the log (was: overloaded)");
  auto gone_dismissed =
      outcome_of([&](auto done) { flows.dismiss_parked(gone.id, "admin-1", done); });
  flows.run_once();
  REQUIRE(gone_dismissed->has_value());
  CHECK((*gone_dismissed)->ok());
  CHECK_FALSE(e.flow_store().find_parked(gone.id)->has_value());

  // The payment's step: a retry queued before a dismissal runs first (and fails again on
  // the full queue); then the dismissal removes it, and a second one finds nothing.
  auto parked = flows.parked(10);
  REQUIRE(parked->size() == 1u);
  const std::string id = parked->front().id;
  auto retried = outcome_of([&](auto done) { flows.retry_parked(id, done); });
  auto dismissed = outcome_of([&](auto done) { flows.dismiss_parked(id, "admin-1", done); });
  flows.run_once();
  REQUIRE(retried->has_value());
  CHECK((*retried)->kind == RetryOutcome::Kind::still_parked);
  CHECK_FALSE(dismissed->has_value());  // one admin request per round
  flows.run_once();
  REQUIRE(dismissed->has_value());
  CHECK((*dismissed)->ok());
  auto twice = outcome_of([&](auto done) { flows.dismiss_parked(id, "admin-1", done); });
  flows.run_once();
  REQUIRE(twice->has_value());
  CHECK((*twice)->kind == RetryOutcome::Kind::not_found);
  CHECK(flows.parked(10)->empty());

  // With room in the partition again, nothing runs the dismissed step: the order still
  // waits for its payment, and the wallet is untouched.
  CHECK(proc.run_once() == 4u);
  for (int i = 0; i < 5; ++i) flows.run_once();
  CHECK(proc.run_once() == 0u);
  CHECK(proc.state_for_test().find_order(OrderId{"o1"})->status == OrderStatus::payment_pending);
  CHECK(
      proc.state_for_test().find_wallet(OwnerId{"alice"}, Currency{"EUR"})->balance_minor.value() ==
      5000);
}

TEST_CASE("a flow step that keeps failing is parked, listed, and done exactly once when retried") {
  PaymentBehindFullQueue rig("flow-park");
  auto& e = rig.e;
  auto& proc = rig.proc;
  auto& clock = rig.clock;
  // The payment step cannot be submitted, and with no time allowed for retries it is parked
  // at once.
  FlowConfig fc;
  fc.park_after_ms = 0;  // parked at the first failure
  fc.first_backoff_ms = 1;
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  CHECK(flows.run_once());
  auto parked = flows.parked(10);
  REQUIRE(parked.ok());
  REQUIRE(parked->size() == 1u);
  const ParkedStep step = parked->front();
  CHECK(step.command == "InitiatePayment");
  CHECK(step.event_type == "OrderPaymentRequested");
  CHECK(step.stream == "order-o1");
  CHECK(step.error.find("overloaded") != std::string::npos);
  CHECK(flows.stats().parked == 1u);
  // Parked, not dropped and not repeated: the checkpoint moved past it, so another round
  // finds nothing to do, and the step is still listed.
  CHECK_FALSE(flows.run_once());
  REQUIRE(flows.parked(10)->size() == 1u);
  CHECK(proc.run_once() == 4u);  // the fillers
  CHECK(proc.state_for_test().find_order(OrderId{"o1"})->status == OrderStatus::payment_pending);
  CHECK(
      proc.state_for_test().find_wallet(OwnerId{"alice"}, Currency{"EUR"})->balance_minor.value() ==
      5000);

  // An unknown id is refused; the real one is run again once the partition has room.
  e.start();
  struct RetryResult {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<RetryOutcome> outcome;
  };
  auto retry = [&](const std::string& id) {
    auto r = std::make_shared<RetryResult>();
    flows.retry_parked(id, [r](const RetryOutcome& o) {
      std::lock_guard lock(r->mu);
      r->outcome = o;
      r->cv.notify_all();
    });
    flows.run_once();
    std::unique_lock lock(r->mu);
    REQUIRE(r->cv.wait_for(lock, kWaitBound, [&] { return r->outcome.has_value(); }));
    return *r->outcome;
  };
  CHECK(retry("0-999999").kind == RetryOutcome::Kind::not_found);
  const RetryOutcome retried = retry(step.id);
  CHECK_MESSAGE(retried.ok(), retried.message);
  CHECK(flows.parked(10)->empty());

  // The flow carries on from the retried step to its end: paid from the wallet, held in escrow.
  const auto until = std::chrono::steady_clock::now() + kWaitBound;
  for (;;) {
    flows.run_once();
    auto evs = e.log().read_stream("order-o1", 0, 100);
    REQUIRE(evs.ok());
    if (!evs->empty() && evs->back().type == "OrderPaid") break;
    if (std::chrono::steady_clock::now() >= until) {
      auto all = e.log().read(PartitionId{0}, Offset{0}, 1000);
      for (const auto& ev : all.value()) MESSAGE(ev.offset.value(), " ", ev.type, " ", ev.stream);
      for (const auto& ev : evs.value()) MESSAGE("order stream: ", ev.type);
      FAIL("the flow did not finish");
    }
  }
  while (flows.run_once()) {
  }
  // A second retry of the same id finds nothing parked; the payment happened once.
  CHECK(retry(step.id).kind == RetryOutcome::Kind::not_found);
  e.stop();
  const PartitionState& s = proc.state_for_test();
  CHECK(s.find_order(OrderId{"o1"})->status == OrderStatus::paid);
  CHECK(s.find_wallet(OwnerId{"alice"}, Currency{"EUR"})->balance_minor.value() == 5000 - 2000);
  auto payments = e.log().read_stream("payment-pay-1", 0, 100);
  REQUIRE(payments.ok());
  int initiated = 0;
  for (const auto& ev : payments.value()) initiated += ev.type == "PaymentInitiated";
  CHECK(initiated == 1);
}

namespace {

// An order o1 whose wallet payment was requested, on an engine whose writer is not running,
// with its partition's queue (4) full: the payment's flow step cannot be submitted.
struct OverloadRig {
  test::TempDir dir{"flow-overload"};
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  PartitionProcessor* proc = nullptr;
  std::unique_ptr<FlowManager> flows;

  OverloadRig() {
    engine = open_small_engine(dir, clock);
    proc = &engine->processor(PartitionId{0});
    auto run = [&](Command c) {
      auto d = submit(*engine, std::move(c));
      CHECK(proc->run_once() == 1u);
      REQUIRE(accepted(d));
    };
    run(DefineProduct{Sku{"mug"}, SellerId{"acme"}, "Mug", AmountMinor{1000}, Currency{"EUR"},
                      Quantity{5}});
    run(DepositToWallet{OwnerId{"alice"}, Currency{"EUR"}, AmountMinor{5000}, "top-up"});
    run(PlaceOrder{
        OrderId{"o1"}, CustomerId{"alice"}, {OrderLineRequest{Sku{"mug"}, Quantity{1}}}});
    run(PayOrder{OrderId{"o1"}, PaymentId{"pay-1"}, PaymentMethod::wallet, std::nullopt});
    for (int i = 0; i < 4; ++i) {
      SubmitResult r{};
      submit(*engine, AdjustStock{Sku{"mug"}, Quantity{1}, "filler"}, &r);
      REQUIRE(r == SubmitResult::queued);
    }
    FlowConfig fc;
    fc.first_backoff_ms = 1;
    fc.park_after_ms = 60'000;
    flows = std::make_unique<FlowManager>(*engine, engine->flow_store(), clock, fc);
    REQUIRE(flows->load().ok());
  }
  // Waits (bounded) until the manager has backed off `n` times in all.
  void wait_for_retries(uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + kWaitBound;
    while (flows->stats().retries < n) {
      if (std::chrono::steady_clock::now() >= until) FAIL("the flow manager stopped retrying");
      std::this_thread::yield();
    }
  }
};

}  // namespace

TEST_CASE("a flow step whose partition stays overloaded is retried, then parked after the limit") {
  OverloadRig r;
  std::thread round([&] { r.flows->run_once(); });
  r.wait_for_retries(10);  // ten refusals: still retried, not parked
  CHECK(r.flows->parked(10)->empty());
  r.clock.advance_ms(60'000 - 1);
  const uint64_t retries = r.flows->stats().retries;
  r.wait_for_retries(retries + 3);  // just short of the limit: still retried
  CHECK(r.flows->parked(10)->empty());
  r.clock.advance_ms(1);
  round.join();  // the next refusal finds the limit reached and parks the step
  auto parked = r.flows->parked(10);
  REQUIRE(parked.ok());
  REQUIRE(parked->size() == 1u);
  CHECK(parked->front().command == "InitiatePayment");
  CHECK(parked->front().error.find("overloaded") != std::string::npos);
  CHECK(r.flows->stats().parked == 1u);
  CHECK(r.proc->run_once() == 4u);  // the fillers, and nothing else
  CHECK(r.proc->state_for_test().find_payment(PaymentId{"pay-1"}) == nullptr);
}

TEST_CASE("a flow step carries on by itself once its overloaded partition has room") {
  OverloadRig r;
  std::atomic<bool> round_done{false};
  std::thread round([&] {
    r.flows->run_once();
    round_done = true;
  });
  r.wait_for_retries(10);
  CHECK(r.flows->parked(10)->empty());
  CHECK(r.proc->run_once() == 4u);  // the fillers: now there is room
  // The step is submitted at its next attempt; the partition runs until the round has its
  // outcome.
  const auto until = std::chrono::steady_clock::now() + kWaitBound;
  while (!round_done) {
    if (std::chrono::steady_clock::now() >= until) FAIL("the flow round did not end");
    r.proc->run_once();
  }
  round.join();
  CHECK(r.flows->parked(10)->empty());
  CHECK(r.flows->stats().parked == 0u);
  const PartitionState& s = r.proc->state_for_test();
  REQUIRE(s.find_payment(PaymentId{"pay-1"}) != nullptr);
  CHECK(s.find_escrow(OrderId{"o1"})->held_minor.value() == 1000);
  CHECK(s.find_wallet(OwnerId{"alice"}, Currency{"EUR"})->balance_minor.value() == 4000);
}

namespace {

// The manual clock, with a hook run (once, on that thread) the first time the clock is read
// on a given thread after it is armed: a test's way to act at an exact point of a flow
// round. Other threads (RocksDB's compaction reads the engine's clock) never fire it.
class HookClock final : public Clock {
 public:
  TimestampMs now() const override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      if (std::this_thread::get_id() == hook_thread_)
        hook.swap(hook_);  // taken before it runs: the clock it reads is the plain one
    }
    if (hook) hook();
    return inner_.now();
  }
  void arm(std::thread::id on, std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_thread_ = on;
    hook_ = std::move(hook);
  }

 private:
  ManualClock inner_;
  mutable std::mutex mu_;
  std::thread::id hook_thread_;
  mutable std::function<void()> hook_;
};

}  // namespace

TEST_CASE(
    "a step held back by an overloaded partition is not overtaken by a later step of its "
    "order") {
  test::TempDir dir{"flow-order"};
  HookClock clock;
  auto engine = open_small_engine(dir, clock);
  Engine& e = *engine;
  PartitionProcessor& proc = e.processor(PartitionId{0});
  auto run = [&](Command c) {
    auto d = submit(e, std::move(c));
    CHECK(proc.run_once() == 1u);
    REQUIRE(accepted(d));
  };
  FlowConfig fc;
  fc.first_backoff_ms = 1;
  fc.park_after_ms = 60'000;
  fc.auto_retry_parked_ms = 0;  // its clock read would fire the hook below too early
  FlowManager flows(e, e.flow_store(), clock, fc);
  REQUIRE(flows.load().ok());
  // Runs one flow round on its own thread while this one runs the partition. `arm` is given
  // the round's thread before the round starts; the partition runs only once `may_run` holds.
  auto round_with_partition = [&](const std::function<void(std::thread::id)>& arm = {},
                                  const std::function<bool()>& may_run = {}) {
    std::atomic<bool> go{false}, done{false};
    std::thread round([&] {
      while (!go) std::this_thread::yield();
      flows.run_once();
      done = true;
    });
    if (arm) arm(round.get_id());
    go = true;
    const auto until = std::chrono::steady_clock::now() + kWaitBound;
    while (!done) {
      if (std::chrono::steady_clock::now() >= until) FAIL("the flow round did not end");
      if (!may_run || may_run())
        proc.run_once();
      else
        std::this_thread::yield();
    }
    round.join();
  };

  // An order paid by card: its payment initiated by the flow.
  run(DefineProduct{Sku{"mug"}, SellerId{"acme"}, "Mug", AmountMinor{1000}, Currency{"EUR"},
                    Quantity{5}});
  run(PlaceOrder{OrderId{"o1"}, CustomerId{"alice"}, {OrderLineRequest{Sku{"mug"}, Quantity{1}}}});
  run(PayOrder{OrderId{"o1"}, PaymentId{"pay-1"}, PaymentMethod::card, std::nullopt});
  round_with_partition();
  REQUIRE(proc.state_for_test().find_payment(PaymentId{"pay-1"}) != nullptr);

  // The provider captures, then refunds in full, before the flows have run: one round holds
  // the capture's MarkOrderPaid and, after it, the refund's MarkOrderRefunded.
  run(ApplyProviderEvent{"evt-capture", PaymentId{"pay-1"}, ProviderEventKind::captured,
                         AmountMinor{1000}});
  run(ApplyProviderEvent{"evt-refund", PaymentId{"pay-1"}, ProviderEventKind::refunded,
                         AmountMinor{1000}});
  REQUIRE(proc.state_for_test().find_order(OrderId{"o1"})->status == OrderStatus::payment_pending);

  // The queue is full, so MarkOrderPaid is refused. The round then reads the clock to time
  // its retry: the hook empties the queue right there, so MarkOrderRefunded would fit.
  for (int i = 0; i < 4; ++i) {
    SubmitResult r{};
    submit(e, AdjustStock{Sku{"mug"}, Quantity{1}, "filler"}, &r);
    REQUIRE(r == SubmitResult::queued);
  }
  std::atomic<bool> fired{false};
  size_t depth_when_fired = 0;
  round_with_partition(
      [&](std::thread::id round) {
        clock.arm(round, [&] {
          depth_when_fired = proc.queue_depth();
          CHECK(proc.run_once() == 4u);  // on the round's thread; this one is not running it
          fired = true;
        });
      },
      [&] { return fired.load(); });
  CHECK(depth_when_fired == 4u);  // the hook ran after the refusal, with the queue full
  CHECK(flows.stats().retries >= 1u);

  // Paid, then refunded: the refund was not refused as coming too early.
  auto evs = e.log().read_stream("order-o1", 0, 100);
  REQUIRE(evs.ok());
  std::vector<std::string> types;
  for (const auto& ev : evs.value()) types.push_back(ev.type);
  CHECK(std::find(types.begin(), types.end(), "OrderPaid") != types.end());
  CHECK(std::find(types.begin(), types.end(), "OrderRefunded") != types.end());
  CHECK(proc.state_for_test().find_order(OrderId{"o1"})->status != OrderStatus::paid);
  CHECK(flows.parked(10)->empty());
}

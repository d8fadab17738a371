// A PartitionProcessor driven without its thread (run_once + ManualClock) over real storage,
// and the Engine's routing in front of it.
#include <doctest/doctest.h>
#include <rocksdb/write_batch.h>

#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <thread>
#include <atomic>

#include "engine/log/event_codec.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/runtime/partition_processor.hpp"
#include "engine/runtime/router.hpp"
#include "engine/state/rocks_db.hpp"
#include "engine/state/state_store.hpp"
#include "tests/support/faulty_fs.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

constexpr int64_t kTtl = 15 * 60 * 1000;

DefineProduct define(const std::string& sku, int64_t stock, const std::string& seller = "seller-1",
                     int64_t price = 250) {
  return DefineProduct{Sku{sku},           SellerId{seller}, "Widget " + sku,
                       AmountMinor{price}, Currency{"USD"},  Quantity{stock}};
}

PlaceOrder place(const std::string& id, const std::string& sku, int64_t qty = 1) {
  return PlaceOrder{OrderId{id}, CustomerId{"cust-1"}, {OrderLineRequest{Sku{sku}, Quantity{qty}}}};
}

// Where a submission's completion lands.
struct Reply {
  bool called = false;
  Completion completion;

  bool accepted() const {
    return called && completion.durable.ok() && !completion.outcome.rejection;
  }
  RejectCode code() const {
    REQUIRE(called);
    REQUIRE(completion.outcome.rejection.has_value());
    return completion.outcome.rejection->code;
  }
  int64_t offset() const {
    REQUIRE(called);
    return completion.position.offset.value();
  }
};
using ReplyPtr = std::shared_ptr<Reply>;

Submission submission(Command c, const ReplyPtr& reply, bool vip = false) {
  Submission s;
  s.meta.command_id = fmt::format("cmd-{}", static_cast<const void*>(reply.get()));
  s.meta.correlation_id = s.meta.command_id;
  s.meta.actor = Actor{"user-1", vip ? "vip" : "buyer"};
  s.meta.vip = vip;
  s.command = std::move(c);
  s.done = [reply](Completion&& done) {
    CHECK_FALSE(reply->called);  // exactly once
    reply->called = true;
    reply->completion = std::move(done);
  };
  return s;
}

// Reads `base`, except that the next reads return `script`'s values in turn: a wall clock
// that steps at a chosen moment (between a timer firing and its command being decided).
struct ScriptedClock final : Clock {
  explicit ScriptedClock(const ManualClock& b) : base(b) {}
  const ManualClock& base;
  mutable std::deque<int64_t> script;
  TimestampMs now() const override {
    if (script.empty()) return base.now();
    const int64_t t = script.front();
    script.pop_front();
    return TimestampMs{t};
  }
};

// One partition over RocksDB in a temporary directory, with a manual clock; reopenable.
struct Rig {
  test::TempDir dir{"processor"};
  ManualClock clock;
  const Clock* processor_clock = nullptr;  // the processor reads `clock` unless set (reopen)
  ProcessorConfig config;
  RocksDbOptions db_options;
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<RocksDbLog> log;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Router> router;
  std::unique_ptr<PartitionProcessor> proc;
  const PartitionId pid{0};

  explicit Rig(ProcessorConfig c = {}, std::shared_ptr<rocksdb::FileSystem> fs = nullptr)
      : config(c) {
    db_options.file_system = std::move(fs);
    open();
  }
  ~Rig() { close(); }

  void open() {
    auto d = RocksDb::open(dir.sub("rocksdb"), db_options);
    REQUIRE_MESSAGE(d.ok(), test::error_of(d));
    db = std::move(d.value());
    auto l = RocksDbLog::open(*db, 1);
    REQUIRE_MESSAGE(l.ok(), test::error_of(l));
    log = std::move(l.value());
    store = std::make_unique<StateStore>(*db);
    router = std::make_unique<Router>(1);
    proc = std::make_unique<PartitionProcessor>(
        pid, *log, *store, processor_clock ? *processor_clock : clock, *router, config);
    auto s = proc->recover();
    REQUIRE_MESSAGE(s.ok(), s.message());
  }
  void close() {
    proc.reset();
    router.reset();
    store.reset();
    log.reset();
    db.reset();
  }

  ReplyPtr submit(Command c, bool vip = false) {
    auto r = std::make_shared<Reply>();
    REQUIRE(proc->try_submit(submission(std::move(c), r, vip)));
    return r;
  }
  // Submits one command and runs one group commit for it.
  ReplyPtr run(Command c) {
    auto r = submit(std::move(c));
    CHECK(proc->run_once() == 1u);
    REQUIRE(r->called);
    REQUIRE(r->completion.durable.ok());
    return r;
  }
  void run_ok(Command c) {
    auto r = run(std::move(c));
    CHECK_MESSAGE(!r->completion.outcome.rejection, "rejected: ",
                  r->completion.outcome.rejection ? r->completion.outcome.rejection->detail : "");
  }

  // Submits `c` to the partition while its thread runs, and waits for the completion.
  Completion run_threaded(Command c) {
    auto done = std::make_shared<std::promise<Completion>>();
    Submission s = submission(std::move(c), std::make_shared<Reply>());
    s.done = [done](Completion&& completion) { done->set_value(std::move(completion)); };
    REQUIRE(proc->try_submit(std::move(s)));
    return done->get_future().get();
  }

  const PartitionState& state() const { return proc->state_for_test(); }
  const Product& product(const std::string& sku) const {
    const Product* p = state().find_product(Sku{sku});
    REQUIRE(p != nullptr);
    return *p;
  }
  const Order& order(const std::string& id) const {
    const Order* o = state().find_order(OrderId{id});
    REQUIRE(o != nullptr);
    return *o;
  }

  std::vector<Envelope> read_all() {
    auto r = log->read(pid, Offset{0}, 100'000);
    REQUIRE_MESSAGE(r.ok(), test::error_of(r));
    return r.value();
  }
  std::vector<std::string> stream_types(const std::string& stream) {
    auto r = log->read_stream(stream, 0, 1000);
    REQUIRE_MESSAGE(r.ok(), test::error_of(r));
    std::vector<std::string> types;
    for (const auto& e : r.value()) types.push_back(e.type);
    return types;
  }
  LogTail tail() {
    auto t = log->tail(pid);
    REQUIRE(t.ok());
    return t.value();
  }
};

// The whole partition verifies: contiguous offsets, an unbroken hash chain from genesis,
// stream versions counting up per stream, and payloads that decode.
void check_chain(const std::vector<Envelope>& events, const LogTail& tail) {
  std::string prev = kGenesisHash;
  std::map<std::string, int64_t> versions;
  for (size_t i = 0; i < events.size(); ++i) {
    const Envelope& e = events[i];
    CAPTURE(i);
    CHECK(e.offset.value() == static_cast<int64_t>(i));
    CHECK(e.prev_hash == prev);
    CHECK(compute_hash(e) == e.hash);
    CHECK(e.stream_version == ++versions[e.stream]);
    auto decoded = decode_event(e.type, e.schema_version, e.payload);
    REQUIRE_MESSAGE(decoded.ok(), test::error_of(decoded));
    CHECK(event_stream(decoded.value()) == e.stream);
    prev = e.hash;
  }
  CHECK(tail.last_offset.value() == static_cast<int64_t>(events.size()) - 1);
  CHECK(tail.last_hash == prev);
}

}  // namespace

TEST_CASE("orders reserve until the stock runs out, one command at a time") {
  Rig rig;
  rig.run_ok(define("a", 5));
  int accepted = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = rig.run(place("o" + std::to_string(i), "a"));
    if (r->accepted()) {
      ++accepted;
      CHECK(r->completion.outcome.events.size() == 2u);
    } else {
      CHECK(r->code() == RejectCode::out_of_stock);
      CHECK(r->completion.outcome.events.empty());
    }
  }
  CHECK(accepted == 5);
  CHECK(rig.product("a").on_hand.value() == 5);
  CHECK(rig.product("a").reserved.value() == 5);
  CHECK(rig.state().orders.size() == 5u);
  test::check_partition_invariants(rig.state());
}

TEST_CASE("one run_once is one group commit for everything queued") {
  Rig rig;
  const int n = 20;
  std::vector<ReplyPtr> replies;
  replies.push_back(rig.submit(define("a", 15)));
  for (int i = 0; i < n; ++i) replies.push_back(rig.submit(place("o" + std::to_string(i), "a")));
  CHECK(rig.proc->queue_depth() == static_cast<size_t>(n + 1));
  for (const auto& r : replies) CHECK_FALSE(r->called);  // nothing answered before the commit

  CHECK(rig.proc->run_once() == static_cast<size_t>(n + 1));
  const ProcessorStats st = rig.proc->stats();
  CHECK(st.batches == 1u);
  CHECK(st.commands == static_cast<uint64_t>(n + 1));
  CHECK(st.events == 1u + 15u * 2u);  // the definition, then 15 orders of two events each
  CHECK(rig.proc->queue_depth() == 0u);

  int64_t last = -1;
  int accepted = 0;
  for (size_t i = 0; i < replies.size(); ++i) {
    CAPTURE(i);
    const ReplyPtr& r = replies[i];
    REQUIRE(r->called);
    CHECK(r->completion.durable.ok());
    CHECK(r->completion.position.partition == rig.pid);
    if (r->accepted()) {
      ++accepted;
      CHECK(r->offset() > last);  // positions increase in submission order
      last = r->offset();
    } else {
      CHECK(r->code() == RejectCode::out_of_stock);
      CHECK(r->offset() == rig.tail().last_offset.value());  // a rejection reports the tail
    }
  }
  CHECK(accepted == 16);
  CHECK(last == 30);
  CHECK(rig.proc->run_once() == 0u);
  CHECK(rig.proc->stats().batches == 1u);
}

TEST_CASE("committed events form a valid hash chain in the log") {
  Rig rig;
  rig.run_ok(define("a", 10));
  rig.run_ok(define("b", 10, "seller-1", 999));
  rig.submit(PlaceOrder{
      OrderId{"o1"}, CustomerId{"c"}, {{Sku{"a"}, Quantity{2}}, {Sku{"b"}, Quantity{3}}}});
  rig.submit(place("o2", "a", 4));
  rig.submit(CancelOrder{OrderId{"o1"}, "no", std::nullopt});
  rig.submit(place("o3", "nope"));  // rejected: writes nothing
  CHECK(rig.proc->run_once() == 4u);
  rig.run_ok(AdjustStock{Sku{"b"}, Quantity{-5}, "lost"});

  auto events = rig.read_all();
  CHECK(events.size() == 2u + 3u + 2u + 3u + 1u);
  check_chain(events, rig.tail());
  CHECK(rig.stream_types("order-o1") == std::vector<std::string>{"OrderPlaced", "OrderCancelled"});
  CHECK(rig.stream_types("product-b") == std::vector<std::string>{"ProductDefined", "StockReserved",
                                                                  "StockReleased",
                                                                  "StockAdjusted"});
  for (const auto& e : events) {
    CHECK(e.partition == rig.pid);
    CHECK(e.occurred_at == rig.clock.now());
    CHECK(e.actor.sub == "user-1");
    CHECK_FALSE(e.command_id.empty());
  }
}

TEST_CASE("a reservation expires when the clock passes its TTL") {
  Rig rig;
  rig.run_ok(define("a", 3));
  rig.run_ok(place("o1", "a", 2));
  rig.run_ok(place("o2", "a", 1));
  rig.run_ok(CancelOrder{OrderId{"o2"}, "no", std::nullopt});
  CHECK(rig.order("o1").expires_at.value() == rig.clock.now().value() + kTtl);

  rig.clock.advance_ms(kTtl - 1);
  CHECK(rig.proc->run_once() == 0u);  // not due yet
  CHECK(rig.order("o1").status == OrderStatus::reserved);

  rig.clock.advance_ms(1);
  CHECK(rig.proc->run_once() == 1u);  // only o1: o2's timer went with its cancellation
  CHECK(rig.order("o1").status == OrderStatus::expired);
  CHECK(rig.order("o1").version == 2);
  CHECK(rig.order("o2").status == OrderStatus::cancelled);
  CHECK(rig.product("a").reserved.value() == 0);
  CHECK(rig.product("a").available().value() == 3);
  test::check_partition_invariants(rig.state());

  CHECK(rig.stream_types("order-o1") == std::vector<std::string>{"OrderPlaced", "OrderExpired"});
  auto product_stream = rig.stream_types("product-a");
  REQUIRE_FALSE(product_stream.empty());
  CHECK(product_stream.back() == "StockReleased");
  auto events = rig.read_all();
  REQUIRE_FALSE(events.empty());
  CHECK(events[events.size() - 2].actor == Actor{"ordo", "system"});
  CHECK(events.back().occurred_at == rig.clock.now());
  check_chain(events, rig.tail());

  rig.clock.advance_ms(10 * kTtl);
  CHECK(rig.proc->run_once() == 0u);  // the timer fired once
}

TEST_CASE("an order reserved again after a failed payment expires once; a paid one never") {
  Rig rig;
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 1));
  rig.run_ok(place("o2", "a", 1));
  // o1 waits for its payment, which fails: reserved again, with the same expiry. Its timer
  // was taken twice (placed, reserved again); it must fire once.
  rig.run_ok(PayOrder{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card, std::nullopt});
  rig.run_ok(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, "declined"});
  REQUIRE(rig.order("o1").status == OrderStatus::reserved);
  // o2 is paid: its reservation became a sale, and its timer must not fire.
  rig.run_ok(PayOrder{OrderId{"o2"}, PaymentId{"p2"}, PaymentMethod::card, std::nullopt});
  rig.run_ok(MarkOrderPaid{OrderId{"o2"}, PaymentId{"p2"}});
  REQUIRE(rig.order("o2").status == OrderStatus::paid);

  rig.clock.advance_ms(kTtl);
  CHECK(rig.proc->run_once() == 1u);  // one expiry: o1 once, o2 not at all
  CHECK(rig.order("o1").status == OrderStatus::expired);
  CHECK(rig.order("o2").status == OrderStatus::paid);
  CHECK(rig.stream_types("order-o1") ==
        std::vector<std::string>{"OrderPlaced", "OrderPaymentRequested", "OrderPaymentFailed",
                                 "OrderExpired"});
  CHECK(rig.product("a").reserved.value() == 0);
  CHECK(rig.product("a").on_hand.value() == 4);
  test::check_partition_invariants(rig.state());

  rig.clock.advance_ms(10 * kTtl);
  CHECK(rig.proc->run_once() == 0u);
}

TEST_CASE("an order whose payment never answers expires once the payment timeout has passed") {
  ProcessorConfig config;
  config.payment_timeout = DurationMs{10 * kTtl};
  Rig rig(config);
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 2));
  rig.run_ok(PayOrder{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card, std::nullopt});
  REQUIRE(rig.order("o1").status == OrderStatus::payment_pending);

  // Its reservation's time passes, then all but the last millisecond of the timeout.
  rig.clock.advance_ms(kTtl + 10 * kTtl - 1);
  CHECK(rig.proc->run_once() == 0u);
  CHECK(rig.order("o1").status == OrderStatus::payment_pending);
  CHECK(rig.product("a").reserved.value() == 2);
  // The timer is rebuilt from the state after a restart.
  rig.close();
  rig.open();
  rig.clock.advance_ms(1);
  CHECK(rig.proc->run_once() == 1u);
  CHECK(rig.order("o1").status == OrderStatus::expired);
  CHECK(rig.product("a").reserved.value() == 0);
  CHECK(rig.product("a").available().value() == 5);
  CHECK(rig.stream_types("order-o1") ==
        std::vector<std::string>{"OrderPlaced", "OrderPaymentRequested", "OrderExpired"});
  test::check_partition_invariants(rig.state());
  rig.clock.advance_ms(100 * kTtl);
  CHECK(rig.proc->run_once() == 0u);  // once
}

TEST_CASE("with a payment timeout of 0 an order waits for its payment for ever") {
  ProcessorConfig config;
  config.payment_timeout = DurationMs{0};
  Rig rig(config);
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 2));
  rig.run_ok(PayOrder{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card, std::nullopt});
  rig.clock.advance_ms(1000 * kTtl);
  CHECK(rig.proc->run_once() == 0u);
  CHECK(rig.order("o1").status == OrderStatus::payment_pending);
  CHECK(rig.product("a").reserved.value() == 2);
}

TEST_CASE("a timer whose command is refused fires again later") {
  Rig rig;
  ScriptedClock stepping(rig.clock);
  rig.processor_clock = &stepping;
  rig.close();
  rig.open();
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 2));
  const int64_t due = rig.order("o1").expires_at.value();
  // The timer fires at `due`; the wall clock then steps back a second before the group is
  // decided, so the expiry is refused (not yet expired) while the order still wants it.
  rig.clock.set_ms(due);
  stepping.script = {due, due - 1000};
  CHECK(rig.proc->run_once() == 1u);
  REQUIRE(stepping.script.empty());  // both scripted reads were taken, in that order
  CHECK(rig.order("o1").status == OrderStatus::reserved);
  // Not lost: it fires again at the next group, and the order expires once.
  CHECK(rig.proc->run_once() == 1u);
  CHECK(rig.order("o1").status == OrderStatus::expired);
  CHECK(rig.product("a").reserved.value() == 0);
  CHECK(rig.proc->run_once() == 0u);
  test::check_partition_invariants(rig.state());
}

TEST_CASE("timers fire in due order, a bounded number per group commit") {
  Rig rig;
  rig.run_ok(define("a", 1000));
  // 100 orders placed 1 ms apart: due 1 ms apart. 70 come due at once; a group fires at
  // most 64 of them, the earliest first.
  for (int i = 0; i < 100; ++i) {
    rig.run_ok(place(fmt::format("o{:03}", i), "a", 1));
    rig.clock.advance_ms(1);
  }
  rig.clock.advance_ms(kTtl - 100 + 69);  // o000 … o069 are due
  CHECK(rig.proc->run_once() == 64u);
  for (int i = 0; i < 100; ++i) {
    CAPTURE(i);
    CHECK((rig.order(fmt::format("o{:03}", i)).status == OrderStatus::expired) == (i < 64));
  }
  CHECK(rig.proc->run_once() == 6u);
  CHECK(rig.order("o069").status == OrderStatus::expired);
  CHECK(rig.order("o070").status == OrderStatus::reserved);
  CHECK(rig.proc->run_once() == 0u);
  CHECK(rig.product("a").reserved.value() == 30);
  test::check_partition_invariants(rig.state());
}

TEST_CASE("a due timer joins the batch of queued client commands") {
  Rig rig;
  rig.run_ok(define("a", 2));
  rig.run_ok(place("o1", "a", 2));
  rig.clock.advance_ms(kTtl);
  auto r = rig.submit(place("o2", "a", 1));
  CHECK(rig.proc->run_once() == 2u);  // the client command and the expiry, one commit
  CHECK(rig.proc->stats().batches == 3u);
  REQUIRE(r->called);
  CHECK(rig.order("o1").status == OrderStatus::expired);
  // Whichever went first, the books balance.
  CHECK(rig.product("a").reserved.value() == (r->accepted() ? 1 : 0));
  test::check_partition_invariants(rig.state());
}

TEST_CASE("recovery restores the state, the timers and the chain") {
  Rig rig;
  rig.run_ok(define("a", 10));
  rig.run_ok(define("b", 4, "seller-1", 700));
  rig.run_ok(place("o1", "a", 3));
  rig.clock.advance_ms(1000);
  rig.run_ok(place("o2", "b", 4));
  rig.run_ok(place("o3", "a", 1));
  rig.run_ok(CancelOrder{OrderId{"o3"}, "no", std::nullopt});
  rig.run_ok(AdjustStock{Sku{"a"}, Quantity{5}, "restock"});
  rig.clock.advance_ms(kTtl - 500);  // o1 (placed 1 s earlier) is due, o2 is not
  CHECK(rig.proc->run_once() == 1u);
  REQUIRE(rig.order("o1").status == OrderStatus::expired);

  const PartitionState before = rig.state();
  const LogTail tail_before = rig.tail();
  rig.close();
  rig.open();

  const PartitionState& after = rig.state();
  REQUIRE(after.products.size() == before.products.size());
  for (const auto& [sku, p] : before.products) {
    CAPTURE(sku.value());
    const Product& q = after.products.at(sku);
    CHECK(q.on_hand == p.on_hand);
    CHECK(q.reserved == p.reserved);
    CHECK(q.version == p.version);
    CHECK(q.price_minor == p.price_minor);
  }
  REQUIRE(after.orders.size() == before.orders.size());
  for (const auto& [id, o] : before.orders) {
    CAPTURE(id.value());
    const Order& q = after.orders.at(id);
    CHECK(q.status == o.status);
    CHECK(q.version == o.version);
    CHECK(q.expires_at == o.expires_at);
    CHECK(q.placed_at == o.placed_at);
    CHECK(q.total_minor == o.total_minor);
    CHECK(q.lines.size() == o.lines.size());
  }
  CHECK(rig.tail().last_offset == tail_before.last_offset);
  CHECK(rig.tail().last_hash == tail_before.last_hash);
  test::check_partition_invariants(after);

  // New commands continue the chain where it stopped.
  auto r = rig.run(place("o4", "a", 2));
  REQUIRE(r->accepted());
  CHECK(r->offset() == tail_before.last_offset.value() + 2);
  auto events = rig.read_all();
  REQUIRE(events.size() == static_cast<size_t>(tail_before.last_offset.value()) + 3);
  CHECK(events[static_cast<size_t>(tail_before.last_offset.value()) + 1].prev_hash ==
        tail_before.last_hash);
  check_chain(events, rig.tail());

  // The recovered timer still fires.
  rig.clock.advance_ms(600);
  CHECK(rig.proc->run_once() == 1u);
  CHECK(rig.order("o2").status == OrderStatus::expired);
  CHECK(rig.product("b").reserved.value() == 0);
}

TEST_CASE("recovery refuses a tail whose bytes no longer match its hash") {
  // A snapshot at the tail (as a clean stop writes, or every group here) leaves no event to
  // replay and re-hash: the snapshot's own event, the tail, must still be checked.
  ProcessorConfig config;
  config.snapshot_every_batches = 1;
  Rig rig(config);
  rig.run_ok(define("a", 10));
  rig.run_ok(place("o1", "a", 3));
  const LogTail tail = rig.tail();
  Envelope e = rig.read_all().back();
  REQUIRE(e.offset == tail.last_offset);
  e.command_id += "-edited";  // the hash field is kept
  rig.close();
  auto d = RocksDb::open(rig.dir.sub("rocksdb"));
  REQUIRE(d.ok());
  rocksdb::WriteBatch batch;
  batch.Put(d.value()->cf(Cf::log), log_key(rig.pid, e.offset), encode_envelope(e));
  REQUIRE(d.value()->write_sync(batch));
  auto l = RocksDbLog::open(*d.value(), 1);
  REQUIRE(l.ok());
  StateStore store(*d.value());
  Router router(1);
  PartitionProcessor proc(rig.pid, *l.value(), store, rig.clock, router, rig.config);
  auto s = proc.recover();
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.message().find("hash chain broken at offset " +
                                 std::to_string(tail.last_offset.value())) != std::string::npos,
                s.message());
}

TEST_CASE("a full queue refuses submissions") {
  ProcessorConfig config;
  config.queue_capacity = 2;
  Rig rig(config);
  auto a = rig.submit(define("a", 1));
  auto b = rig.submit(define("b", 1));
  auto c = std::make_shared<Reply>();
  CHECK_FALSE(rig.proc->try_submit(submission(define("c", 1), c)));
  CHECK_FALSE(rig.proc->try_submit(submission(define("c", 1), c, /*vip=*/true)));
  CHECK(rig.proc->queue_depth() == 2u);
  CHECK(rig.proc->run_once() == 2u);
  CHECK(a->accepted());
  CHECK(b->accepted());
  CHECK_FALSE(c->called);
  CHECK(rig.proc->try_submit(submission(define("c", 1), c)));
}

TEST_CASE("a process manager's steps have room past a full queue, and are served first") {
  ProcessorConfig config;
  config.queue_capacity = 2;
  config.system_reserve = 1;
  Rig rig(config);
  rig.run_ok(define("a", 10));
  auto n1 = rig.submit(place("n1", "a"));
  auto n2 = rig.submit(place("n2", "a"));
  auto refused = std::make_shared<Reply>();
  CHECK_FALSE(rig.proc->try_submit(submission(place("n3", "a"), refused)));  // clients: full
  auto step = std::make_shared<Reply>();
  Submission s = submission(place("s1", "a"), step);
  s.meta.system = true;
  CHECK(rig.proc->try_submit(std::move(s)));
  // The reserve is bounded too.
  auto over = std::make_shared<Reply>();
  Submission s2 = submission(place("s2", "a"), over);
  s2.meta.system = true;
  CHECK_FALSE(rig.proc->try_submit(std::move(s2)));
  CHECK(rig.proc->queue_depth() == 3u);
  CHECK(rig.proc->run_once() == 3u);
  REQUIRE(step->accepted());
  REQUIRE(n1->accepted());
  REQUIRE(n2->accepted());
  CHECK(step->offset() < n1->offset());
  CHECK_FALSE(refused->called);
  CHECK_FALSE(over->called);
}

TEST_CASE("VIP submissions are served first in a batch") {
  Rig rig;
  rig.run_ok(define("a", 10));
  rig.run_ok(define("last-one", 1));
  auto n1 = rig.submit(place("n1", "a"));
  auto n2 = rig.submit(place("n2", "last-one"));
  auto v1 = rig.submit(place("v1", "a"), /*vip=*/true);
  auto v2 = rig.submit(place("v2", "last-one"), /*vip=*/true);
  CHECK(rig.proc->run_once() == 4u);

  REQUIRE(v1->accepted());
  REQUIRE(v2->accepted());
  REQUIRE(n1->accepted());
  CHECK(v1->offset() < v2->offset());
  CHECK(v2->offset() < n1->offset());
  // The last unit went to the VIP although the normal order was queued first.
  CHECK(n2->code() == RejectCode::out_of_stock);
}

namespace {

// Renders a status and body the way the HTTP layer would, so the stored record can be told apart.
Rendered render_outcome(const Outcome& o) {
  return o.rejection ? Rendered{409, std::string(to_string(o.rejection->code))}
                     : Rendered{201, "placed"};
}

ReplyPtr submit_with_key(Rig& rig, Command c, const std::string& key) {
  auto reply = std::make_shared<Reply>();
  Submission s = submission(std::move(c), reply);
  s.render = render_outcome;
  s.idempotency = IdempotencyClaim{"user-1:" + key, "fp-" + key};
  REQUIRE(rig.proc->try_submit(std::move(s)));
  return reply;
}

IdempotencyRecord stored_record(Rig& rig, const std::string& key) {
  auto r = rig.store->get_idempotency("user-1:" + key);
  REQUIRE_MESSAGE(r.ok(), test::error_of(r));
  REQUIRE_MESSAGE(r.value().has_value(), "no idempotency record for ", key);
  return *r.value();
}

}  // namespace

TEST_CASE("the idempotency record holds the rendered response and commits with the batch") {
  Rig rig;
  rig.run_ok(define("a", 1));
  auto ok = submit_with_key(rig, place("o1", "a"), "k1");
  CHECK(rig.proc->run_once() == 1u);
  REQUIRE(ok->accepted());
  CHECK(ok->completion.rendered.status == 201);
  CHECK(ok->completion.rendered.body == "placed");

  const IdempotencyRecord rec = stored_record(rig, "k1");
  CHECK(rec.status == 201);
  CHECK(rec.body == "placed");
  CHECK(rec.fingerprint == "fp-k1");
  CHECK(rec.position == ok->completion.position.to_string());
  CHECK(rec.position == "0-2");
  CHECK(rec.created_at == rig.clock.now());

  // A rejection alone in its batch writes no event but still records its answer.
  auto no = submit_with_key(rig, place("o2", "a"), "k2");
  CHECK(rig.proc->run_once() == 1u);
  CHECK(no->code() == RejectCode::out_of_stock);
  const IdempotencyRecord rej = stored_record(rig, "k2");
  CHECK(rej.status == 409);
  CHECK(rej.body == "out_of_stock");
  CHECK(rej.position == no->completion.position.to_string());
  CHECK(rig.tail().last_offset.value() == 2);
}

// An Idempotency-Key replay answers with the stored record's position (api/app.cpp sets
// Ordo-Position from it), the first answer with Completion.position: they must agree.
TEST_CASE("a rejection's idempotency record names the position its answer named") {
  Rig rig;
  rig.run_ok(define("a", 1));                              // offset 0
  auto ok = submit_with_key(rig, place("o1", "a"), "k1");  // offsets 1, 2
  auto no = submit_with_key(rig, place("o2", "a"), "k2");  // out of stock because of o1
  CHECK(rig.proc->run_once() == 2u);
  REQUIRE(ok->accepted());
  CHECK(no->code() == RejectCode::out_of_stock);
  CHECK(no->completion.position.to_string() == "0-2");  // the tail after the batch

  const IdempotencyRecord rej = stored_record(rig, "k2");
  CHECK(rej.body == "out_of_stock");
  CHECK(rej.position == no->completion.position.to_string());
}

// The HTTP layer looks for a key's record before it submits. A record that appears after
// that (a write whose outcome was in doubt, put back by recovery) must not let the command
// run a second time: it is answered as a failure to retry, and the retry replays the record.
TEST_CASE("a command whose key was recorded while it waited is not decided again") {
  Rig rig;
  rig.run_ok(define("a", 2));
  auto first = submit_with_key(rig, place("o1", "a"), "k1");
  rig.proc->run_once();
  REQUIRE(first->accepted());
  const int64_t tail = rig.tail().last_offset.value();

  auto again = submit_with_key(rig, place("o2", "a"), "k1");
  rig.proc->run_once();
  REQUIRE(again->called);
  CHECK_FALSE(again->completion.durable.ok());
  CHECK(again->completion.durable.message().find("already recorded") != std::string::npos);
  CHECK(rig.tail().last_offset.value() == tail);  // o2 was not placed
  CHECK(stored_record(rig, "k1").fingerprint == "fp-k1");

  // Past the retention the key is free again, as the HTTP layer treats it.
  rig.clock.advance_ms(ProcessorConfig{}.idempotency_retention_ms + 1);
  auto later = submit_with_key(rig, place("o3", "a"), "k1");
  rig.proc->run_once();
  CHECK(later->accepted());
}

// ---------------------------------------------------------------- Engine

namespace {

struct EngineRig {
  test::TempDir dir{"engine"};
  ManualClock clock;
  std::unique_ptr<Engine> engine;

  explicit EngineRig(uint32_t partitions, ProcessorConfig processor = {}) {
    EngineConfig config;
    config.data_dir = dir.sub("data");
    config.partitions = partitions;
    config.processor = processor;
    auto e = Engine::open_embedded(config, clock);
    REQUIRE_MESSAGE(e.ok(), test::error_of(e));
    engine = std::move(e.value());
  }

  std::pair<SubmitResult, ReplyPtr> submit(Command c) {
    auto r = std::make_shared<Reply>();
    SubmitResult res = engine->submit(submission(std::move(c), r));
    return {res, r};
  }
  // Runs every partition until none has anything left.
  void drain() {
    for (bool more = true; more;) {
      more = false;
      for (uint32_t p = 0; p < engine->partition_count(); ++p)
        more |= engine->processor(PartitionId{p}).run_once() > 0;
    }
  }
  ReplyPtr run(Command c) {
    auto [res, r] = submit(std::move(c));
    CHECK(res == SubmitResult::queued);
    drain();
    REQUIRE(r->called);
    return r;
  }
  PartitionId home(const std::string& seller) {
    return engine->router().partition_for_seller(SellerId{seller});
  }
};

// Two sellers that land on different partitions of four.
std::pair<std::string, std::string> sellers_apart(EngineRig& rig) {
  for (int i = 0; i < 100; ++i) {
    std::string other = "seller-" + std::to_string(i);
    if (rig.home(other) != rig.home("alice")) return {"alice", other};
  }
  FAIL("every seller hashes to one partition");
  return {};
}

}  // namespace

TEST_CASE("the engine's idempotency retention is the one its processors honour") {
  ProcessorConfig processor;
  processor.idempotency_retention_ms = 60'000;
  EngineRig rig(1, processor);
  // The HTTP layer's replay check reads the retention here, not from a second setting.
  CHECK(rig.engine->idempotency_retention_ms() == 60'000);
  REQUIRE(rig.run(define("a", 5))->accepted());

  auto keyed = [&](Command c) {
    auto reply = std::make_shared<Reply>();
    Submission s = submission(std::move(c), reply);
    s.render = render_outcome;
    s.idempotency = IdempotencyClaim{"user-1:k1", "fp-k1"};
    REQUIRE(rig.engine->submit(std::move(s)) == SubmitResult::queued);
    rig.drain();
    REQUIRE(reply->called);
    return reply;
  };
  REQUIRE(keyed(place("o1", "a"))->accepted());
  rig.clock.advance_ms(59'999);  // still within the configured minute: not decided again
  auto again = keyed(place("o2", "a"));
  CHECK_FALSE(again->completion.durable.ok());
  rig.clock.advance_ms(2);  // past it: the key is free
  CHECK(keyed(place("o3", "a"))->accepted());
}

TEST_CASE("the engine routes by seller and refuses what cannot reach one partition") {
  EngineRig rig(4);
  CHECK(rig.engine->partition_count() == 4u);
  const auto [alice, bob] = sellers_apart(rig);

  REQUIRE(rig.run(define("alice-mug", 5, alice))->accepted());
  REQUIRE(rig.run(define("bob-hat", 5, bob))->accepted());
  CHECK(rig.engine->router().seller_of(Sku{"alice-mug"}) == SellerId{alice});
  const PartitionState& alice_state = rig.engine->processor(rig.home(alice)).state_for_test();
  REQUIRE(alice_state.find_product(Sku{"alice-mug"}) != nullptr);
  CHECK(alice_state.find_product(Sku{"bob-hat"}) == nullptr);

  SUBCASE("lines of two sellers") {
    auto [res, r] =
        rig.submit(PlaceOrder{OrderId{"o1"},
                              CustomerId{"c"},
                              {{Sku{"alice-mug"}, Quantity{1}}, {Sku{"bob-hat"}, Quantity{1}}}});
    CHECK(res == SubmitResult::completed);
    REQUIRE(r->called);  // answered on the calling thread
    CHECK(r->completion.durable.ok());
    CHECK(r->code() == RejectCode::mixed_sellers);
    CHECK_FALSE(rig.engine->router().order(OrderId{"o1"}).has_value());
  }
  SUBCASE("an unknown sku") {
    auto [res, r] = rig.submit(place("o1", "nobody-sells-this"));
    CHECK(res == SubmitResult::completed);
    CHECK(r->code() == RejectCode::unknown_sku);
  }
  SUBCASE("stock of an unknown sku") {
    auto [res, r] = rig.submit(AdjustStock{Sku{"nope"}, Quantity{1}, ""});
    CHECK(res == SubmitResult::completed);
    CHECK(r->code() == RejectCode::not_found);
  }
  SUBCASE("a valid order goes to its seller's partition") {
    auto r = rig.run(place("o1", "bob-hat", 2));
    REQUIRE(r->accepted());
    CHECK(r->completion.position.partition == rig.home(bob));
    auto ref = rig.engine->router().order(OrderId{"o1"});
    REQUIRE(ref.has_value());
    CHECK(ref->partition == rig.home(bob));
    CHECK(ref->seller_id == SellerId{bob});
    const Product* hat =
        rig.engine->processor(rig.home(bob)).state_for_test().find_product(Sku{"bob-hat"});
    REQUIRE(hat != nullptr);
    CHECK(hat->reserved.value() == 2);
    // The order id is taken engine-wide now.
    auto [res, again] = rig.submit(place("o1", "alice-mug"));
    CHECK(res == SubmitResult::completed);
    CHECK(again->code() == RejectCode::already_exists);
  }
}

// The router claims a SKU at routing time so that no two partitions ever define it. A
// definition the partition then rejects must not free a claim that another in-flight
// definition of the same SKU still relies on.
TEST_CASE("a rejected definition does not free a SKU another definition still claims") {
  ProcessorConfig one_per_batch;
  one_per_batch.max_batch = 1;
  EngineRig rig(4, one_per_batch);
  const auto [alice, bob] = sellers_apart(rig);

  DefineProduct nameless = define("mug", 5, alice);
  nameless.name.clear();  // invalid_command, but only the partition finds out
  auto [res_bad, bad] = rig.submit(nameless);
  auto [res_good, good] = rig.submit(define("mug", 5, alice));
  CHECK(res_bad == SubmitResult::queued);
  CHECK(res_good == SubmitResult::queued);

  // Alice's partition rejects the first; the second is still queued behind it.
  CHECK(rig.engine->processor(rig.home(alice)).run_once() == 1u);
  CHECK(bad->code() == RejectCode::invalid_command);
  CHECK_FALSE(good->called);

  // Meanwhile another seller defines the same SKU: it must be refused at routing.
  auto [res_rival, rival] = rig.submit(define("mug", 5, bob));
  CHECK(res_rival == SubmitResult::completed);
  rig.drain();
  CHECK(good->accepted());
  CHECK_FALSE(rival->accepted());

  int holders = 0;
  for (uint32_t p = 0; p < rig.engine->partition_count(); ++p)
    holders +=
        rig.engine->processor(PartitionId{p}).state_for_test().find_product(Sku{"mug"}) != nullptr;
  CHECK(holders == 1);
  CHECK(rig.engine->router().seller_of(Sku{"mug"}) == SellerId{alice});
}

TEST_CASE("routed_offset() names only events whose ids the router already knows") {
  // The live feed reads no further than routed_offset() and looks an event's order up in the
  // router: a StockReserved read before the router learnt its order would lose its parties.
  // An observer spins on routed_offset() while the partition commits orders in batches: with
  // the offset published before the router is told, it catches the gap (nearly always).
  ProcessorConfig small_batches;
  small_batches.max_batch = 64;  // many group commits, each a chance to catch the gap
  EngineRig rig(1, small_batches);
  REQUIRE(rig.run(define("a", 1'000'000))->accepted());  // offset 0
  constexpr int kOrders = 4000;
  for (int i = 0; i < kOrders; ++i)
    REQUIRE(rig.submit(place(fmt::format("o-{}", i), "a")).first == SubmitResult::queued);
  PartitionProcessor& proc = rig.engine->processor(PartitionId{0});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    rig.drain();
    done = true;
  });
  // Order i's two events are at offsets 2i+1 and 2i+2.
  int next_order = 0;
  size_t unknown = 0;
  for (;;) {
    const bool finished = done;  // read first: the offset read after it is the last one
    const int64_t routed = proc.routed_offset();
    for (; next_order < kOrders && 2 * next_order + 1 <= routed; ++next_order)
      if (!rig.engine->router().order(OrderId{fmt::format("o-{}", next_order)})) ++unknown;
    if (finished) break;
  }
  writer.join();
  CHECK(next_order == kOrders);
  CHECK(unknown == 0u);
}

namespace {

using test::DiskFaults;
using test::FaultyFs;

PlaceOrder place_two(const std::string& id, int64_t qty) {
  return PlaceOrder{
      OrderId{id},
      CustomerId{"cust-1"},
      {OrderLineRequest{Sku{"a"}, Quantity{qty}}, OrderLineRequest{Sku{"b"}, Quantity{qty}}}};
}

// Nothing of the failed group is in the partition: `reserved` units of each product are
// held by the orders written around it.
void check_untouched_by_failed_group(Rig& rig, int64_t reserved = 1) {
  CHECK(rig.product("a").reserved.value() == reserved);
  CHECK(rig.product("b").reserved.value() == reserved);
  for (const char* id : {"f-1", "f-2", "f-3"})
    CHECK(rig.state().find_order(OrderId{id}) == nullptr);
  test::check_partition_invariants(rig.state());
}

// A partition over a disk that fails on demand, with products a and b (10 each) and order
// o-0 holding one of each; the reload after a failed write retries every `retry_ms`.
struct FaultyRig {
  std::shared_ptr<DiskFaults> faults = std::make_shared<DiskFaults>();
  Rig rig;
  explicit FaultyRig(int64_t retry_ms, bool disk_full = true)
      : rig(config(retry_ms), std::make_shared<FaultyFs>(faults)) {
    faults->disk_full = disk_full;
    rig.run_ok(define("a", 10));
    rig.run_ok(define("b", 10));
    rig.run_ok(place_two("o-0", 1));
  }
  static ProcessorConfig config(int64_t retry_ms) {
    ProcessorConfig c;
    c.recovery_retry = DurationMs{retry_ms};
    return c;
  }
  // Syncs fail from now on; a group of orders `ids` (two units of a and b each) is answered
  // with the failure.
  void fail_group(std::initializer_list<const char*> ids) {
    faults->fail_wal_sync = true;
    std::vector<ReplyPtr> failed;
    for (const char* id : ids) failed.push_back(rig.submit(place_two(id, 2)));
    CHECK(rig.proc->run_once() == ids.size());
    CHECK(faults->failed_syncs > 0);
    for (const auto& r : failed) {
      REQUIRE(r->called);
      CHECK_FALSE(r->completion.durable.ok());
    }
    CHECK_FALSE(rig.proc->health().writable);
  }
  // Submits `c` until it is written, at most 600 times 50 ms apart (RocksDB's own recovery
  // from no space polls for room every few seconds and answers Resume "busy" meanwhile).
  // After each refusal the partition is unready, and `check` runs.
  ReplyPtr retry_until_written(const Command& c, const std::function<void()>& check = {}) {
    ReplyPtr r;
    for (int attempt = 0; attempt < 600; ++attempt) {
      r = rig.submit(c);
      CHECK(rig.proc->run_once() == 1u);
      REQUIRE(r->called);
      if (r->completion.durable.ok()) break;
      CHECK_FALSE(rig.proc->health().writable);
      if (check) check();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
  }
  // A command is answered with the failure, and the partition stays unready.
  void expect_refused(const std::string& id) {
    auto r = rig.submit(place_two(id, 1));
    CHECK(rig.proc->run_once() == 1u);
    REQUIRE(r->called);
    CHECK_FALSE(r->completion.durable.ok());
    CHECK_FALSE(rig.proc->health().writable);
  }
};

}  // namespace

TEST_CASE("a failed WAL sync acknowledges nothing; writes resume once the disk has room") {
  FaultyRig f(0);  // the test decides when the disk has room
  Rig& rig = f.rig;
  auto& faults = f.faults;
  const int64_t tail_before = rig.tail().last_offset.value();

  // A group of three orders (nine events) whose sync fails: every one is answered with the
  // failure, and the partition reloads what the disk holds.
  f.fail_group({"f-1", "f-2", "f-3"});
  CHECK(rig.tail().last_offset.value() == tail_before);
  check_untouched_by_failed_group(rig);

  // Still full: a command fails, and readiness stays down across the reloads in between.
  for (int i = 0; i < 3; ++i) {
    f.expect_refused(fmt::format("g-{}", i));
    check_untouched_by_failed_group(rig);
  }

  // Room again. RocksDB's own recovery from a full disk polls for free space every few
  // seconds and answers Resume "busy" meanwhile, so the client retries (bounded) until the
  // store writes again; every refused attempt changes nothing.
  faults->fail_wal_sync = false;
  ReplyPtr r =
      f.retry_until_written(place_two("o-1", 1), [&] { check_untouched_by_failed_group(rig); });
  CHECK(r->accepted());
  CHECK(rig.proc->health().writable);
  CHECK(rig.product("a").reserved.value() == 2);
  check_chain(rig.read_all(), rig.tail());

  // A restart finds the same: the failed group left no event, no order, no reservation.
  rig.close();
  rig.open();
  check_chain(rig.read_all(), rig.tail());
  CHECK(rig.order("o-1").status == OrderStatus::reserved);
  check_untouched_by_failed_group(rig, 2);
}

TEST_CASE("a WAL sync error RocksDB cannot resume from keeps the partition unready until restart") {
  FaultyRig f(0, /*disk_full=*/false);
  Rig& rig = f.rig;
  auto& faults = f.faults;
  f.fail_group({"f-1", "f-2", "f-3"});
  check_untouched_by_failed_group(rig);

  // The device works again, but this process's RocksDB will not write: every command fails,
  // and /readyz stays down (no ready, failed, ready again in between).
  faults->fail_wal_sync = false;
  for (int i = 0; i < 3; ++i) f.expect_refused(fmt::format("g-{}", i));

  // A restart writes again. The failed group's bytes may have reached the file before its
  // sync failed; whatever RocksDB replays, the chain verifies and the books balance.
  rig.close();
  rig.open();
  check_chain(rig.read_all(), rig.tail());
  test::check_partition_invariants(rig.state());
  // One WriteBatch: the group is back whole or not at all (its clients were told to retry
  // with their keys, whose records are in the same batch).
  int present = 0;
  for (const char* id : {"f-1", "f-2", "f-3"})
    present += rig.state().find_order(OrderId{id}) != nullptr;
  CHECK((present == 0 || present == 3));
  auto r = rig.run(place_two("o-1", 1));
  CHECK(r->accepted());
  CHECK(rig.proc->health().writable);
  check_chain(rig.read_all(), rig.tail());
  test::check_partition_invariants(rig.state());
}

// Flushes the memtables of the log and the state (where the events and snapshots are).
rocksdb::Status flush_all(Rig& rig) {
  return rig.db->db().Flush(rocksdb::FlushOptions(), {rig.db->cf(Cf::log), rig.db->cf(Cf::state)});
}

TEST_CASE("a memtable flush that fails for want of space stops writes until one succeeds") {
  FaultyRig f(0);
  Rig& rig = f.rig;
  auto& faults = f.faults;
  const int64_t tail_before = rig.tail().last_offset.value();

  // A flush (RocksDB's background job) cannot write its table file. The data stays in the
  // memtable and the WAL, and RocksDB takes no more writes until a flush succeeds.
  faults->fail_table_writes = true;
  CHECK_FALSE(flush_all(rig).ok());
  CHECK(faults->failed_table_writes > 0);

  // Every command is answered with the failure, nothing of it written, and readiness is
  // down across the reloads in between.
  for (int i = 0; i < 3; ++i) {
    const std::string id = fmt::format("g-{}", i);
    f.expect_refused(id);
    CHECK(rig.state().find_order(OrderId{id}) == nullptr);
    CHECK(rig.product("a").reserved.value() == 1);
  }
  CHECK(rig.tail().last_offset.value() == tail_before);

  // Room again. Resuming retries the flush (asked before each batch; RocksDB's own recovery
  // from no space may answer "busy" for a few seconds meanwhile), bounded.
  faults->fail_table_writes = false;
  ReplyPtr r = f.retry_until_written(place_two("o-1", 1));
  CHECK(r->accepted());
  CHECK(rig.proc->health().writable);
  CHECK(flush_all(rig).ok());

  // A restart finds what was acknowledged, and nothing that was refused.
  rig.close();
  rig.open();
  check_chain(rig.read_all(), rig.tail());
  CHECK(rig.order("o-0").status == OrderStatus::reserved);
  CHECK(rig.order("o-1").status == OrderStatus::reserved);
  for (int i = 0; i < 3; ++i)
    CHECK(rig.state().find_order(OrderId{fmt::format("g-{}", i)}) == nullptr);
  CHECK(rig.product("a").reserved.value() == 2);
  test::check_partition_invariants(rig.state());
}

TEST_CASE("a compaction that cannot write loses nothing acknowledged, and writes go on after it") {
  // A compaction's output table cannot be written, for want of space or for a device error.
  // RocksDB decides whether that stops writes (its error handler's severity, not ours):
  // either way each command is acknowledged and kept, or refused and absent, and once the
  // disk works again the partition writes and the compaction succeeds.
  for (const bool disk_full : {true, false}) {
    CAPTURE(disk_full);
    FaultyRig f(0, disk_full);
    Rig& rig = f.rig;
    auto& faults = f.faults;
    auto compact_log = [&] {
      rocksdb::CompactRangeOptions o;
      // The log's files do not overlap (its keys only grow), so without this RocksDB would
      // move them down whole and write no table.
      o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      return rig.db->db().CompactRange(o, rig.db->cf(Cf::log), nullptr, nullptr);
    };
    // Three table files in the log's first level, so a compaction has work to do, and an
    // empty memtable, so the compaction below flushes nothing (a failed flush is the test
    // above).
    REQUIRE(flush_all(rig).ok());
    rig.run_ok(place_two("o-1", 1));
    REQUIRE(flush_all(rig).ok());
    rig.run_ok(place_two("o-2", 1));
    REQUIRE(flush_all(rig).ok());
    std::string files;
    REQUIRE(rig.db->db().GetProperty(rig.db->cf(Cf::log), "rocksdb.num-files-at-level0", &files));
    CHECK(files == "3");

    faults->fail_table_writes = true;
    CHECK_FALSE(compact_log().ok());
    CHECK(faults->failed_table_writes > 0);

    std::vector<std::string> acknowledged, refused;
    for (int i = 0; i < 4; ++i) {
      const std::string id = fmt::format("c-{}", i);
      auto r = rig.submit(place_two(id, 1));
      CHECK(rig.proc->run_once() == 1u);
      REQUIRE(r->called);
      if (r->completion.durable.ok()) {
        CHECK(r->accepted());
        CHECK(rig.proc->health().writable);
        CHECK(rig.state().find_order(OrderId{id}) != nullptr);
        acknowledged.push_back(id);
      } else {
        CHECK_FALSE(rig.proc->health().writable);
        CHECK(rig.state().find_order(OrderId{id}) == nullptr);
        refused.push_back(id);
      }
      test::check_partition_invariants(rig.state());
    }
    MESSAGE(acknowledged.size(), " acknowledged, ", refused.size(), " refused during the fault");

    faults->fail_table_writes = false;
    ReplyPtr r = f.retry_until_written(place_two("o-3", 1));
    CHECK(r->accepted());
    CHECK(rig.proc->health().writable);
    CHECK(compact_log().ok());

    rig.close();
    rig.open();
    check_chain(rig.read_all(), rig.tail());
    for (const char* id : {"o-0", "o-1", "o-2", "o-3"})
      CHECK(rig.order(id).status == OrderStatus::reserved);
    for (const auto& id : acknowledged) CHECK(rig.state().find_order(OrderId{id}) != nullptr);
    for (const auto& id : refused) CHECK(rig.state().find_order(OrderId{id}) == nullptr);
    CHECK(rig.product("a").reserved.value() == int64_t(4 + acknowledged.size()));
    test::check_partition_invariants(rig.state());
  }
}

TEST_CASE("with its thread running, a partition comes back by itself once the disk has room") {
  FaultyRig f(20);
  Rig& rig = f.rig;
  auto& faults = f.faults;
  f.fail_group({"f-1"});

  rig.proc->start();
  // While the disk is full, a command is refused without a write.
  Completion c = rig.run_threaded(place_two("g-1", 1));
  CHECK_FALSE(c.durable.ok());
  CHECK(c.durable.wrote_nothing());  // refused before a write (RocksDB's own recovery may
                                     // still try syncs meanwhile: not counted here)

  // Room again, and no command: the idle writer asks the store to resume until it does
  // (RocksDB's own recovery polls for space every few seconds; bounded here at a minute).
  faults->fail_wal_sync = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!rig.proc->health().writable && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(rig.proc->health().writable);

  // The first command after is written.
  Completion w = rig.run_threaded(place_two("o-1", 1));
  CHECK(w.durable.ok());
  CHECK_FALSE(w.outcome.rejection.has_value());
  rig.proc->stop();
  CHECK(rig.state().find_order(OrderId{"g-1"}) == nullptr);
  CHECK(rig.product("a").reserved.value() == 2);
  check_chain(rig.read_all(), rig.tail());
}

namespace {

// A disk whose free space the test sets.
struct SettableDiskSpace final : DiskSpace {
  std::atomic<uint64_t> free{uint64_t{1} << 40};
  std::atomic<bool> unmeasurable{false};
  Result<uint64_t> free_bytes() const override {
    if (unmeasurable) return Error{"statvfs: injected failure"};
    return free.load();
  }
};

constexpr uint64_t kReserve = uint64_t{64} << 20;

ProcessorConfig reserve_config(std::shared_ptr<const DiskSpace> disk) {
  ProcessorConfig c;
  c.min_free_disk_bytes = kReserve;
  c.disk_space = std::move(disk);
  return c;
}

}  // namespace

TEST_CASE("a nearly full disk refuses writes before RocksDB sees them; they resume with room") {
  auto disk = std::make_shared<SettableDiskSpace>();
  Rig rig(reserve_config(disk));
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 2));
  const int64_t due = rig.order("o1").expires_at.value();
  const int64_t tail_before = rig.tail().last_offset.value();

  // One byte short of the reserve: the order is refused unwritten, and /readyz says why.
  disk->free = kReserve - 1;
  auto refused = rig.submit(place("o2", "a", 1));
  CHECK(rig.proc->run_once() == 1u);
  REQUIRE(refused->called);
  CHECK_FALSE(refused->completion.durable.ok());
  CHECK(refused->completion.durable.wrote_nothing());
  const auto health = rig.proc->health();
  CHECK_FALSE(health.writable);
  CHECK_MESSAGE(health.error.find("63 MiB free") != std::string::npos, health.error);
  CHECK_MESSAGE(health.error.find("pause below 64 MiB") != std::string::npos, health.error);
  CHECK(refused->completion.durable.message().find("nearly full") != std::string::npos);

  // o1's reservation comes due meanwhile: its expiry is refused too, and not lost.
  rig.clock.set_ms(due);
  CHECK(rig.proc->run_once() == 1u);
  CHECK(rig.order("o1").status == OrderStatus::reserved);
  CHECK(rig.state().find_order(OrderId{"o2"}) == nullptr);
  CHECK(rig.product("a").reserved.value() == 2);
  CHECK(rig.tail().last_offset.value() == tail_before);

  // Back at the reserve: still paused, so that free space wobbling around the line does not
  // toggle writes. They resume from an eighth above it.
  disk->free = kReserve;
  auto still = rig.submit(place("o3", "a", 1));
  CHECK(rig.proc->run_once() == 2u);  // o3, and o1's expiry again
  CHECK_FALSE(still->completion.durable.ok());
  CHECK(rig.order("o1").status == OrderStatus::reserved);
  CHECK(rig.tail().last_offset.value() == tail_before);

  // An eighth above: the next group is written, with o1's expiry in it.
  disk->free = kReserve + kReserve / 8;
  auto placed = rig.submit(place("o2", "a", 1));
  CHECK(rig.proc->run_once() == 2u);
  CHECK(placed->accepted());
  CHECK(rig.proc->health().writable);
  CHECK(rig.order("o1").status == OrderStatus::expired);
  CHECK(rig.product("a").reserved.value() == 1);
  CHECK(rig.proc->run_once() == 0u);  // the expiry fired once
  check_chain(rig.read_all(), rig.tail());
  test::check_partition_invariants(rig.state());
}

TEST_CASE("with its thread running, readiness follows the disk's free space without a command") {
  auto disk = std::make_shared<SettableDiskSpace>();
  Rig rig(reserve_config(disk));
  rig.run_ok(define("a", 5));
  rig.proc->start();
  // Polls for a state the idle writer reaches by itself (bounded at a minute).
  auto wait_writable = [&](bool want) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (rig.proc->health().writable != want && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return rig.proc->health().writable == want;
  };

  disk->free = 0;
  REQUIRE(wait_writable(false));
  Completion c = rig.run_threaded(place("o1", "a", 1));
  CHECK_FALSE(c.durable.ok());
  CHECK(c.durable.wrote_nothing());

  disk->free = kReserve * 2;
  REQUIRE(wait_writable(true));
  Completion w = rig.run_threaded(place("o2", "a", 1));
  CHECK(w.durable.ok());
  CHECK_FALSE(w.outcome.rejection.has_value());
  rig.proc->stop();
  CHECK(rig.state().find_order(OrderId{"o1"}) == nullptr);
  CHECK(rig.product("a").reserved.value() == 1);
  check_chain(rig.read_all(), rig.tail());
}

TEST_CASE("free space that cannot be measured does not hold writes back") {
  auto disk = std::make_shared<SettableDiskSpace>();
  Rig rig(reserve_config(disk));
  rig.run_ok(define("a", 5));
  disk->free = 0;
  auto refused = rig.submit(place("o1", "a", 1));
  CHECK(rig.proc->run_once() == 1u);
  CHECK_FALSE(refused->completion.durable.ok());
  CHECK_FALSE(rig.proc->health().writable);
  // The measurement fails (logged once): the pause ends, and RocksDB's own error handling
  // stands behind the writes.
  disk->unmeasurable = true;
  rig.run_ok(place("o1", "a", 1));
  CHECK(rig.proc->health().writable);
  CHECK(rig.product("a").reserved.value() == 1);
}

TEST_CASE("a stop on a nearly full disk skips the final snapshot; the next start replays") {
  auto disk = std::make_shared<SettableDiskSpace>();
  Rig rig(reserve_config(disk));  // snapshots every 8 group commits: none yet
  rig.run_ok(define("a", 5));
  rig.run_ok(place("o1", "a", 2));
  auto applied = [&] {
    PartitionState loaded;
    Offset at{-1};
    auto s = rig.store->load_partition(rig.pid, loaded, at);
    REQUIRE_MESSAGE(s.ok(), s.message());
    return at.value();
  };
  REQUIRE(applied() == -1);
  disk->free = 0;
  rig.proc->start();
  rig.proc->stop();
  CHECK(applied() == -1);  // nothing written at the stop
  rig.close();
  rig.open();  // replays the log from its start
  CHECK(rig.product("a").reserved.value() == 2);
  CHECK(rig.order("o1").status == OrderStatus::reserved);

  // With room, the stop writes its snapshot at the log's tail.
  disk->free = uint64_t{1} << 40;
  rig.proc->start();
  rig.proc->stop();
  CHECK(applied() == rig.tail().last_offset.value());
}

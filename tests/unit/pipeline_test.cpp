// The partition writer with its threads: the writer decides the next group while the
// committer writes the previous one. A group decided on top of one whose write failed must
// fail too, and the writer must reload from disk before deciding anything more.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

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

constexpr auto kWaitBound = std::chrono::seconds(30);  // a bound for a hung test, not timing

// The RocksDB log with a gate in front: the append the test names blocks until the gate
// opens, then fails without writing anything.
class GatedLog final : public test::ForwardingLog {
 public:
  using ForwardingLog::ForwardingLog;

  void block_append(int n) {
    std::lock_guard lock(mu_);
    blocked_append_ = n;
  }
  // Waits until the blocked append has arrived.
  bool wait_blocked() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitBound, [&] { return arrived_; });
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  Status append(PartitionId p, std::span<Envelope> events, const DeltaBuilder& b) override {
    {
      std::unique_lock lock(mu_);
      if (++appends_ == blocked_append_) {
        arrived_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, kWaitBound, [&] { return open_; });
        return Error{"injected append failure"};
      }
    }
    return inner_.append(p, events, b);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int appends_ = 0;
  int blocked_append_ = -1;
  bool arrived_ = false;
  bool open_ = false;
};

// A completion that another thread fills in.
struct Reply {
  std::mutex mu;
  std::condition_variable cv;
  bool called = false;
  Completion completion;

  bool wait() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWaitBound, [&] { return called; });
  }
  bool accepted() {
    std::lock_guard lock(mu);
    return called && completion.durable.ok() && !completion.outcome.rejection;
  }
  bool failed() {
    std::lock_guard lock(mu);
    return called && !completion.durable.ok();
  }
};
using ReplyPtr = std::shared_ptr<Reply>;

struct ThreadedRig {
  test::TempDir dir{"pipeline"};
  ManualClock clock;
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<RocksDbLog> rocks_log;
  std::unique_ptr<GatedLog> log;
  std::unique_ptr<StateStore> store;
  Router router{1};
  std::unique_ptr<PartitionProcessor> proc;
  const PartitionId pid{0};

  ThreadedRig() {
    auto d = RocksDb::open(dir.sub("rocksdb"));
    REQUIRE_MESSAGE(d.ok(), test::error_of(d));
    db = std::move(d.value());
    auto l = RocksDbLog::open(*db, 1);
    REQUIRE_MESSAGE(l.ok(), test::error_of(l));
    rocks_log = std::move(l.value());
    log = std::make_unique<GatedLog>(*rocks_log);
    store = std::make_unique<StateStore>(*db);
    proc =
        std::make_unique<PartitionProcessor>(pid, *log, *store, clock, router, ProcessorConfig{});
    auto s = proc->recover();
    REQUIRE_MESSAGE(s.ok(), s.message());
    proc->start();
  }
  ~ThreadedRig() {
    log->open_gate();
    proc->stop();
  }

  ReplyPtr submit(Command c) {
    auto reply = std::make_shared<Reply>();
    Submission s;
    s.meta.command_id = fmt::format("cmd-{}", static_cast<const void*>(reply.get()));
    s.meta.correlation_id = s.meta.command_id;
    s.meta.actor = Actor{"user-1", "buyer"};
    s.command = std::move(c);
    s.done = [reply](Completion&& done) {
      std::lock_guard lock(reply->mu);
      CHECK_FALSE(reply->called);  // exactly once
      reply->called = true;
      reply->completion = std::move(done);
      reply->cv.notify_all();
    };
    REQUIRE(proc->try_submit(std::move(s)));
    return reply;
  }
  // Waits until the writer has decided `n` commands in all (durable or not).
  void wait_decided(uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + kWaitBound;
    while (proc->stats().decided < n) {
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::yield();
    }
  }
};

PlaceOrder place(const std::string& id, int64_t qty) {
  return PlaceOrder{OrderId{id}, CustomerId{"cust-1"}, {OrderLineRequest{Sku{"a"}, Quantity{qty}}}};
}

}  // namespace

TEST_CASE("a group decided on top of a failed write fails too, and the writer reloads from disk") {
  ThreadedRig rig;
  auto defined = rig.submit(
      DefineProduct{Sku{"a"}, SellerId{"s"}, "A", AmountMinor{100}, Currency{"USD"}, Quantity{10}});
  REQUIRE(defined->wait());
  REQUIRE(defined->accepted());

  // The next append (the first order's group) blocks in the log, then fails.
  rig.log->block_append(2);
  auto first = rig.submit(place("o1", 6));
  REQUIRE(rig.log->wait_blocked());
  // While it is on its way to disk, the writer decides the next group on top of it: with
  // o1's 6 units reserved in memory, o2 (6 more) is out of stock and o3 (3) fits.
  auto second = rig.submit(place("o2", 6));
  auto third = rig.submit(place("o3", 3));
  rig.wait_decided(4);  // the product, o1, o2 and o3: all decided while o1's write is held
  rig.log->open_gate();

  for (auto* r : {&first, &second, &third}) REQUIRE((*r)->wait());
  CHECK(first->failed());
  // Both outcomes of the second group assumed o1's reservation, which never reached the
  // disk: neither the rejection nor the acceptance may be given.
  CHECK(second->failed());
  CHECK(third->failed());

  // After the reload the partition is as the disk says: 10 available, no orders.
  auto again = rig.submit(place("o2", 6));
  auto more = rig.submit(place("o1", 4));
  REQUIRE(again->wait());
  REQUIRE(more->wait());
  CHECK(again->accepted());
  CHECK(more->accepted());  // o1's id was never taken: its claim went with the failure
  auto over = rig.submit(place("o4", 1));
  REQUIRE(over->wait());
  {
    std::lock_guard lock(over->mu);
    REQUIRE(over->completion.outcome.rejection.has_value());
    CHECK(over->completion.outcome.rejection->code == RejectCode::out_of_stock);
  }
  rig.proc->stop();

  // The log holds the product and the two accepted orders, chained and nothing else.
  auto events = rig.rocks_log->read(rig.pid, Offset{0}, 1000);
  REQUIRE(events.ok());
  std::vector<std::string> types;
  std::string prev = kGenesisHash;
  for (const auto& e : events.value()) {
    types.push_back(e.type);
    CHECK(e.prev_hash == prev);
    CHECK(compute_hash(e) == e.hash);
    prev = e.hash;
  }
  CHECK(types == std::vector<std::string>{"ProductDefined", "OrderPlaced", "StockReserved",
                                          "OrderPlaced", "StockReserved"});
  const Product* a = rig.proc->state_for_test().find_product(Sku{"a"});
  REQUIRE(a != nullptr);
  CHECK(a->on_hand.value() == 10);
  CHECK(a->reserved.value() == 10);
  CHECK(rig.proc->state_for_test().orders.size() == 2u);
}

TEST_CASE("the threaded writer answers every command of many groups, in order, durably") {
  ThreadedRig rig;
  auto defined = rig.submit(DefineProduct{Sku{"a"}, SellerId{"s"}, "A", AmountMinor{100},
                                          Currency{"USD"}, Quantity{500}});
  REQUIRE(defined->wait());
  std::vector<ReplyPtr> replies;
  for (int i = 0; i < 2000; ++i) replies.push_back(rig.submit(place("o" + std::to_string(i), 1)));
  int accepted = 0;
  int64_t last_offset = -1;
  for (auto& r : replies) {
    REQUIRE(r->wait());
    std::lock_guard lock(r->mu);
    REQUIRE(r->completion.durable.ok());
    if (!r->completion.outcome.rejection) {
      // Accepted orders were written in the order they were submitted.
      CHECK(r->completion.position.offset.value() > last_offset);
      last_offset = r->completion.position.offset.value();
      ++accepted;
    } else {
      CHECK(r->completion.outcome.rejection->code == RejectCode::out_of_stock);
    }
  }
  CHECK(accepted == 500);
  rig.proc->stop();
  auto tail = rig.rocks_log->tail(rig.pid);
  REQUIRE(tail.ok());
  CHECK(tail->last_offset.value() == 1 + 2 * 500 - 1);
  CHECK(rig.proc->state_for_test().find_product(Sku{"a"})->reserved.value() == 500);

  // Reading by type skips the rest without decoding it, and says how far it looked.
  Offset scanned{-1};
  auto placed = rig.rocks_log->read_types(
      rig.pid, Offset{0}, 10'000, [](std::string_view t) { return t == "OrderPlaced"; }, scanned);
  REQUIRE(placed.ok());
  CHECK(placed->size() == 500u);
  for (const auto& e : placed.value()) CHECK(e.type == "OrderPlaced");
  CHECK(scanned == tail->last_offset);
  auto first_ten = rig.rocks_log->read_types(
      rig.pid, Offset{0}, 10, [](std::string_view) { return false; }, scanned);
  REQUIRE(first_ten.ok());
  CHECK(first_ten->empty());
  CHECK(scanned.value() == 9);
}

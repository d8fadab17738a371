// Seeded simulation: random command streams through the real partition processor (real
// RocksDB, injected clock) checked after every step against a plain reference model, with
// injected faults: failed appends, crashes (the process dies between group commits and
// recovers from the snapshot + log), a nearly full disk (every group commit refused
// unwritten, timers included, until there is room again), duplicate deliveries and clock
// jumps.
// A failure prints its seed; ORDO_SIM_SEED=<seed> reruns exactly that case.
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "tests/support/forwarding_log.hpp"
#include "engine/domain/decide.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/partition_processor.hpp"
#include "engine/runtime/router.hpp"
#include "engine/state/state_store.hpp"

using namespace ordo;

namespace {

constexpr int64_t kTtlMs = 60'000;

// The log with a fault injector in front: an append may fail before anything is written.
class FaultyLog final : public test::ForwardingLog {
 public:
  FaultyLog(EventLog& inner, std::mt19937_64& rng) : ForwardingLog(inner), rng_(rng) {}
  bool fail_next = false;
  Status append(PartitionId p, std::span<Envelope> events, const DeltaBuilder& b) override {
    if (fail_next) {
      fail_next = false;
      return Error{"injected append failure"};
    }
    return inner_.append(p, events, b);
  }

 private:
  [[maybe_unused]] std::mt19937_64& rng_;
};

// The reference model: plain maps and the rules as a person would state them.
struct Model {
  struct Product {
    std::string seller;
    int64_t on_hand = 0, reserved = 0;
  };
  struct Order {
    std::vector<std::pair<std::string, int64_t>> lines;
    std::string status;
    int64_t expires_at = 0;
  };
  std::map<std::string, Product> products;
  std::map<std::string, Order> orders;

  std::optional<RejectCode> define(const std::string& sku, const std::string& seller,
                                   int64_t stock) {
    if (products.count(sku)) return RejectCode::already_exists;
    products[sku] = {seller, stock, 0};
    return std::nullopt;
  }
  std::optional<RejectCode> adjust(const std::string& sku, int64_t delta) {
    auto it = products.find(sku);
    if (it == products.end()) return RejectCode::not_found;
    if (it->second.on_hand + delta < it->second.reserved) return RejectCode::stock_below_reserved;
    it->second.on_hand += delta;
    return std::nullopt;
  }
  std::optional<RejectCode> place(const std::string& id,
                                  const std::vector<std::pair<std::string, int64_t>>& lines,
                                  int64_t now) {
    std::string seller;
    for (const auto& [sku, qty] : lines) {
      auto it = products.find(sku);
      if (it == products.end()) return RejectCode::unknown_sku;
      if (!seller.empty() && it->second.seller != seller) return RejectCode::mixed_sellers;
      seller = it->second.seller;
    }
    if (orders.count(id)) return RejectCode::already_exists;
    for (const auto& [sku, qty] : lines)
      if (products[sku].on_hand - products[sku].reserved < qty) return RejectCode::out_of_stock;
    for (const auto& [sku, qty] : lines) products[sku].reserved += qty;
    orders[id] = {lines, "reserved", now + kTtlMs};
    return std::nullopt;
  }
  std::optional<RejectCode> cancel(const std::string& id) {
    auto it = orders.find(id);
    if (it == orders.end()) return RejectCode::not_found;
    if (it->second.status != "reserved") return RejectCode::invalid_transition;
    release(it->second, "cancelled");
    return std::nullopt;
  }
  // The partition's timer: due reservations expire, at most 64 per group commit, by due time.
  void expire_due(int64_t now) {
    std::vector<std::pair<int64_t, std::string>> due;
    for (auto& [id, o] : orders)
      if (o.status == "reserved" && o.expires_at <= now) due.emplace_back(o.expires_at, id);
    std::sort(due.begin(), due.end());
    if (due.size() > 64) due.resize(64);
    for (const auto& [t, id] : due) release(orders[id], "expired");
  }
  void release(Order& o, const char* status) {
    for (const auto& [sku, qty] : o.lines) products[sku].reserved -= qty;
    o.status = status;
  }
};

// The disk under the data directory: nearly full or not, as the simulation says.
struct SimDisk final : DiskSpace {
  bool low = false;
  Result<uint64_t> free_bytes() const override { return low ? uint64_t{0} : uint64_t{1} << 40; }
};

struct Rig {
  std::string dir;
  std::shared_ptr<SimDisk> disk = std::make_shared<SimDisk>();  // outlives a crash
  ManualClock clock;
  std::mt19937_64& rng;
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<RocksDbLog> log;
  std::unique_ptr<FaultyLog> faulty;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Router> router;
  std::unique_ptr<PartitionProcessor> proc;

  Rig(std::string d, std::mt19937_64& r) : dir(std::move(d)), rng(r) { open(); }

  void open() {
    auto d = RocksDb::open(dir);
    REQUIRE(d.ok());
    db = std::move(d.value());
    auto l = RocksDbLog::open(*db, 1);
    REQUIRE(l.ok());
    log = std::move(l.value());
    faulty = std::make_unique<FaultyLog>(*log, rng);
    store = std::make_unique<StateStore>(*db);
    router = std::make_unique<Router>(1);
    ProcessorConfig cfg;
    cfg.reservation_ttl = DurationMs{kTtlMs};
    cfg.snapshot_every_batches = 1 + rng() % 8;  // vary how much a recovery must replay
    cfg.disk_space = disk;
    proc =
        std::make_unique<PartitionProcessor>(PartitionId{0}, *faulty, *store, clock, *router, cfg);
    auto s = proc->recover();
    REQUIRE_MESSAGE(s.ok(), s.message());
  }

  // The process dies between group commits: nothing in memory survives.
  void crash() {
    proc.reset();
    router.reset();
    store.reset();
    faulty.reset();
    log.reset();
    db.reset();
    open();
  }

  // Runs one command through routing and one group commit; returns its outcome, or
  // nullopt when the append failed (nothing was written).
  std::optional<std::optional<RejectCode>> run(Command c) {
    Route r = router->route(c);
    if (auto* rej = std::get_if<Rejection>(&r)) {
      faulty->fail_next = false;  // no command reaches the log; only timers run
      proc->run_once();
      return std::optional<RejectCode>{rej->code};
    }
    // A failed append is followed by a recovery at once (run inline), which settles every
    // claim it left in doubt.
    REQUIRE(std::holds_alternative<Routed>(r));
    std::optional<Completion> done;
    Submission s;
    s.command = std::move(c);
    s.owns_claim = std::get<Routed>(r).owns_claim;
    s.meta.command_id = s.meta.correlation_id = "sim";
    s.meta.actor = Actor{"sim", "admin"};
    s.done = [&](Completion&& x) { done = std::move(x); };
    REQUIRE(proc->try_submit(std::move(s)));
    proc->run_once();
    REQUIRE(done.has_value());
    if (!done->durable) return std::nullopt;
    if (done->outcome.rejection) return std::optional<RejectCode>{done->outcome.rejection->code};
    return std::optional<RejectCode>{};
  }
};

void compare(const Model& m, const PartitionState& s) {
  REQUIRE(s.products.size() == m.products.size());
  for (const auto& [sku, p] : m.products) {
    const Product* sp = s.find_product(Sku{sku});
    REQUIRE_MESSAGE(sp, sku);
    CHECK_MESSAGE(sp->on_hand.value() == p.on_hand, sku);
    CHECK_MESSAGE(sp->reserved.value() == p.reserved, sku);
  }
  REQUIRE(s.orders.size() == m.orders.size());
  for (const auto& [id, o] : m.orders) {
    const Order* so = s.find_order(OrderId{id});
    REQUIRE_MESSAGE(so, id);
    CHECK_MESSAGE(to_string(so->status) == o.status, id);
  }
  std::string why;
  CHECK_MESSAGE(check_invariants(s, &why), why);
}

void run_seed(uint64_t seed, int steps) {
  INFO("seed " << seed << " (rerun: ORDO_SIM_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("ordo-sim-{}-{}", ::getpid(), seed))
          .string();
  std::filesystem::remove_all(dir);
  {
    Rig rig(dir, rng);
    Model model;
    const char* sellers[] = {"s1", "s2"};
    int next_order = 0;
    for (int step = 0; step < steps; ++step) {
      // Clock: small steps, now and then a jump past the reservation TTL.
      rig.clock.advance_ms(rng() % 10 == 0 ? kTtlMs + int64_t(rng() % kTtlMs)
                                           : int64_t(rng() % 2000));
      const int64_t now = rig.clock.now().value();
      const bool inject_failure = rng() % 20 == 0;
      rig.faulty->fail_next = inject_failure;
      // Now and then the disk fills up for a few steps. While it is nearly full nothing is
      // written, due timers included: the model expires nothing either.
      if (rng() % (rig.disk->low ? 4 : 40) == 0) rig.disk->low = !rig.disk->low;
      const bool disk_low = rig.disk->low;

      std::optional<std::optional<RejectCode>> got;
      std::optional<RejectCode> want;
      Model before = model;
      int kind = int(rng() % 100);
      if (kind < 10) {
        std::string sku = fmt::format("k{}", rng() % 8);
        std::string seller = sellers[rng() % 2];
        int64_t stock = int64_t(rng() % 20);
        want = model.define(sku, seller, stock);
        got = rig.run(DefineProduct{Sku{sku}, SellerId{seller}, "item", AmountMinor{100},
                                    Currency{"EUR"}, Quantity{stock}});
      } else if (kind < 20) {
        std::string sku = fmt::format("k{}", rng() % 8);
        int64_t delta = int64_t(rng() % 15) - 7;
        if (delta == 0) delta = 3;
        want = model.adjust(sku, delta);
        got = rig.run(AdjustStock{Sku{sku}, Quantity{delta}, "sim"});
      } else if (kind < 70) {
        // Sometimes a duplicate delivery of an earlier order id.
        std::string id = (next_order > 0 && rng() % 8 == 0) ? fmt::format("o{}", rng() % next_order)
                                                            : fmt::format("o{}", next_order++);
        std::vector<std::pair<std::string, int64_t>> lines;
        int n = 1 + int(rng() % 3);
        std::set<std::string> used;
        for (int i = 0; i < n; ++i) {
          std::string sku = fmt::format("k{}", rng() % 8);
          if (used.insert(sku).second) lines.emplace_back(sku, 1 + int64_t(rng() % 4));
        }
        std::vector<OrderLineRequest> req;
        for (const auto& [sku, qty] : lines) req.push_back({Sku{sku}, Quantity{qty}});
        want = model.place(id, lines, now);
        got = rig.run(PlaceOrder{OrderId{id}, CustomerId{"c"}, req});
      } else if (kind < 90) {
        std::string id = fmt::format("o{}", next_order ? rng() % (next_order + 1) : 0);
        want = model.cancel(id);
        got = rig.run(CancelOrder{OrderId{id}, "sim", std::nullopt});
      } else {
        // No command: only the timer runs.
        rig.faulty->fail_next = false;
        rig.proc->run_once();
        if (!disk_low) model.expire_due(now);
        compare(model, rig.proc->state_for_test());
        continue;
      }
      if (!got.has_value()) {
        // The append failed: nothing happened, not even the timers of that batch.
        model = before;
      } else {
        CHECK_MESSAGE(got.value() == want,
                      "step " << step << ": engine "
                              << (got.value() ? to_string(*got.value()) : "accepted") << ", model "
                              << (want ? to_string(*want) : "accepted"));
        if (got.value() != want) return;
        if (!disk_low) model.expire_due(now);  // (a router's rejection ran only the timers)
      }
      compare(model, rig.proc->state_for_test());
      if (rng() % 25 == 0) {
        rig.crash();
        compare(model, rig.proc->state_for_test());
      }
    }
    // The chain verifies end to end.
    std::string prev = kGenesisHash;
    for (Offset from{0};;) {
      auto batch = rig.log->read(PartitionId{0}, from, 1000);
      REQUIRE(batch.ok());
      if (batch->empty()) break;
      for (const auto& e : batch.value()) {
        REQUIRE(e.prev_hash == prev);
        REQUIRE(compute_hash(e) == e.hash);
        prev = e.hash;
      }
      from = Offset{batch->back().offset.value() + 1};
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

TEST_CASE("simulation: random commands with faults agree with the reference model") {
  if (const char* s = std::getenv("ORDO_SIM_SEED")) {
    run_seed(std::stoull(s), 400);
    return;
  }
  const uint64_t base = std::random_device{}();
  for (uint64_t i = 0; i < 25; ++i) run_seed(base + i, 300);
}

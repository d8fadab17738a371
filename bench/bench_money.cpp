// In-process benchmark: wallet-paid orders settled end to end per second, durable (embedded
// RocksDB, every group commit fsync'd), through the partition processors and the process
// managers (FlowManager), with 1 or more partitions. Next to it, in the same run, the raw
// RocksDB baseline: one writer appending the same number of events, of the same average
// size, in the same number of WriteBatches (so the same average batch size), with sync=true.
//
// One order, as a client would drive it (each step waits for the previous one):
//   PlaceOrder → PayOrder (wallet) → wait for "payment:{payment_id}" (the FlowManager has
//   run InitiatePayment on the ledger partition and MarkOrderPaid on the order's) →
//   ShipOrder → DeliverOrder → ConfirmOrder → wait for "escrow:{order_id}" (ReleaseEscrow
//   has run on the ledger partition). Settle latency is from PlaceOrder's submission to the
//   escrow's release being seen. Buyers' wallets are funded before the clock starts.
//
//   bench_money [--orders N] [--window W] [--partitions P] [--buyers B] [--sellers S] [--dir PATH]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/closed_loop.hpp"
#include "bench/raw_rocksdb.hpp"
#include "engine/log/envelope.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/runtime/flow_manager.hpp"

using namespace ordo;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int64_t kPrice = 1999;    // per unit, EUR minor units
constexpr int kLineQty[] = {1, 2};  // two lines per order, both from the order's seller

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_money: %s\n", what.c_str());
  std::exit(1);
}

long peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

enum class Step { place, pay, ship, deliver, confirm, settled };

// Drives `orders` lifecycles with at most `window` orders in flight. Completions (partition
// threads) and flow notifications (the FlowManager's thread) must not block, so they only
// queue the order's next step; the calling thread submits it.
class Driver {
 public:
  Driver(Engine& engine, FlowManager& flows, uint64_t orders, uint64_t window, uint32_t sellers,
         uint32_t buyers)
      : engine_(engine),
        flows_(flows),
        orders_(orders),
        window_(window),
        sellers_(sellers),
        buyers_(buyers),
        started_at_(orders),
        latency_us_(orders),
        gates_(orders) {}

  void run() {
    uint64_t launched = 0, settled = 0;
    for (; launched < std::min(window_, orders_); ++launched) start(launched);
    auto last_progress = Steady::now();
    while (settled < orders_) {
      std::pair<uint64_t, Step> item;
      {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, std::chrono::seconds(10),
                          [&] { return !queue_.empty() || !failure_.empty(); })) {
          // Not a timing check: a hang guard, so a lost notification ends the run with a message.
          if (Steady::now() - last_progress > std::chrono::seconds(300))
            die("no order has made progress for 300 s (" + std::to_string(settled) + " settled)");
          continue;
        }
        if (!failure_.empty()) die(failure_);
        item = queue_.front();
        queue_.pop_front();
      }
      last_progress = Steady::now();
      if (item.second == Step::settled) {
        latency_us_[item.first] =
            std::chrono::duration<double, std::micro>(Steady::now() - started_at_[item.first])
                .count();
        ++settled;
        if (launched < orders_) start(launched++);
      } else {
        submit_step(item.first, item.second);
      }
    }
  }

  const std::vector<double>& latencies_us() const { return latency_us_; }

 private:
  static std::string order_id(uint64_t i) { return "order-" + std::to_string(i); }
  static std::string payment_id(uint64_t i) { return "pay-" + std::to_string(i); }
  std::string seller(uint64_t i) const { return std::to_string(i % sellers_); }

  void start(uint64_t i) {
    started_at_[i] = Steady::now();
    submit_step(i, Step::place);
  }

  void push(uint64_t i, Step s) {
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back(i, s);
    }
    cv_.notify_one();
  }

  void fail(std::string why) {
    {
      std::lock_guard lock(mu_);
      if (failure_.empty()) failure_ = std::move(why);
    }
    cv_.notify_one();
  }

  // Two things must happen before the order moves on from a waiting point: its command is
  // durable, and the flow it started has ended (either may be seen first).
  void arrive(uint64_t i, Step next) {
    if (gates_[i].fetch_add(1) == 1) {
      gates_[i].store(0);
      push(i, next);
    }
  }

  void submit_step(uint64_t i, Step step) {
    const std::string oid = order_id(i);
    Command cmd;
    std::function<void()> on_done;
    switch (step) {
      case Step::place: {
        const std::string s = seller(i);
        cmd = PlaceOrder{OrderId{oid},
                         CustomerId{"buyer-" + std::to_string(i % buyers_)},
                         {{Sku{"sku-" + s + "-a"}, Quantity{kLineQty[0]}},
                          {Sku{"sku-" + s + "-b"}, Quantity{kLineQty[1]}}}};
        on_done = [this, i] { push(i, Step::pay); };
        break;
      }
      case Step::pay:
        // Watch before submitting, so that the outcome cannot pass unseen.
        flows_.watch("payment:" + payment_id(i), [this, i](const FlowOutcome& o) {
          if (o.status != "paid")
            return fail("order " + order_id(i) + ": payment " + o.status + " " + o.detail);
          arrive(i, Step::ship);
        });
        cmd = PayOrder{OrderId{oid}, PaymentId{payment_id(i)}, PaymentMethod::wallet, std::nullopt};
        on_done = [this, i] { arrive(i, Step::ship); };
        break;
      case Step::ship:
        cmd = ShipOrder{OrderId{oid}, std::nullopt};
        on_done = [this, i] { push(i, Step::deliver); };
        break;
      case Step::deliver:
        cmd = DeliverOrder{OrderId{oid}, std::nullopt};
        on_done = [this, i] { push(i, Step::confirm); };
        break;
      case Step::confirm:
        flows_.watch("escrow:" + oid, [this, i](const FlowOutcome& o) {
          if (o.status != "released")
            return fail("order " + order_id(i) + ": escrow " + o.status + " " + o.detail);
          arrive(i, Step::settled);
        });
        cmd = ConfirmOrder{OrderId{oid}, std::nullopt};
        on_done = [this, i] { arrive(i, Step::settled); };
        break;
      case Step::settled:
        return;
    }
    Submission sub;
    sub.command = std::move(cmd);
    sub.meta.command_id = "bench-" + oid;
    sub.meta.correlation_id = oid;
    sub.meta.actor = Actor{"bench", "admin"};
    sub.done = [this, i, on_done = std::move(on_done)](Completion&& c) {
      if (!c.durable) return fail("order " + order_id(i) + ": " + c.durable.message());
      if (c.outcome.rejection)
        return fail("order " + order_id(i) + ": rejected " +
                    std::string(to_string(c.outcome.rejection->code)) + ": " +
                    c.outcome.rejection->detail);
      on_done();
    };
    while (engine_.submit(std::move(sub)) == SubmitResult::overloaded) std::this_thread::yield();
  }

  Engine& engine_;
  FlowManager& flows_;
  const uint64_t orders_, window_;
  const uint32_t sellers_, buyers_;
  std::vector<Steady::time_point> started_at_;
  std::vector<double> latency_us_;
  std::vector<std::atomic<int>> gates_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, Step>> queue_;
  std::string failure_;
};

struct Totals {
  uint64_t events = 0, batches = 0, commands = 0;
};

Totals totals(Engine& e) {
  Totals t;
  for (uint32_t p = 0; p < e.partition_count(); ++p) {
    auto s = e.processor(PartitionId{p}).stats();
    t.events += s.events;
    t.batches += s.batches;
    t.commands += s.commands;
  }
  return t;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t orders = 20'000, window = 256;
  uint32_t partitions = 1, buyers = 2048, sellers = 16;
  std::string dir = (std::filesystem::temp_directory_path() / "ordo-bench-money").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--orders")
      orders = std::stoull(argv[i + 1]);
    else if (a == "--window")
      window = std::stoull(argv[i + 1]);
    else if (a == "--partitions")
      partitions = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--buyers")
      buyers = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--sellers")
      sellers = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--dir")
      dir = argv[i + 1];
    else
      die("unknown option " + a);
  }
  if (orders == 0 || window == 0 || partitions == 0 || buyers == 0 || sellers == 0)
    die("counts must be positive");
  std::filesystem::remove_all(dir);

  SystemClock clock;
  EngineConfig cfg;
  cfg.data_dir = dir + "/engine";
  cfg.partitions = partitions;
  cfg.processor.queue_capacity = std::max<uint64_t>(8192, window * 4);
  auto opened = Engine::open_embedded(cfg, clock);
  if (!opened) die(opened.error().message);
  Engine& e = *opened.value();
  e.start();
  FlowManager flows(e, e.flow_store(), clock);
  if (auto st = flows.load(); !st) die(st.message());

  // Setup, not timed: two products per seller, and every buyer's wallet funded for all of
  // its orders (plus one spare order's worth).
  {
    bench::ClosedLoop setup(e, 1024);
    for (uint32_t s = 0; s < sellers; ++s)
      for (const char* suffix : {"-a", "-b"})
        setup.submit(DefineProduct{Sku{"sku-" + std::to_string(s) + suffix},
                                   SellerId{"seller-" + std::to_string(s)}, "Benchmark item",
                                   AmountMinor{kPrice}, Currency{"EUR"}, Quantity{kMaxStock}});
    setup.drain();
    const int64_t per_order = kPrice * (kLineQty[0] + kLineQty[1]);
    const int64_t per_buyer = (int64_t(orders / buyers) + 2) * per_order;
    for (uint32_t b = 0; b < buyers; ++b)
      setup.submit(DepositToWallet{OwnerId{"buyer-" + std::to_string(b)}, Currency{"EUR"},
                                   AmountMinor{per_buyer}, "bench"});
    setup.drain();
    if (setup.failed()) die(std::to_string(setup.failed()) + " setup commands failed");
  }
  while (flows.run_once()) {
  }  // past the setup events (they start no flow)

  // Where things run.
  const PartitionId ledger = e.router().partition_for_currency(Currency{"EUR"});
  std::vector<uint64_t> orders_on(partitions, 0);
  for (uint64_t i = 0; i < orders; ++i)
    ++orders_on[e.router()
                    .partition_for_seller(SellerId{"seller-" + std::to_string(i % sellers)})
                    .value()];

  // The log's end before the run (EventLog::tail is as recovered on open, so read forward).
  std::vector<Offset> next_before;
  for (uint32_t p = 0; p < partitions; ++p) {
    Offset from{0};
    for (;;) {
      auto chunk = e.log().read(PartitionId{p}, from, 4096);
      if (!chunk) die(chunk.error().message);
      if (chunk->empty()) break;
      from = Offset{chunk->back().offset.value() + 1};
    }
    next_before.push_back(from);
  }
  flows.start();
  const Totals before = totals(e);
  const FlowStats flow_before = flows.stats();
  Driver driver(e, flows, orders, window, sellers, buyers);
  const auto t0 = Steady::now();
  driver.run();
  const double seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  const Totals after = totals(e);
  const FlowStats flow_after = flows.stats();
  flows.stop();

  const uint64_t events = after.events - before.events;
  const uint64_t batches = after.batches - before.batches;
  const uint64_t commands = after.commands - before.commands;
  const uint64_t steps = flow_after.steps - flow_before.steps;

  // The exact average size of the run's events as stored (the canonical envelope).
  uint64_t bytes = 0, counted = 0;
  std::vector<uint64_t> events_on(partitions, 0);
  for (uint32_t p = 0; p < partitions; ++p) {
    Offset from = next_before[p];
    for (;;) {
      auto chunk = e.log().read(PartitionId{p}, from, 4096);
      if (!chunk) die(chunk.error().message);
      if (chunk->empty()) break;
      for (const auto& env : chunk.value()) bytes += encode_envelope(env).size();
      counted += chunk->size();
      events_on[p] += chunk->size();
      from = Offset{chunk->back().offset.value() + 1};
    }
  }
  e.stop();
  const long rss = peak_rss_mib();
  if (counted != events)
    std::fprintf(stderr, "bench_money: note: %lu events read back, %lu counted by the processors\n",
                 (unsigned long)counted, (unsigned long)events);
  const uint64_t avg_bytes = counted ? bytes / counted : 0;

  const auto raw = bench::run_raw_rocksdb_spread(dir + "/raw", events, batches, avg_bytes);
  // For scale only, not the comparison: the same bytes in bench_engine's large batches.
  const auto raw_big = bench::run_raw_rocksdb(dir + "/raw-big", events, 4096, avg_bytes);
  std::filesystem::remove_all(dir);

  const double per_order = double(events) / double(orders);
  const double settled_per_s = orders / seconds;
  const double raw_events_per_s = events / raw.seconds;
  const auto& lat = driver.latencies_us();

  std::printf("partitions             %u (ledger EUR on partition %u; orders per partition:",
              partitions, ledger.value());
  for (uint32_t p = 0; p < partitions; ++p) std::printf(" %lu", (unsigned long)orders_on[p]);
  std::printf(")\n");
  std::printf(
      "orders                 %lu settled (2 lines, wallet-paid), %lu in flight, %u buyers, %u "
      "sellers\n",
      (unsigned long)orders, (unsigned long)window, buyers, sellers);
  std::printf("events                 %lu (%.1f per order; per partition:", (unsigned long)events,
              per_order);
  for (uint32_t p = 0; p < partitions; ++p) std::printf(" %lu", (unsigned long)events_on[p]);
  std::printf(")\n");
  std::printf(
      "commands               %lu (%.1f per order, of which %lu follow-ups from the FlowManager)\n",
      (unsigned long)commands, double(commands) / orders, (unsigned long)steps);
  std::printf("group commits          %lu (%.1f events per fsync'd WriteBatch)\n",
              (unsigned long)batches, double(events) / double(batches));
  std::printf("avg event size         %lu bytes (canonical JSON envelope)\n",
              (unsigned long)avg_bytes);
  std::printf("engine settled/s       %.0f  (%.0f events/s, %.2f s)\n", settled_per_s,
              events / seconds, seconds);
  std::printf("settle latency         p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              percentile(lat, 0.50) / 1000, percentile(lat, 0.99) / 1000,
              percentile(lat, 1.0) / 1000);
  std::printf(
      "raw RocksDB events/s   %.0f  (%lu WriteBatches, = %.0f settled orders/s equivalent, %.2f "
      "s)\n",
      raw_events_per_s, (unsigned long)raw.batches, raw_events_per_s / per_order, raw.seconds);
  std::printf("engine / raw           %.2f\n", settled_per_s / (raw_events_per_s / per_order));
  std::printf(
      "raw, 4096-event batches %.0f events/s  (%lu WriteBatches, = %.0f settled orders/s "
      "equivalent; scale only)\n",
      events / raw_big.seconds, (unsigned long)raw_big.batches,
      events / raw_big.seconds / per_order);
  std::printf("peak RSS               %ld MiB\n", rss);
  return 0;
}

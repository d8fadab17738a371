// In-process benchmark: durable PlaceOrder (3 lines) per second through the partition
// processor, next to a raw RocksDB baseline measured in the same run: one writer appending
// the same number of events, of the same average size, in WriteBatches of the same average
// size, with sync=true. Also reports peak RSS after all orders.
//
//   bench_engine [--orders N] [--window W] [--dir PATH] [--keyed 1] [--snapshot-every B]
//                [--min-free-disk-mb M]  (the disk check before each group commit; 0: off)
//   (--keyed 1: every PlaceOrder carries an Idempotency-Key, as HTTP clients that retry send)
#include <rocksdb/write_batch.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "bench/closed_loop.hpp"
#include "bench/raw_rocksdb.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/engine.hpp"

using namespace ordo;
using Clock_ = std::chrono::steady_clock;

namespace {

double seconds_since(Clock_::time_point t) {
  return std::chrono::duration<double>(Clock_::now() - t).count();
}

// User + system CPU seconds of the whole process so far (all threads).
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

long peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

struct EngineRun {
  double seconds = 0;
  double cpu_seconds = 0;  // all threads, while the orders ran
  uint64_t events = 0;
  uint64_t batches = 0;
  uint64_t log_bytes = 0;
  std::vector<std::string> sample;  // encoded events from across the log
};

EngineRun run_engine(const std::string& dir, uint64_t orders, uint64_t window, bool keyed,
                     size_t snapshot_every, std::optional<uint64_t> min_free_disk_mb) {
  SystemClock clock;
  EngineConfig cfg;
  if (snapshot_every) cfg.processor.snapshot_every_batches = snapshot_every;
  if (min_free_disk_mb) cfg.processor.min_free_disk_bytes = *min_free_disk_mb << 20;
  cfg.data_dir = dir;
  cfg.processor.queue_capacity = window * 2;
  auto engine = Engine::open_embedded(cfg, clock);
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    std::exit(1);
  }
  Engine& e = *engine.value();
  e.start();

  bench::ClosedLoop loop(e, window);
  auto submit_and_wait_room = [&](Command cmd, std::string key = {}) {
    loop.submit(std::move(cmd), std::move(key));
  };

  for (int i = 1; i <= 3; ++i)
    submit_and_wait_room(DefineProduct{Sku{"sku-" + std::to_string(i)}, SellerId{"seller-1"},
                                       "Benchmark item " + std::to_string(i), AmountMinor{1999},
                                       Currency{"EUR"}, Quantity{kMaxStock}});
  loop.drain();
  auto before = e.processor(PartitionId{0}).stats();
  auto t0 = Clock_::now();
  const double cpu0 = process_cpu_seconds();
  for (uint64_t i = 0; i < orders; ++i) {
    submit_and_wait_room(PlaceOrder{OrderId{"order-" + std::to_string(i)},
                                    CustomerId{"customer-" + std::to_string(i % 1000)},
                                    {{Sku{"sku-1"}, Quantity{1}},
                                     {Sku{"sku-2"}, Quantity{2}},
                                     {Sku{"sku-3"}, Quantity{1}}}},
                         keyed ? "key-" + std::to_string(i) : std::string());
  }
  loop.drain();
  EngineRun run;
  run.seconds = seconds_since(t0);
  run.cpu_seconds = process_cpu_seconds() - cpu0;
  auto after = e.processor(PartitionId{0}).stats();
  run.events = after.events - before.events;
  run.batches = after.batches - before.batches;
  if (const uint64_t failed = loop.failed()) {
    std::fprintf(stderr, "bench: %lu commands failed\n", static_cast<unsigned long>(failed));
    std::exit(1);
  }
  // Average encoded event size, from samples across the log; the samples also feed the
  // second raw baseline.
  uint64_t bytes = 0;
  for (int q = 0; q < 4; ++q) {
    auto sample = e.log().read(PartitionId{0}, Offset{3 + int64_t(run.events) * q / 4}, 1024);
    for (const auto& env : sample.value()) run.sample.push_back(encode_envelope(env));
  }
  for (const auto& v : run.sample) bytes += v.size();
  run.log_bytes = run.sample.empty() ? 0 : bytes / run.sample.size();
  e.stop();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t orders = 1'000'000, window = 4096;
  bool keyed = false;
  size_t snapshot_every = 0;                 // 0: the engine's default
  std::optional<uint64_t> min_free_disk_mb;  // unset: the engine's default
  std::string dir = (std::filesystem::temp_directory_path() / "ordo-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--orders")
      orders = std::stoull(argv[i + 1]);
    else if (a == "--window")
      window = std::stoull(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--snapshot-every")
      snapshot_every = std::stoull(argv[i + 1]);
    else if (a == "--keyed")
      keyed = std::string(argv[i + 1]) == "1";
    else if (a == "--min-free-disk-mb")
      min_free_disk_mb = std::min<uint64_t>(std::stoull(argv[i + 1]), 1'000'000);
  }
  std::filesystem::remove_all(dir);
  EngineRun run =
      run_engine(dir + "/engine", orders, window, keyed, snapshot_every, min_free_disk_mb);
  long rss = peak_rss_mib();
  double per_batch = double(run.events) / double(run.batches);
  double raw_s =
      bench::run_raw_rocksdb(dir + "/raw", run.events, uint64_t(per_batch + 0.5), run.log_bytes)
          .seconds;
  std::filesystem::remove_all(dir + "/raw");
  double raw_real_s =
      bench::run_raw_rocksdb(dir + "/raw-real", run.events, uint64_t(per_batch + 0.5), run.sample)
          .seconds;
  std::filesystem::remove_all(dir);

  double engine_orders = orders / run.seconds;
  double raw_orders = (run.events / raw_s) / (double(run.events) / orders);
  std::printf("orders                 %lu (3 lines, %lu events, %.1f events/order%s)\n",
              (unsigned long)orders, (unsigned long)run.events, double(run.events) / orders,
              keyed ? ", each with an Idempotency-Key" : "");
  std::printf("group commits          %lu (%.1f events per fsync'd WriteBatch)\n",
              (unsigned long)run.batches, per_batch);
  std::printf("avg event size         %lu bytes (canonical JSON envelope)\n",
              (unsigned long)run.log_bytes);
  std::printf("engine PlaceOrder/s    %.0f  (%.0f events/s, %.2f s)\n", engine_orders,
              run.events / run.seconds, run.seconds);
  std::printf("engine CPU             %.2f s on all threads (%.1f us per order, %.2f cores busy)\n",
              run.cpu_seconds, run.cpu_seconds * 1e6 / double(orders),
              run.cpu_seconds / run.seconds);
  std::printf("raw RocksDB events/s   %.0f  (= %.0f orders/s equivalent, %.2f s)\n",
              run.events / raw_s, raw_orders, raw_s);
  std::printf("engine / raw           %.2f\n", engine_orders / raw_orders);
  const double raw_real_orders = (run.events / raw_real_s) / (double(run.events) / orders);
  std::printf(
      "raw, engine's bytes    %.0f events/s  (= %.0f orders/s equivalent, %.2f s; %zu sampled "
      "events in turn)\n",
      run.events / raw_real_s, raw_real_orders, raw_real_s, run.sample.size());
  std::printf("engine / raw (bytes)   %.2f\n", engine_orders / raw_real_orders);
  std::printf("peak RSS               %ld MiB after %lu orders\n", rss, (unsigned long)orders);
  return 0;
}

// Replay throughput: verify and export in events/s over a generated log, next to the time to
// read the same events raw in the same run (a RocksDB iterator over the log column family
// without decoding; a plain line read of the export file), plus verify's first stage alone
// and verify on one thread, which show where its time goes.
//
//   bench_replay [--events N] [--dir PATH] [--keep 1]   (--keep leaves PATH/data and
//   PATH/export.jsonl for `ordo replay verify` runs of your own)
//   bench_replay --file EXPORT.jsonl                    (only the file passes, over an
//   existing export, e.g. one kept by --keep)
//
// The log is generated on a fast path: sealed envelopes appended straight through
// RocksDbLog::append in batches of 10,000 (not through the engine), with a realistic mix
// that passes every domain check: orders of 2 lines with their reservations, a third of
// them cancelled with their releases.
#include <rocksdb/db.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/log/event_codec.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/state/rocks_db.hpp"
#include "replay/event_source.hpp"
#include "replay/exporter.hpp"
#include "replay/line_check.hpp"
#include "replay/verifier.hpp"

using namespace ordo;
using namespace ordo::replay;
using Steady = std::chrono::steady_clock;

namespace {

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

long peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "bench_replay: %s\n", m.c_str());
  std::exit(1);
}

// Appends about `target` events to partition 0 of a fresh log.
int64_t generate(const std::string& data_dir, int64_t target) {
  std::filesystem::create_directories(data_dir);
  auto db = RocksDb::open(data_dir + "/rocksdb");
  if (!db) die(db.error().message);
  auto log = RocksDbLog::open(*db.value(), 1);
  if (!log) die(log.error().message);
  const PartitionId p{0};
  constexpr int kProducts = 100;
  std::vector<int64_t> product_version(kProducts, 0);
  std::string prev = kGenesisHash;
  int64_t now = 1'700'000'000'000, written = 0, order = 0;
  std::vector<Envelope> batch;
  auto sku = [](int i) { return Sku{"sku-" + std::to_string(i)}; };
  auto add = [&](const Event& ev, int64_t stream_version, const std::string& cmd) {
    Envelope e;
    e.partition = p;
    e.stream = event_stream(ev);
    e.stream_version = stream_version;
    e.type = std::string(event_type(ev));
    e.schema_version = current_schema_version(e.type);
    e.occurred_at = TimestampMs{now};
    e.command_id = cmd;
    e.correlation_id = cmd;
    e.causation_id = cmd;
    e.actor = Actor{"customer-" + std::to_string(order % 1000), "customer"};
    e.payload = encode_event_payload(ev);
    prev = seal(e, prev);
    batch.push_back(std::move(e));
  };
  auto flush = [&] {
    if (batch.empty()) return;
    if (auto s = log.value()->append(p, batch, nullptr); !s) die(s.message());
    written += static_cast<int64_t>(batch.size());
    batch.clear();
  };
  for (int i = 0; i < kProducts; ++i)
    add(ProductDefined{sku(i), SellerId{"seller-1"}, "Product " + std::to_string(i),
                       AmountMinor{100 + i}, Currency{"EUR"}, Quantity{kMaxStock}},
        ++product_version[i], "define-" + std::to_string(i));
  while (written + static_cast<int64_t>(batch.size()) < target) {
    const std::string cmd = "cmd-" + std::to_string(order);
    const OrderId id{"order-" + std::to_string(order)};
    const int a = static_cast<int>(order % kProducts);
    int bb = static_cast<int>((order * 7 + 3) % kProducts);
    if (bb == a) bb = (bb + 1) % kProducts;  // one line per SKU
    const int64_t qa = 1 + order % 3, qb = 1 + order % 2;
    std::vector<PricedLine> lines{{sku(a), Quantity{qa}, AmountMinor{100 + a}},
                                  {sku(bb), Quantity{qb}, AmountMinor{100 + bb}}};
    const int64_t total = qa * (100 + a) + qb * (100 + bb);
    add(OrderPlaced{id, CustomerId{"customer-" + std::to_string(order % 1000)},
                    SellerId{"seller-1"}, Currency{"EUR"}, lines, AmountMinor{total},
                    TimestampMs{now + 900'000}},
        1, cmd);
    add(StockReserved{sku(a), id, Quantity{qa}}, ++product_version[a], cmd);
    add(StockReserved{sku(bb), id, Quantity{qb}}, ++product_version[bb], cmd);
    if (order % 3 == 0) {
      const std::string cancel = "cancel-" + std::to_string(order);
      add(OrderCancelled{id, "changed my mind"}, 2, cancel);
      add(StockReleased{sku(a), id, Quantity{qa}}, ++product_version[a], cancel);
      add(StockReleased{sku(bb), id, Quantity{qb}}, ++product_version[bb], cancel);
    }
    ++order;
    now += 7;
    if (batch.size() >= 10'000) flush();
  }
  flush();
  return written;
}

// CPU seconds of the whole process (every thread), user and system.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Row {
  std::string what;
  int64_t events;
  int64_t bytes;
  double seconds;
  double cpu_seconds;  // over all threads, in the same interval
};

void print(const Row& r) {
  std::printf("| %-44s | %10lld | %8.2f | %11.0f | %8.1f | %8.2f |\n", r.what.c_str(),
              static_cast<long long>(r.events), r.seconds, r.events / r.seconds,
              r.bytes / r.seconds / (1 << 20), r.cpu_seconds);
  std::fflush(stdout);
}

// Starts timing a pass: wall and CPU clocks.
struct Timer {
  Steady::time_point wall = Steady::now();
  double cpu = cpu_seconds();
  double wall_s() const { return seconds_since(wall); }
  double cpu_s() const { return cpu_seconds() - cpu; }
};

}  // namespace

int main(int argc, char** argv) {
  int64_t target = 5'000'000;
  std::string dir = "/tmp/ordo-bench-replay";
  bool keep = false;
  std::string given_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--events"))
      target = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--keep"))
      keep = std::strcmp(argv[i + 1], "0") != 0;
    else if (!std::strcmp(argv[i], "--file"))
      given_file = argv[i + 1];
    else
      die("usage: bench_replay [--events N] [--dir PATH] [--keep 1] | --file EXPORT.jsonl");
  }
  const std::string data = dir + "/data",
                    file = given_file.empty() ? dir + "/export.jsonl" : given_file;
  auto t = Steady::now();
  if (given_file.empty()) {
    std::filesystem::remove_all(dir);
    const int64_t n = generate(data, target);
    std::printf(
        "generated %lld events in %.1f s (fast path: sealed envelopes through "
        "RocksDbLog::append)\n\n",
        static_cast<long long>(n), seconds_since(t));
  }
  std::printf("| %-44s | %10s | %8s | %11s | %8s | %8s |\n", "pass", "events", "seconds",
              "events/s", "MiB/s", "CPU s");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(13, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str());

  int64_t log_bytes = 0;
  if (given_file.empty()) {
    {  // Raw: RocksDB iterator over the log column family, no decoding.
      auto db = RocksDb::open(data + "/rocksdb");
      if (!db) die(db.error().message);
      const Timer tm;
      int64_t count = 0;
      std::unique_ptr<rocksdb::Iterator> it(
          db.value()->db().NewIterator(rocksdb::ReadOptions(), db.value()->cf(Cf::log)));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ++count;
        log_bytes += static_cast<int64_t>(it->value().size());
      }
      print(
          {"raw RocksDB iterator (log CF, no decode)", count, log_bytes, tm.wall_s(), tm.cpu_s()});
    }
    {
      auto src = DataDirSource::open(data);
      if (!src) die(src.error().message);
      const Timer tm;
      VerifyReport r = verify(*src.value());
      if (!r.ok()) die("verify failed: " + r.first_failure());
      print({"verify --data-dir", r.events(), log_bytes, tm.wall_s(), tm.cpu_s()});
    }
    {
      auto src = DataDirSource::open(data);
      if (!src) die(src.error().message);
      ExportOptions o;
      o.out = file;
      const Timer tm;
      auto r = export_events(*src.value(), o);
      if (!r) die(r.error().message);
      print({"export --data-dir → jsonl", r->written, log_bytes, tm.wall_s(), tm.cpu_s()});
    }
  }
  const int64_t file_bytes = static_cast<int64_t>(std::filesystem::file_size(file));
  {  // Raw: the export file's lines, no decoding.
    auto src = FileSource::open(file);
    if (!src) die(src.error().message);
    const Timer tm;
    int64_t count = 0;
    std::string_view line;
    for (;;) {
      auto r = src.value()->next_line(line);
      if (!r) die(r.error().message);
      if (!r.value()) break;
      ++count;
    }
    print({"raw read of the export file (lines)", count, file_bytes, tm.wall_s(), tm.cpu_s()});
  }
  {  // Where verify's time goes: its first stage alone (read, hash in place, decode), one thread.
    auto src = FileSource::open(file);
    if (!src) die(src.error().message);
    const Timer tm;
    int64_t count = 0;
    CheckedBatch b;
    for (;;) {
      auto r = src.value()->next_lines(b.batch, 4096);
      if (!r) die(r.error().message);
      if (!r.value()) break;
      check_lines(b);
      if (b.error) die(*b.error);
      for (const auto& c : b.events) count += c.facts.hash_ok && c.event.ok();
      b.batch.clear();
    }
    print(
        {"check lines only (hash + decode, 1 thread)", count, file_bytes, tm.wall_s(), tm.cpu_s()});
  }
  struct FilePass {
    const char* what;
    int threads, worker_nice;
  };
  // The last is verify as `ordo replay verify` runs it; the middle one differs from it only in
  // the workers' priority (VerifyOptions::worker_nice), to show what that is worth.
  for (const FilePass& pass : {FilePass{"verify --file, all on one thread", 0, 0},
                               FilePass{"verify --file, workers not niced (A/B)", 2, 0},
                               FilePass{"verify --file", 2, VerifyOptions{}.worker_nice}}) {
    auto src = FileSource::open(file);
    if (!src) die(src.error().message);
    const Timer tm;
    VerifyOptions o;
    o.check_threads = pass.threads;
    o.worker_nice = pass.worker_nice;
    VerifyReport r = verify(*src.value(), {}, o);
    if (!r.ok()) die("verify failed: " + r.first_failure());
    print({pass.what, r.events(), file_bytes, tm.wall_s(), tm.cpu_s()});
  }
  std::printf("\npeak RSS %ld MiB; log values %lld bytes, export file %lld bytes\n", peak_rss_mib(),
              static_cast<long long>(log_bytes), static_cast<long long>(file_bytes));
  if (!keep && given_file.empty()) std::filesystem::remove_all(dir);
  return 0;
}

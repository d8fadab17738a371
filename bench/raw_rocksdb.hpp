#pragma once
// The raw RocksDB baseline of the in-process benchmarks: one writer appends `events` values of
// `event_bytes` bytes each under the log's keys, in WriteBatches of `per_batch` values, each
// written with sync=true (as the engine's group commit is). No encoding, hashing, state,
// idempotency or index writes: just the bytes and the fsyncs. Returns the seconds it took.
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo::bench {

struct RawRun {
  double seconds = 0;
  uint64_t batches = 0;  // fsync'd WriteBatches
};

// One writer appends `events` values under the log's keys in WriteBatches of `per_batch`,
// each with sync=true: the values given, taken in turn: a sample of the engine's own encoded events
// makes the baseline compress (and so flush) like the engine's log does, where a run of 'x'
// compresses to almost nothing.
inline RawRun run_raw_rocksdb(const std::string& dir, uint64_t events, uint64_t per_batch,
                              const std::vector<std::string>& values) {
  auto db = RocksDb::open(dir);
  if (!db || values.empty()) std::exit(1);
  if (per_batch == 0) per_batch = 1;
  RawRun run;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t written = 0;
  while (written < events) {
    rocksdb::WriteBatch batch;
    for (uint64_t i = 0; i < per_batch && written < events; ++i, ++written)
      batch.Put(db.value()->cf(Cf::log), log_key(PartitionId{0}, Offset{int64_t(written)}),
                values[written % values.size()]);
    if (!db.value()->write_sync(batch)) std::exit(1);
    ++run.batches;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

// With one value of `event_bytes` bytes of 'x' (the original baseline).
inline RawRun run_raw_rocksdb(const std::string& dir, uint64_t events, uint64_t per_batch,
                              uint64_t event_bytes) {
  return run_raw_rocksdb(dir, events, per_batch,
                         std::vector<std::string>{std::string(event_bytes, 'x')});
}

// The same, with exactly `batches` WriteBatches: the events are spread evenly over them (the
// batch sizes differ by at most one), so the fsync count matches a measured run whose average
// batch is small and not a whole number.
inline RawRun run_raw_rocksdb_spread(const std::string& dir, uint64_t events, uint64_t batches,
                                     uint64_t event_bytes) {
  auto db = RocksDb::open(dir);
  if (!db) std::exit(1);
  if (batches == 0) batches = 1;
  std::string value(event_bytes, 'x');
  RawRun run;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t written = 0;
  for (uint64_t b = 0; b < batches; ++b) {
    const uint64_t until = events * (b + 1) / batches;
    rocksdb::WriteBatch batch;
    for (; written < until; ++written)
      batch.Put(db.value()->cf(Cf::log), log_key(PartitionId{0}, Offset{int64_t(written)}), value);
    if (batch.Count() == 0) continue;
    if (!db.value()->write_sync(batch)) std::exit(1);
    ++run.batches;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

}  // namespace ordo::bench

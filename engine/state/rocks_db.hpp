#pragma once
// One RocksDB instance holds everything the embedded engine keeps: the log, the stream
// index, aggregate state, idempotency records and metadata, each in its own column family, so
// a group commit can write all of them in one WriteBatch.
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/file_system.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log/result.hpp"
#include "engine/log/state_delta.hpp"

namespace ordo {

// `timers` is retired: timers are derived from the orders' snapshots on recovery, and the
// engine neither reads nor writes timers there. It stays because RocksDB opens a directory
// with every column family it has, and older data directories have it; a writable open
// deletes what they left there (RocksDb::clear_retired_timers).
enum class Cf { log, stream_index, state, idempotency, timers, meta, count_ };

// In Cf::meta: the Kafka topic of a data directory whose log is in Kafka. A directory
// belongs to one backend, and each refuses the other's: events in Cf::log (which only the
// embedded log writes) make it the embedded log's, whatever else is recorded (an older
// binary wrote this key before it reached the broker); a topic without them, Kafka's.
inline constexpr std::string_view kKafkaTopicMetaKey = "kafka/topic";

struct RocksDbOptions {
  // Idempotency records are honoured for this long after their created_at (the engine's
  // ProcessorConfig::idempotency_retention_ms); compaction drops one once that has passed by
  // kIdempotencySlackMs more, which covers a wall clock stepped back. 0: kept for ever (the
  // read-only tools open the database so).
  int64_t idempotency_retention_ms = 0;
  std::function<int64_t()> now_ms;  // the wall clock in ms; required with a retention
  // Opened read-only: nothing is written, the WAL is replayed in memory only, and no lock is
  // taken (the auditor's tools leave the directory they check as they found it).
  bool read_only = false;
  // The file system under RocksDB; null: the machine's. Tests put one here that fails
  // chosen writes, to drive the real engine through a disk's failures.
  std::shared_ptr<rocksdb::FileSystem> file_system = nullptr;
};

class RocksDb {
 public:
  static constexpr int64_t kIdempotencySlackMs = 3600 * 1000;
  static constexpr int kMaxOpenFiles = 1000;  // SST files RocksDB keeps open at most

  static Result<std::unique_ptr<RocksDb>> open(const std::string& path,
                                               RocksDbOptions options = {});
  ~RocksDb();
  RocksDb(const RocksDb&) = delete;
  RocksDb& operator=(const RocksDb&) = delete;

  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(Cf c) { return handles_[static_cast<size_t>(c)]; }
  rocksdb::ColumnFamilyHandle* cf(StateColumn c);

  // Adds the writes of `delta` to `batch`.
  void add_to_batch(const StateDelta& delta, rocksdb::WriteBatch& batch);
  // Writes `batch` with sync=true: returns only once it is on disk.
  Status write_sync(rocksdb::WriteBatch& batch);
  // After a failed write RocksDB may hold a background error that fails every later write
  // while reads still work; this asks it to resume (a no-op without one). Called before a
  // partition reloads, so a cause that has gone (a full disk freed) does not need a restart.
  Status resume();
  // Whether the column family holds any key (one iterator step).
  Result<bool> holds_any(Cf c);
  // A decimal integer stored under `key` (a position, a mark, a counter): nullopt when the
  // key is absent; an error naming `what` when the value is not a whole int64 of at least
  // `min` (parse_stored_int), or the read failed.
  Result<std::optional<int64_t>> get_stored_int(Cf cf, const std::string& key,
                                                std::string_view what, int64_t min = INT64_MIN);

 private:
  RocksDb() = default;
  Status clear_retired_timers();
  // Declared before db_: the database uses them until it is closed.
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::CompactionFilter> idempotency_expiry_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// Big-endian integer keys, so RocksDB's byte order is numeric order.
void append_be32(std::string& out, uint32_t v);
void append_be64(std::string& out, uint64_t v);
uint32_t read_be32(const char* p);
uint64_t read_be64(const char* p);
// A whole decimal int64 as stored by std::to_string (positions, balances, marks): a corrupt
// value is an error for the caller to report, not an exception (std::stoll throws, and
// reads "12x" as 12).
std::optional<int64_t> parse_stored_int(std::string_view s);

}  // namespace ordo

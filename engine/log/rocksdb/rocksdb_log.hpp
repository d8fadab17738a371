#pragma once
// The embedded event log: events in RocksDB's `log` column family, keyed by partition and
// offset; each append is one WriteBatch (events + tail + state delta) written with
// sync=true. The stream index (stream, version → position) is derived data: an indexer
// thread maintains it off the commit path, and stream reads wait until it has caught up
// with the log as it was when the read began, so a reader always sees its own writes.
// It holds runs: one key (stream, first version) per run of consecutive versions of a
// stream written together, its value the runs' positions in version order (12 bytes
// each). A hot product's thousand events in one group commit are one key, not a thousand.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/log/event_log.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo {

class RocksDbLog final : public EventLog {
 public:
  // Opens the log over `db` with `partitions` partitions. The count is recorded on first
  // open; opening with another count is an error (routing would change under the data).
  // `read_only` (over a database opened so): the count must be recorded already, and the
  // stream index is neither caught up nor kept (read() and read_raw() only, no appends).
  static Result<std::unique_ptr<RocksDbLog>> open(RocksDb& db, uint32_t partitions,
                                                  bool read_only = false);
  ~RocksDbLog() override;

  uint32_t partition_count() const override { return static_cast<uint32_t>(tails_.size()); }
  Result<LogTail> tail(PartitionId p) override;
  Status append(PartitionId p, std::span<Envelope> events,
                const DeltaBuilder& build_delta) override;
  Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override;
  Result<size_t> read_raw(PartitionId p, Offset from, size_t max, const RawSink& sink) override;
  Result<std::vector<Envelope>> read_types(PartitionId p, Offset from, size_t max,
                                           const TypeFilter& want, Offset& scanned) override;
  Result<std::vector<Envelope>> read_stream(std::string_view stream, int64_t from_version,
                                            size_t max) override;

  // Fault injection for tests: the next `n` stream-index writes fail without writing
  // (0 ends a run of failures).
  void fail_next_index_writes(int n);

 private:
  struct IndexItem {
    std::string stream;
    int64_t version;
    PartitionId partition;
    Offset offset;
  };
  static constexpr size_t kMaxIndexBacklog = 1'000'000;  // appends wait beyond this
  static constexpr size_t kMaxIndexRun = 1024;           // positions under one stream-index key
  // After a failed index write, the indexer catches up from the log after a pause that
  // doubles from the first to the last value while it keeps failing.
  static constexpr auto kIndexRetryFirst = std::chrono::milliseconds(10);
  static constexpr auto kIndexRetryMax = std::chrono::milliseconds(2000);

  RocksDbLog(RocksDb& db, std::vector<LogTail> tails) : db_(db), tails_(std::move(tails)) {}
  Status catch_up_index();
  // Indexes each partition's events after indexed_upto_ up to its tail, read from the log.
  // `as_runs` false at open: an older binary's per-event entries past a lowered mark may
  // survive a crash, and a run written over them could hide versions from a read that
  // lands on one of them; entries of one event each overwrite them key for key.
  Status index_from_log(bool as_runs);
  void index_loop();
  Status write_index(std::vector<IndexItem>& items, bool as_runs = true);

  RocksDb& db_;
  std::mutex mu_;  // guards tails_ (each partition's writer appends; anyone may ask)
  std::vector<LogTail> tails_;

  std::mutex index_mu_;
  std::condition_variable index_cv_;
  std::vector<IndexItem> index_pending_;
  std::vector<int64_t> indexed_upto_;  // per partition: last offset in the stream index
  bool index_stop_ = false;
  // A write of the index failed: appends do not queue (the indexer will read their events
  // back from the log), and reads of streams not yet covered fail fast ("behind the log").
  bool index_failed_ = false;
  int index_failures_to_inject_ = 0;  // guarded by index_mu_; tests only
  std::thread indexer_;
};

std::string log_key(PartitionId p, Offset o);
std::string tail_key(PartitionId p);

}  // namespace ordo

#pragma once
// The embedded event log: events in RocksDB's `log` column family, keyed by partition and
// offset; each append is one WriteBatch (events + stream index + tail + state delta) written
// with sync=true.
#include <mutex>
#include <vector>

#include "engine/log/event_log.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo {

class RocksDbLog final : public EventLog {
 public:
  // Opens the log over `db` with `partitions` partitions. The count is recorded on first
  // open; opening with another count is an error (routing would change under the data).
  static Result<std::unique_ptr<RocksDbLog>> open(RocksDb& db, uint32_t partitions);

  uint32_t partition_count() const override { return static_cast<uint32_t>(tails_.size()); }
  Result<LogTail> tail(PartitionId p) override;
  Status append(PartitionId p, std::span<Envelope> events, const DeltaBuilder& build_delta) override;
  Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override;
  Result<std::vector<Envelope>> read_stream(std::string_view stream, int64_t from_version,
                                            size_t max) override;

 private:
  RocksDbLog(RocksDb& db, std::vector<LogTail> tails) : db_(db), tails_(std::move(tails)) {}
  RocksDb& db_;
  std::mutex mu_;  // guards tails_ (each partition's writer appends; anyone may ask)
  std::vector<LogTail> tails_;
};

std::string log_key(PartitionId p, Offset o);
std::string tail_key(PartitionId p);

}  // namespace ordo

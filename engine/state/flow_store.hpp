#pragma once
// What the process managers keep in RocksDB: how far they have read each partition, and
// the steps they parked after repeated failures (for an admin to see and retry).
#include <optional>
#include <string>
#include <vector>

#include "engine/log/position.hpp"
#include "engine/log/result.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo {

struct ParkedStep {
  std::string id;  // "{partition}-{offset}" of the triggering event
  PartitionId partition;
  Offset offset;
  std::string event_type;
  std::string stream;
  std::string command;  // the follow-up's name
  std::string error;
  int64_t attempts = 0;
  int64_t parked_at_ms = 0;
  // Parked after failures of the infrastructure (a full queue, an unwritable log), not a
  // refusal: the manager retries it by itself every so often (FlowConfig).
  bool transient = false;
  // The record under this id cannot be decoded, or names another id (written by a bug, or
  // damaged): it is listed with only its id (the key's) and `error`, so an admin can see it
  // and dismiss it; it cannot be retried.
  bool unreadable = false;
};

class FlowStore {
 public:
  explicit FlowStore(RocksDb& db) : db_(db) {}
  // The last offset of `p` whose follow-ups are done, or -1.
  Result<Offset> checkpoint(PartitionId p);
  // Moves several partitions' checkpoints in one write, synced when `sync`. A checkpoint
  // lost in a crash only makes the manager read those events again.
  Status set_checkpoints(const std::vector<std::pair<PartitionId, Offset>>& checkpoints, bool sync);
  Status park(const ParkedStep& step);  // synced
  Status unpark(const std::string& id);
  // The first `limit` parked steps, in key order.
  Result<std::vector<ParkedStep>> parked(size_t limit);
  // The first `limit` transient ones, looking past refused steps (however many sort first)
  // for at most kMaxParkedScan records: what the manager retries by itself.
  static constexpr size_t kMaxParkedScan = 100'000;
  Result<std::vector<ParkedStep>> transient_parked(size_t limit);
  // The step parked under `id`, readable or not; nullopt when there is none.
  Result<std::optional<ParkedStep>> find_parked(const std::string& id);

 private:
  Result<std::vector<ParkedStep>> scan_parked(size_t limit, bool transient_only);
  RocksDb& db_;
};

}  // namespace ordo

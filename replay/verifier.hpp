#pragma once
// The auditor's check of a log: per partition, the hash chain (each event names its
// predecessor's hash, its own hash matches its content, offsets strictly increase, the first
// event chains to genesis) and the domain (every event decodes, is one the state allows, and
// folds through the same apply() the engine uses without breaking an invariant).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/domain/state.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/event_log.hpp"
#include "engine/log/json.hpp"
#include "replay/event_source.hpp"
#include "replay/line_check.hpp"

namespace ordo::replay {

struct PartitionVerdict {
  PartitionId partition{0};
  int64_t events = 0;      // folded before the first failure
  Offset last_offset{-1};  // last good event
  std::string last_hash = kGenesisHash;
  bool ok = true;
  Offset bad_offset{-1};  // the first bad event, when !ok
  std::string reason;
};

struct VerifyReport {
  std::vector<PartitionVerdict> partitions;  // ascending partition number
  std::optional<std::string> source_error;   // the source could not be read to its end

  bool ok() const;
  int64_t events() const;
  // "partition P offset N: reason" for the lowest failing partition; empty when ok.
  std::string first_failure() const;
};

// The report as JSON: {"ok":…, "events":…, "partitions":[{partition, ok, events,
// last_offset, last_hash[, bad_offset, reason]}][, "error":…]}. Same shape for the CLI's
// --format json and GET /v1/audit/verify.
Json to_json(const VerifyReport& r);

// Folds envelopes partition by partition with every check above. Keeps each partition's
// state in memory (that is what folding means); nothing else grows with the log.
class Verifier {
 public:
  // Products touched by one command before their list is first compacted.
  static constexpr size_t kTouchedCompactAt = 512;

  // An event read and checked by check_lines() (for_each_checked hands them over).
  void add(const EventFacts& e, const Result<Event>& ev);
  // Stops folding partition `p` (state-at cuts a partition at an offset or a time); later
  // events of `p` are ignored.
  void close(PartitionId p) { part(p).closed = true; }
  bool accepts(PartitionId p) const;
  // Ends every partition's fold (the last command's and whole-state invariants) and compares
  // each with the tail its log recorded, where the source has one.
  VerifyReport finish(const std::vector<std::pair<PartitionId, LogTail>>& recorded_tails = {});

  const PartitionState* state(PartitionId p) const;
  std::vector<PartitionId> partitions() const;

 private:
  struct Part {
    PartitionVerdict verdict;
    PartitionState state;
    bool closed = false;
    // Invariants that only hold between commands (an order is placed before its stock is
    // reserved, in the same command) are checked when the command changes.
    std::string command_id;
    Offset command_last{-1};
    std::vector<const Product*> touched;  // by the current command
    // At this size repeats are dropped from `touched` (a log is not trusted to keep commands
    // small); it doubles with what is left.
    size_t touched_compact_at = kTouchedCompactAt;
    // Per product: the sum of its lines in the orders that hold a reservation.
    std::unordered_map<const Product*, int64_t> reserved_by_orders;
    int64_t held_by_orders(const Product* p) const;
  };
  Part& part(PartitionId p);
  void fail(Part& pt, Offset at, std::string why);
  // The invariants that hold between commands, for the products the last command touched.
  bool end_command(Part& pt);
  // The last command's, then every product's and the ledger's: check_invariants, at the end.
  bool end_log(Part& pt);

  std::map<uint32_t, Part> parts_;
};

// Called every kProgressEvery events of a long run (the CLI prints it on stderr).
using Progress = std::function<void(int64_t events)>;
inline constexpr int64_t kProgressEvery = 1'000'000;

struct VerifyOptions {
  // Threads that read, hash and decode lines ahead of the fold (which is sequential); 0 does
  // it all on the calling thread.
  int check_threads = 2;
  size_t batch_lines = 4096;
  // The fold is verify's serial part. With the reader, the workers and the fold runnable on
  // two cores, an even share gives the fold two thirds of a core and the whole pass waits on
  // it; so the workers run this much nicer (a lower priority, their threads only): the fold
  // keeps a core whenever it has a batch, the workers take what it leaves, and the ring
  // bounds how far they run ahead. 0: the same priority as the fold. `bench_replay` measures
  // both in one run (bench/RESULTS.md).
  int worker_nice = 10;
};

// Reads `source` to its end as verify does: stored lines in batches, each line read and hashed
// and its payload decoded by check_lines() on `check_threads` workers (CheckPipeline), then
// handed to `each` in source order on the calling thread. Returns why the source could not be
// read to its end (a line that is no envelope, named by its line in a file; a read error),
// with the last position handed on; nothing when it was read to its end. A CheckedLine (its
// views, its event) is valid only during its call: the batch behind it is then reused.
std::optional<std::string> for_each_checked(EventSource& source, const VerifyOptions& options,
                                            const Progress& progress,
                                            const std::function<void(const CheckedLine&)>& each);

// Reads `source` to its end through a Verifier: stored lines in batches, checked on
// `check_threads` workers (CheckPipeline), folded in source order on the calling thread.
VerifyReport verify(EventSource& source, const Progress& progress = {},
                    const VerifyOptions& options = {});

}  // namespace ordo::replay

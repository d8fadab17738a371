#pragma once
// One partition's single writer (LMAX style): a thread that owns the partition's state in
// memory, takes commands from a bounded queue, and for each group of commands does
//   decide (pure) → apply → seal into the hash chain → one durable append → replies.
// Many commands share one fsync (group commit); none is answered before it. The durable
// append and the replies run on a second thread (the committer), so the writer decides the
// next group while the previous one is written: at most one group waits for the committer.
// A group decided on top of one whose write failed is failed too, and the writer reloads
// the state from disk before it decides anything more.
#include <atomic>
#include <chrono>
#include <memory>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/domain/state.hpp"
#include "engine/log/event_log.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/dirty_aggregates.hpp"
#include "engine/runtime/disk_space.hpp"
#include "engine/runtime/router.hpp"
#include "engine/runtime/submission.hpp"
#include "engine/state/state_store.hpp"

namespace ordo {

struct ProcessorConfig {
  size_t queue_capacity = 8192;  // beyond this, submissions are refused (HTTP 503)
  size_t system_reserve = 1024;  // more room for process managers' steps (CommandMeta::system)
  size_t max_batch = 1024;       // commands per group commit
  DurationMs reservation_ttl{15 * 60 * 1000};
  DurationMs payment_timeout{60 * 60 * 1000};  // DecideContext::payment_timeout; 0: never
  DurationMs auto_release_after{7LL * 24 * 3600 *
                                1000};  // escrow released this long after delivery
  int64_t platform_fee_bps = 500;       // fee on released escrow, rounded down
  // How long an Idempotency-Key's first response is replayed. The only place it is set:
  // the HTTP layer and the compaction filter read it through the Engine.
  int64_t idempotency_retention_ms = 24 * 3600 * 1000;
  // Aggregate state is snapshotted into RocksDB every this many group commits (or sooner
  // when many aggregates are dirty); recovery loads the snapshot and replays the log after
  // it. The log alone is the source of truth, so state writes need not be in every commit.
  // Often and small rather than rare and large: the writer serialises a snapshot between two
  // groups, and a large one (64 groups' worth of new orders) stalled the pipeline while the
  // committer waited (bench_engine --snapshot-every: 8 was ≈ 5 % faster than 64).
  size_t snapshot_every_batches = 8;
  size_t snapshot_max_dirty = 100'000;
  // After a failed reload, recovery is tried again at most this often (steady time).
  DurationMs recovery_retry{1000};
  // Writes stop (commands are answered 503 unwritten, /readyz is down) while the disk under
  // the data directory has less than this free, and start again by themselves once it has
  // more. RocksDB needs room to flush and compact, and Debian's RocksDB 7.8 may abort the
  // process on a WAL append that fails for want of space: better to stop just short of it.
  // 0: not checked.
  uint64_t min_free_disk_bytes = 128ULL << 20;
  // Where the room is measured. The Engine sets statvfs on its data directory when this is
  // null; a processor without one does not check.
  std::shared_ptr<const DiskSpace> disk_space;
};

struct ProcessorStats {
  uint64_t decided = 0;  // commands decided by the writer, whether or not their write succeeded
  uint64_t commands = 0;
  uint64_t batches = 0;
  uint64_t events = 0;
};

class PartitionProcessor {
 public:
  PartitionProcessor(PartitionId id, EventLog& log, StateStore& store, const Clock& clock,
                     Router& router, ProcessorConfig config);
  ~PartitionProcessor();
  PartitionProcessor(const PartitionProcessor&) = delete;
  PartitionProcessor& operator=(const PartitionProcessor&) = delete;

  // Loads state from the store and checks it against the log's tail. Call before start().
  Status recover();
  void start();
  // Stops taking work, finishes the batch in hand, and joins the thread.
  void stop();

  // False when the queue is full or the processor is stopping: the caller answers 503.
  bool try_submit(Submission&& s);

  // Runs one group commit on the calling thread with whatever is queued and due. For tests
  // and the simulation, which drive a processor without its thread.
  size_t run_once();

  PartitionId id() const { return id_; }

  // Whether the partition can write, and why not, for /readyz: the last group commit (or
  // recovery) succeeded and the disk is not paused for want of space.
  struct Health {
    bool writable = true;
    std::string error;
  };
  Health health() const;
  ProcessorStats stats() const;
  size_t queue_depth() const;
  // The last offset whose events the router knows (new orders, SKUs, payouts and their
  // parties): readers that look ids up in the router, like the live feed, read no further.
  // Events past it may already be in the log for a moment.
  int64_t routed_offset() const { return durable_offset_.load(std::memory_order_acquire); }
  // The state, for tests and the simulation; only safe when the thread is not running.
  const PartitionState& state_for_test() const { return state_; }

 private:
  void loop();
  std::vector<Submission> take_batch(bool wait);
  void fire_due_timers(std::vector<Submission>& batch);
  struct Prepared;
  // Runs one group inline: prepare, commit, reload after a failure (run_once).
  void process(std::vector<Submission>& batch);
  // Writer thread: decide, apply, seal, snapshot. Null when the group was answered already.
  std::unique_ptr<Prepared> prepare(std::vector<Submission>& batch);
  // Committer thread (or inline): the durable append, then the replies.
  void commit(Prepared& p);
  // Answers (and drops from the batch) the commands whose idempotency key already has a
  // live record, or whose record cannot be read.
  void answer_recorded_keys(std::vector<Submission>& batch, TimestampMs now);
  // Answers every command of a group with the failure. `maybe_written`: the append failed
  // with its outcome unknown, so the new ids of accepted commands stay claimed, in doubt,
  // until the next recovery (Router::hold_in_doubt); otherwise they are released.
  void fail_prepared(Prepared& p, const Status& why, bool maybe_written = false);
  // After a recovery: tells the router which claims in doubt landed in the log.
  void settle_claims_in_doubt();
  bool has_claims_in_doubt();
  void hand_off(std::unique_ptr<Prepared> p);
  void drain_committer();
  void reload_if_write_failed();
  void committer_loop();
  void reload_after_failure();
  bool ensure_recovered();
  Status replay_log_after(Offset applied);
  void write_final_snapshot();

  const PartitionId id_;
  EventLog& log_;
  StateStore& store_;
  const Clock& clock_;
  Router& router_;
  const ProcessorConfig config_;

  // Owned by the writer thread.
  PartitionState state_;
  // Derived from orders (reservation expiry, automatic escrow release); not stored.
  // A min-heap on (due, arrival) with lazy removal: an entry is live while its order still
  // wants a timer at that time, and dead ones are dropped when they come due. Every new
  // order pushes one; a sorted map plus a map back from order to entry cost the writer two
  // node allocations and a rebalance per order (≈ 9 % of its time under bench_engine).
  // The price: a paid or cancelled order's entry stays until its reservation's TTL, a
  // confirmed order's until its automatic release, then is dropped; bounded by order volume.
  struct DueTimer {
    TimestampMs due;
    uint64_t seq;
    OrderId order_id;
  };
  // The heap's order: the earliest due on top, then the earliest pushed.
  static bool fires_later(const DueTimer& a, const DueTimer& b) {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }
  std::vector<DueTimer> timers_;
  uint64_t timer_seq_ = 0;
  void retime(const Order& o);
  LogTail tail_;  // the durable tail: the committer advances it (the writer reads it
                  // only when nothing is in flight)
  // tail_.last_offset, for the writer to name a position in a reply while the committer
  // may be advancing tail_; stored once the router knows the batch (routed_offset()).
  std::atomic<int64_t> durable_offset_{-1};
  std::string chain_tip_ = kGenesisHash;  // the hash of the last prepared event (writer thread)
  DirtyAggregates dirty_;                 // changed since the last snapshot
  size_t batches_since_snapshot_ = 0;
  // Set when a reload after a failed write could not read the log back (the Kafka broker is
  // unreachable, or another writer fenced this one): every command is answered with the
  // error, and recovery is tried again, at most once a second, before the next batch.
  // `wrote`: set by a write's outcome (a reload's "writable until told otherwise" is not).
  void set_health(bool writable, std::string error, bool wrote = false);
  mutable std::mutex health_mu_;
  Health health_;
  std::string logged_failure_;      // the failure last logged; empty once a write succeeded
  std::string last_write_failure_;  // why the last failed write failed (under health_mu_)
  bool needs_recovery_ = false;
  // Set when a reload found the store refusing to write again (RocksDB's Resume failed:
  // the disk is still full, or the error is one it cannot resume from). Resume is asked again
  // at most every recovery_retry, before a batch or when idle; meanwhile batches are answered
  // with the failure, unwritten, and /readyz says the partition cannot write.
  bool writes_refused_ = false;
  std::chrono::steady_clock::time_point next_resume_{};
  void retry_refused_writes();
  // Answers every command of `batch` with `why`: nothing of it was written.
  void refuse_batch(std::vector<Submission>& batch, const std::string& why);
  // A fired timer's command that did not run: its order gets its timer back if it still
  // wants one (the heap entry was popped when it fired).
  void retime_if_timer(const Command& command);
  // Measures the disk's free space against ProcessorConfig::min_free_disk_bytes and returns
  // why writes are paused, or nothing. Paused below the reserve, resumed only an eighth
  // above it, so free space wobbling around the line (flushes, compactions) does not toggle
  // writes. Keeps disk_pause_ (and so /readyz) in step, and logs each pause and resume.
  std::optional<std::string> check_disk_room();
  bool disk_low_ = false;           // writer thread
  bool disk_unmeasurable_ = false;  // writer thread: the last measurement failed (logged)
  std::string disk_pause_;          // why writes are paused for the disk (under health_mu_)
  std::string recovery_error_;
  std::chrono::steady_clock::time_point next_recovery_{};
  // Commands whose write failed with its outcome unknown and which claimed a new id: added
  // by the committer, settled by the writer once recovered (after draining the committer).
  std::mutex doubt_mu_;
  std::vector<Command> claims_in_doubt_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> vip_queue_;
  std::deque<Submission> queue_;
  bool stopping_ = false;
  ProcessorStats stats_;
  std::thread thread_;

  // The hand-off to the committer: one slot, bounded.
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::unique_ptr<Prepared> commit_slot_;
  bool committing_ = false;
  bool commit_stop_ = false;
  std::atomic<bool> write_failed_{false};  // set by the committer, cleared by the writer
  std::thread committer_;
};

}  // namespace ordo

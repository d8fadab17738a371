#pragma once
// The process managers (DESIGN §4): one thread reads every partition's log after its
// checkpoint, asks the pure rules (engine/domain/flows.hpp) what follows each event, and
// submits that command with an idempotency key derived from the event's position, so a
// redelivered event never repeats an effect. The checkpoint moves only once every step of
// a batch is done or parked; a step that keeps failing is parked for an admin, never
// dropped. Callers may watch a flow's outcome (the HTTP `?wait=true`).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/domain/flows.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/state/flow_store.hpp"

namespace ordo {

struct FlowConfig {
  size_t batch_events = 512;  // events read per partition per round
  // A step whose submission keeps failing for the infrastructure (its partition's queue
  // full, the log not writable) is retried, backing off, for this long before it is parked
  // for an admin: an outage or a burst of load outlasts a few attempts, and a step parked
  // for it would leave its order waiting until someone retried it by hand.
  int64_t park_after_ms = 60'000;
  // An admin's retry of a parked step gives up sooner (parked again), within the HTTP
  // call's 10 s wait, and holds the other flows up no longer than that.
  int64_t retry_park_after_ms = 5'000;
  // Steps parked for the infrastructure (ParkedStep::transient) are retried by the manager
  // itself this often (0: never), so an outage longer than park_after_ms heals without an
  // admin; a step parked because it was refused waits for one.
  int64_t auto_retry_parked_ms = 300'000;
  int64_t first_backoff_ms = 50;  // doubled per attempt, up to 64 times this
  int64_t idle_poll_ms = 10;      // how often an idle manager looks for new events
};

// How a watched flow ended, as seen on the order's side (or the escrow's).
struct FlowOutcome {
  std::string status;  // "paid", "payment_failed", "released", "refunded"
  std::string detail;  // e.g. the failure reason
  Position position;
};

struct FlowStats {
  uint64_t steps = 0;    // follow-ups submitted
  uint64_t repeats = 0;  // follow-ups found already done (redelivery)
  uint64_t parked = 0;
  uint64_t retries = 0;
};

// How a retry of a parked step ended. `message` says why when it is not `done`.
struct RetryOutcome {
  enum class Kind {
    done,          // the step ran and is no longer parked
    not_found,     // no parked step has that id
    still_parked,  // the step itself failed again, or its event no longer starts a step
    unavailable,   // the manager, the store or the log could not run it: try again later
  };
  Kind kind = Kind::done;
  std::string message;
  // still_parked because the infrastructure failed again (parked as transient), not because
  // the step was refused: the outage that parked it is not over.
  bool transient = false;
  bool ok() const { return kind == Kind::done; }
  bool outage() const {
    return kind == Kind::unavailable || (kind == Kind::still_parked && transient);
  }
};

class FlowManager {
 public:
  FlowManager(Engine& engine, FlowStore& store, const Clock& clock, FlowConfig config = {});
  ~FlowManager();
  FlowManager(const FlowManager&) = delete;
  FlowManager& operator=(const FlowManager&) = delete;

  Status load();  // checkpoints; call before start()
  void start();
  void stop();

  // One round over every partition on the calling thread; true if it did any work. For
  // tests and benchmarks that drive the manager without its thread.
  bool run_once();

  // Calls `fn` once (on the manager's thread) when the flow named by `key` ends:
  // "payment:{payment_id}" or "escrow:{order_id}". Returns a token for unwatch().
  uint64_t watch(const std::string& key, std::function<void(const FlowOutcome&)> fn);
  void unwatch(uint64_t token);

  Result<std::vector<ParkedStep>> parked(size_t limit) { return store_.parked(limit); }
  // Runs a parked step again on the manager's thread; `done` is told how it went.
  static constexpr size_t kMaxQueuedRetries = 64;  // more at once: refused (unavailable)
  void retry_parked(const std::string& id, std::function<void(const RetryOutcome&)> done);
  // Removes a parked step without running it (an admin decided it must not run, or its
  // record cannot be read), on the manager's thread after the retries queued before it, so
  // it cannot race a retry of the same step; logs what was dismissed and `by` whom. `done`
  // is told `done` or `not_found`, or `unavailable` when the queue is full, the store cannot
  // be written, or the round that parked the step has not finished (its event would be read
  // again, and the step parked or run again, after the dismissal).
  void dismiss_parked(const std::string& id, const std::string& by,
                      std::function<void(const RetryOutcome&)> done);

  FlowStats stats() const;

 private:
  struct Step;
  void loop();
  // Reads `p`'s events after its checkpoint into `steps`; false when there were none.
  bool read_round(PartitionId p, std::vector<Step>& steps, Offset& last);
  // Runs `steps` until each is done or parked (a failing one after `park_after_ms`); on an
  // error, waits for what it had submitted before returning it.
  Status run_steps(std::vector<Step>& steps, int64_t park_after_ms);
  Status run_steps_once(std::vector<Step>& steps, int64_t park_after_ms);
  bool stopping() const;
  void notify(const Envelope& env, const Event& e);
  void run_retries();
  // Once auto_retry_parked_ms has passed since the last pass, retries the transient parked
  // steps, one per round.
  void queue_auto_retries();

  Engine& engine_;
  FlowStore& store_;
  const Clock& clock_;
  const FlowConfig config_;
  std::vector<Offset> checkpoints_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  FlowStats stats_;
  uint64_t next_token_ = 1;
  std::multimap<std::string, std::pair<uint64_t, std::function<void(const FlowOutcome&)>>>
      watchers_;
  struct AdminRequest {
    std::string id;
    bool dismiss = false;  // or retry
    std::string by;        // who dismisses
    std::function<void(const RetryOutcome&)> done;
  };
  void queue_admin_request(AdminRequest r);
  // The step `r` names, or nullopt after answering `r` (not found, or the store failed).
  std::optional<ParkedStep> find_requested(const AdminRequest& r);
  void dismiss(const AdminRequest& r, const ParkedStep& ps);
  // A parked step that no outage explains (its event starts no step, or is not in the log):
  // parked again, if it was transient, for an admin instead of the manager's own passes.
  RetryOutcome hand_to_admin(const ParkedStep& ps, const std::string& why);
  std::deque<AdminRequest> retries_;      // retries and dismissals, in the order they came
  int64_t auto_retried_at_ms_ = 0;        // manager thread only; load() starts the count
  std::deque<std::string> auto_pending_;  // manager thread only: this pass's transient steps
  bool last_park_transient_ = false;      // manager thread only: how the last step was parked
};

}  // namespace ordo

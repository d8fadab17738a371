#include "engine/runtime/flow_manager.hpp"

#include <pthread.h>

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <unordered_set>

#include "engine/domain/assert.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/state/state_store.hpp"

namespace ordo {
namespace {

// Where a submitted follow-up's completion lands; the manager's thread waits on it.
struct Slot {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Completion> completion;
};

// The submission's completion, once it is in; nullopt if `stopping` says so first.
template <typename Stopping>
std::optional<Completion> await_slot(Slot& slot, const Stopping& stopping) {
  std::unique_lock lock(slot.mu);
  while (!slot.completion) {
    slot.cv.wait_for(lock, std::chrono::milliseconds(100));
    if (!slot.completion && stopping()) return std::nullopt;
  }
  return std::move(slot.completion);
}

// Follow-ups act as this caller. Their idempotency keys start with kFlowStepKeyPrefix
// (engine/state/state_store.hpp), apart from every client's: not even a token whose sub is
// "ordo-flow" can claim a step's key.
constexpr std::string_view kFlowSub = "ordo-flow";
constexpr std::string_view kStillParked = "the step failed again and stays parked";

std::string step_key(const Envelope& env) {
  return fmt::format("{}{}-{}", kFlowStepKeyPrefix, env.partition.value(), env.offset.value());
}

Rendered render_step(const Outcome& o) {
  if (o.rejection) return Rendered{409, std::string(to_string(o.rejection->code))};
  return Rendered{200, ""};
}

// The order a follow-up acts for (every flow command names one); "" for none.
std::string order_of_step(const Command& c) {
  return std::visit(
      [](const auto& x) -> std::string {
        if constexpr (requires { x.order_id; })
          return x.order_id.value();
        else
          return {};
      },
      c);
}

// A damaged record's key or text, fit for one log line: control and non-ASCII bytes as '?'.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

bool parse_reject_code(std::string_view s, RejectCode& out) {
  for (RejectCode c : kAllRejectCodes)
    if (to_string(c) == s) {
      out = c;
      return true;
    }
  return false;
}

}  // namespace

struct FlowManager::Step {
  Step(Envelope src, Command cmd, std::string k)
      : source(std::move(src)),
        command(std::move(cmd)),
        key(std::move(k)),
        order(order_of_step(command)) {}
  Envelope source;
  Command command;  // on_refused may replace it, with one for the same order
  std::string key;
  std::string order;  // the order it acts for: its steps are submitted in log order
  int attempts = 0;
  int64_t failing_since_ms = -1;  // the first of the current run of infrastructure failures
  bool resolved = false;
  std::shared_ptr<Slot> slot;  // set while submitted
};

FlowManager::FlowManager(Engine& engine, FlowStore& store, const Clock& clock, FlowConfig config)
    : engine_(engine), store_(store), clock_(clock), config_(config) {}

FlowManager::~FlowManager() { stop(); }

Status FlowManager::load() {
  checkpoints_.clear();
  for (uint32_t p = 0; p < engine_.partition_count(); ++p) {
    auto c = store_.checkpoint(PartitionId{p});
    if (!c) return c.error();
    checkpoints_.push_back(c.value());
  }
  auto_retried_at_ms_ = clock_.now().value();
  return {};
}

void FlowManager::queue_auto_retries() {
  if (config_.auto_retry_parked_ms <= 0) return;  // off: not even the clock is read
  const int64_t now = clock_.now().value();
  if (auto_pending_.empty() && now - auto_retried_at_ms_ >= config_.auto_retry_parked_ms) {
    auto_retried_at_ms_ = now;
    auto list = store_.transient_parked(kMaxQueuedRetries);
    if (!list) {
      std::fprintf(stderr, "ordo: flow manager: cannot list parked steps: %s\n",
                   list.error().message.c_str());
      return;
    }
    for (const ParkedStep& p : list.value()) auto_pending_.push_back(p.id);
  }
  // One at a time, after the admins' own: the first that meets the infrastructure failing
  // again ends the pass (the outage is not over), so a long list cannot hold the other flows
  // up for long. One that fails for its own reasons (refused now, so parked for an admin, or
  // its event no longer starts a step) says nothing of the outage: the pass goes on.
  if (auto_pending_.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (!retries_.empty()) return;
  }
  const std::string id = auto_pending_.front();
  auto_pending_.pop_front();
  retry_parked(id, [this, id](const RetryOutcome& r) {
    if (r.ok()) {
      std::fprintf(stderr, "ordo: flow step %s retried by itself: done\n", id.c_str());
    } else if (r.outage()) {
      auto_pending_.clear();  // on the manager's thread, like every retry's answer
    } else {
      std::fprintf(stderr, "ordo: flow step %s retried by itself: %s\n", id.c_str(),
                   r.message.c_str());
    }
  });
}

void FlowManager::start() {
  std::lock_guard lock(mu_);
  ORDO_ASSERT(!thread_.joinable(), "flow manager started twice");
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ordo-flows");
    loop();
  });
}

void FlowManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whoever still waits learns nothing more: their bounded wait ends on its own. What the
  // watchers and queued retries hold (the HTTP layer's waiters, with timers on its
  // io_context) is let go now, while that io_context still exists: kept until this manager
  // is destroyed, after the server, a timer outlived its service (found by ASan).
  decltype(watchers_) watchers;
  decltype(retries_) retries;
  {
    std::lock_guard lock(mu_);
    watchers.swap(watchers_);
    retries.swap(retries_);
  }
}

FlowStats FlowManager::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

uint64_t FlowManager::watch(const std::string& key, std::function<void(const FlowOutcome&)> fn) {
  std::lock_guard lock(mu_);
  const uint64_t token = next_token_++;
  watchers_.emplace(key, std::make_pair(token, std::move(fn)));
  return token;
}

void FlowManager::unwatch(uint64_t token) {
  std::lock_guard lock(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end(); ++it)
    if (it->second.first == token) {
      watchers_.erase(it);
      return;
    }
}

void FlowManager::retry_parked(const std::string& id,
                               std::function<void(const RetryOutcome&)> done) {
  queue_admin_request({id, false, "", std::move(done)});
}

void FlowManager::dismiss_parked(const std::string& id, const std::string& by,
                                 std::function<void(const RetryOutcome&)> done) {
  queue_admin_request({id, true, by, std::move(done)});
}

void FlowManager::queue_admin_request(AdminRequest r) {
  {
    std::lock_guard lock(mu_);
    if (retries_.size() >= kMaxQueuedRetries) {  // bounded: a handful at a time
      r.done({RetryOutcome::Kind::unavailable,
              r.dismiss ? "too many retries and dismissals queued; try again shortly"
                        : "too many retries queued; try again shortly"});
      return;
    }
    retries_.push_back(std::move(r));
  }
  cv_.notify_all();
}

void FlowManager::notify(const Envelope& env, const Event& event) {
  std::optional<std::pair<std::string, FlowOutcome>> n;
  const Position pos{env.partition, env.offset};
  if (const auto* x = std::get_if<OrderPaid>(&event))
    n.emplace("payment:" + x->payment_id.value(), FlowOutcome{"paid", "", pos});
  else if (const auto* x = std::get_if<OrderPaymentFailed>(&event))
    n.emplace("payment:" + x->payment_id.value(), FlowOutcome{"payment_failed", x->reason, pos});
  else if (const auto* x = std::get_if<EscrowReleased>(&event))
    n.emplace("escrow:" + x->order_id.value(), FlowOutcome{"released", "", pos});
  else if (const auto* x = std::get_if<EscrowRefunded>(&event); x && x->resolves)
    n.emplace("escrow:" + x->order_id.value(), FlowOutcome{"refunded", "", pos});
  if (!n) return;
  std::vector<std::function<void(const FlowOutcome&)>> fire;
  {
    std::lock_guard lock(mu_);
    auto [b, e] = watchers_.equal_range(n->first);
    for (auto it = b; it != e; ++it) fire.push_back(std::move(it->second.second));
    watchers_.erase(b, e);
  }
  for (auto& f : fire) f(n->second);
}

bool FlowManager::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

Status FlowManager::run_steps(std::vector<Step>& steps, int64_t park_after_ms) {
  Status st = run_steps_once(steps, park_after_ms);
  if (!st) {
    // A round that fails (a store read or a park write) leaves submissions queued, and the
    // next round reads the same events again. Their keys have no record until they are
    // decided, so submitting them again would decide each step twice: wait for them.
    for (Step& s : steps)
      if (s.slot && !await_slot(*s.slot, [this] { return stopping(); }))
        break;  // stopping: the engine drains its queues
  }
  return st;
}

Status FlowManager::run_steps_once(std::vector<Step>& steps, int64_t park_after_ms) {
  auto park = [&](Step& s, std::string why, bool transient) {
    ParkedStep p{fmt::format("{}-{}", s.source.partition.value(), s.source.offset.value()),
                 s.source.partition,
                 s.source.offset,
                 s.source.type,
                 s.source.stream,
                 std::string(command_name(s.command)),
                 std::move(why),
                 s.attempts,
                 clock_.now().value(),
                 transient};
    std::fprintf(stderr, "ordo: flow step %s (%s after %s) parked: %s\n", p.id.c_str(),
                 p.command.c_str(), p.event_type.c_str(), p.error.c_str());
    if (auto st = store_.park(p); !st) return st;
    last_park_transient_ = transient;
    s.resolved = true;
    std::lock_guard lock(mu_);
    ++stats_.parked;
    return Status{};
  };
  // A refusal either leads to the flow's other branch, ends it, or needs an admin.
  auto refused = [&](Step& s, const Rejection& r) -> Status {
    if (auto next = on_refused(s.command, r)) {
      s.command = std::move(*next);
      s.key += ":refused";
      s.attempts = 0;
      s.failing_since_ms = -1;
      return {};
    }
    if (refusal_is_benign(s.command, r)) {
      s.resolved = true;
      return {};
    }
    return park(s, fmt::format("{}: {}", to_string(r.code), r.detail), /*transient=*/false);
  };
  bool backoff = false;
  // An infrastructure failure: tried again after a backoff, parked once it has lasted.
  auto failed = [&](Step& s, std::string why) -> Status {
    ++s.attempts;
    const int64_t now = clock_.now().value();
    if (s.failing_since_ms < 0) s.failing_since_ms = now;
    if (now - s.failing_since_ms >= park_after_ms)
      return park(s, std::move(why), /*transient=*/true);
    backoff = true;
    return {};
  };

  for (;;) {
    bool pending = false;
    backoff = false;
    // Submit every unresolved step that is not in flight, in log order per order, one step
    // of an order at a time: a later step decided while an earlier one of its order is still
    // open could be refused as benign and dropped (a card refund's MarkOrderRefunded seen
    // before the capture's MarkOrderPaid), and its record would replay that refusal.
    std::unordered_set<std::string> held;  // orders with an earlier step open this pass
    for (Step& s : steps) {
      if (s.resolved) continue;
      if (s.slot) {
        if (!s.order.empty()) held.insert(s.order);
        continue;
      }
      if (!s.order.empty() && held.count(s.order)) {
        pending = true;  // behind an earlier step of its order: the next pass takes it
        continue;
      }
      pending = true;
      auto record = engine_.store().get_idempotency(s.key);
      if (!record) return record.error();
      if (record.value()) {
        // Done before (a redelivery after a crash): take the recorded outcome.
        {
          std::lock_guard lock(mu_);
          ++stats_.repeats;
        }
        RejectCode code;
        if (record.value()->status == 200 || !parse_reject_code(record.value()->body, code)) {
          s.resolved = true;
        } else if (auto st = refused(s, Rejection{code, "recorded"}); !st) {
          return st;
        }
        // Turned into its other branch (not resolved): still the order's open step.
        if (!s.resolved && !s.order.empty()) held.insert(s.order);
        continue;
      }
      auto slot = std::make_shared<Slot>();
      Submission sub;
      sub.command = s.command;
      sub.meta.command_id = s.key.substr(kFlowStepKeyPrefix.size());
      sub.meta.correlation_id = s.source.correlation_id;
      sub.meta.causation_id =
          fmt::format("{}-{}", s.source.partition.value(), s.source.offset.value());
      sub.meta.actor = Actor{std::string(kFlowSub), "system"};
      sub.meta.system = true;
      sub.idempotency = IdempotencyClaim{s.key, s.key};
      sub.render = render_step;
      sub.done = [slot](Completion&& c) {
        std::lock_guard lock(slot->mu);
        slot->completion = std::move(c);
        slot->cv.notify_all();
      };
      {
        std::lock_guard lock(mu_);
        ++stats_.steps;
      }
      if (engine_.submit(std::move(sub)) == SubmitResult::overloaded) {
        if (auto st = failed(s, "the target partition stayed overloaded"); !st) return st;
        // The later steps of its order wait for its next attempt: submitted now, one could
        // overtake it (a card refund's MarkOrderRefunded ahead of the capture's MarkOrderPaid).
        if (!s.resolved && !s.order.empty()) held.insert(s.order);
        continue;
      }
      s.slot = slot;
      if (!s.order.empty()) held.insert(s.order);  // its later steps wait for its outcome
    }
    // Wait for what is in flight. The engine always completes a queued submission, so this
    // wait ends; stop() only abandons it (the checkpoint does not move, the keys dedupe).
    for (Step& s : steps) {
      if (!s.slot) continue;
      pending = true;
      std::optional<Completion> c = await_slot(*s.slot, [this] { return stopping(); });
      if (!c) return Error{"stopping"};
      s.slot.reset();
      if (!c->durable) {
        if (auto st = failed(s, c->durable.message()); !st) return st;
        continue;
      }
      if (c->outcome.rejection) {
        if (auto st = refused(s, *c->outcome.rejection); !st) return st;
      } else {
        s.resolved = true;
      }
    }
    if (!pending) return {};
    if (backoff) {
      int attempts = 1;
      for (const Step& s : steps)
        if (!s.resolved) attempts = std::max(attempts, s.attempts);
      {
        std::lock_guard lock(mu_);
        ++stats_.retries;
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock,
                   std::chrono::milliseconds(config_.first_backoff_ms << std::min(attempts, 6)),
                   [&] { return stopping_; });
      if (stopping_) return Error{"stopping"};
    }
  }
}

bool FlowManager::read_round(PartitionId p, std::vector<Step>& steps, Offset& last) {
  const Offset after = checkpoints_.at(p.value());
  // Only the types a flow can need are decoded; the rest (most of a busy log) are skipped.
  Offset scanned{-1};
  auto batch = engine_.log().read_types(
      p, Offset{after.value() + 1}, config_.batch_events,
      [](std::string_view type) { return flow_may_need(type); }, scanned);
  if (!batch || scanned.value() <= after.value()) return false;
  for (const Envelope& env : batch.value()) {
    auto ev = decode_event(env.type, env.schema_version, env.payload);
    if (!ev) {
      // Parked for an admin to see; if even that fails, the round ends here (the checkpoint
      // stays before this event) rather than pass it by without a trace.
      auto parked = store_.park(ParkedStep{
          fmt::format("{}-{}", p.value(), env.offset.value()), p, env.offset, env.type, env.stream,
          "", "cannot decode: " + ev.error().message, 0, clock_.now().value()});
      if (!parked) {
        std::fprintf(stderr, "ordo: flow manager: cannot park undecodable event %u-%lld: %s\n",
                     p.value(), static_cast<long long>(env.offset.value()),
                     parked.message().c_str());
        if (env.offset.value() <= after.value() + 1) return false;
        last = Offset{env.offset.value() - 1};
        return true;
      }
      continue;
    }
    notify(env, ev.value());
    if (auto next = react(ev.value())) steps.emplace_back(env, std::move(*next), step_key(env));
  }
  last = scanned;
  return true;
}

void FlowManager::run_retries() {
  // One retry per round, so queued retries cannot hold every flow up in turn; each tries
  // for retry_park_after_ms at most, less than its caller waits.
  {
    AdminRequest r;
    {
      std::lock_guard lock(mu_);
      if (retries_.empty()) return;
      r = std::move(retries_.front());
      retries_.pop_front();
    }
    using Kind = RetryOutcome::Kind;
    const std::optional<ParkedStep> found = find_requested(r);
    if (!found) return;
    const ParkedStep& ps = *found;
    if (r.dismiss) {
      dismiss(r, ps);
      return;
    }
    if (ps.unreadable) {
      r.done({Kind::still_parked, ps.error});
      return;
    }
    if (ps.partition.value() >= engine_.partition_count()) {
      r.done(hand_to_admin(ps, "its partition is not in this log"));
      return;
    }
    auto evs = engine_.log().read(ps.partition, ps.offset, 1);
    if (!evs) {  // the log cannot be read now: an outage
      r.done({Kind::unavailable, "the parked step's event cannot be read: " + evs.error().message});
      return;
    }
    if (evs->empty() || evs->front().offset != ps.offset) {
      r.done(hand_to_admin(ps, "its event is not in the log"));
      return;
    }
    auto ev = decode_event(evs->front().type, evs->front().schema_version, evs->front().payload);
    if (!ev) {
      r.done(hand_to_admin(ps, "its event cannot be decoded: " + ev.error().message));
      return;
    }
    auto next = react(ev.value());
    if (!next) {  // (a rule changed since it was parked)
      r.done(hand_to_admin(ps, "its event starts no step"));
      return;
    }
    std::vector<Step> steps;
    steps.emplace_back(evs->front(), std::move(*next), step_key(evs->front()));
    const uint64_t parked_before = stats().parked;
    auto st = run_steps(steps, config_.retry_park_after_ms);
    if (st && stats().parked != parked_before) {
      r.done({Kind::still_parked, std::string(kStillParked), last_park_transient_});
      return;
    }
    if (st) st = store_.unpark(ps.id);
    r.done(st ? RetryOutcome{} : RetryOutcome{Kind::unavailable, st.message()});
  }
}

RetryOutcome FlowManager::hand_to_admin(const ParkedStep& ps, const std::string& why) {
  if (ps.transient) {
    ParkedStep for_admin = ps;
    for_admin.transient = false;
    for_admin.error = fmt::format("{} (was: {})", why, ps.error);
    for_admin.parked_at_ms = clock_.now().value();
    if (auto st = store_.park(for_admin); !st)
      return {RetryOutcome::Kind::unavailable, st.message()};
  }
  return {RetryOutcome::Kind::still_parked, fmt::format("{}: {}", kStillParked, why)};
}

std::optional<ParkedStep> FlowManager::find_requested(const AdminRequest& r) {
  auto found = store_.find_parked(r.id);
  if (!found)
    r.done({RetryOutcome::Kind::unavailable, found.error().message});
  else if (!found.value())
    r.done({RetryOutcome::Kind::not_found, "no such parked step"});
  else
    return std::move(*found.value());
  return std::nullopt;
}

void FlowManager::dismiss(const AdminRequest& r, const ParkedStep& ps) {
  using Kind = RetryOutcome::Kind;
  // Until the round that parked it has moved the checkpoint past its event (a synced write),
  // a failure of that round or a crash reads the event again and parks or runs the step
  // again: the dismissal would not hold.
  if (!ps.unreadable && ps.partition.value() < checkpoints_.size() &&
      ps.offset > checkpoints_[ps.partition.value()]) {
    // Unless no round can ever read it: an offset past the log's end (a record written by
    // hand, or a log that lost its tail) would otherwise be refused for ever.
    auto tail = engine_.log().tail(ps.partition);
    if (!tail) {
      r.done({Kind::unavailable, "the log's end cannot be read: " + tail.error().message});
      return;
    }
    if (ps.offset <= tail->last_offset) {
      r.done({Kind::unavailable, "the round that parked this step has not finished; try again"});
      return;
    }
  }
  if (auto st = store_.unpark(r.id); !st) {
    r.done({Kind::unavailable, st.message()});
    return;
  }
  // The dismissal writes nothing to the event log: this line is its record.
  const std::string what = ps.unreadable
                               ? ps.error
                               : fmt::format("{} after {} in {}; parked for: {}", ps.command,
                                             ps.event_type, ps.stream, ps.error);
  std::fprintf(stderr, "ordo: parked flow step %s (%s) dismissed by %s without running\n",
               printable(r.id).c_str(), printable(what).c_str(), r.by.c_str());
  r.done({});
}

bool FlowManager::run_once() {
  queue_auto_retries();
  run_retries();
  // Every partition's next events first, then all their steps at once: the follow-ups of
  // different partitions share group commits instead of waiting for each other in turn.
  std::vector<Step> steps;
  std::vector<std::pair<PartitionId, Offset>> read;
  for (uint32_t p = 0; p < engine_.partition_count(); ++p) {
    Offset last{-1};
    if (read_round(PartitionId{p}, steps, last)) read.emplace_back(PartitionId{p}, last);
  }
  if (read.empty()) return false;
  if (auto st = run_steps(steps, config_.park_after_ms); !st) {
    if (st.message() != "stopping")
      std::fprintf(stderr, "ordo: flow manager: %s\n", st.message().c_str());
    return false;
  }
  // Only now, with every step done or parked, may the checkpoints move (one write).
  // A round that ran no step need not sync: losing its checkpoint in a crash only means
  // reading the same events again and finding nothing to do again. On a busy log most
  // rounds are such (orders placed, no payment yet), and each synced write was one more
  // fsync of the WAL beside the partitions' group commits.
  if (auto st = store_.set_checkpoints(read, /*sync=*/!steps.empty()); !st) {
    std::fprintf(stderr, "ordo: flow checkpoint: %s\n", st.message().c_str());
    return false;
  }
  for (const auto& [p, last] : read) checkpoints_[p.value()] = last;
  return true;
}

void FlowManager::loop() {
  for (;;) {
    if (stopping()) return;
    if (run_once()) continue;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(config_.idle_poll_ms),
                 [&] { return stopping_ || !retries_.empty(); });
  }
}

}  // namespace ordo

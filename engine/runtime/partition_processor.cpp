#include "engine/runtime/partition_processor.hpp"

#include <pthread.h>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <unordered_set>

#include "engine/domain/assert.hpp"
#include "engine/domain/decide.hpp"
#include "engine/log/event_codec.hpp"

namespace ordo {
namespace {

// How long the writer sleeps when idle before checking timers again.
constexpr auto kIdleWait = std::chrono::milliseconds(50);

// The timer an order needs: its escrow's automatic release once delivered, else its expiry
// when it has one (expiry_due: the rule decide applies too).
std::optional<TimestampMs> timer_due(const Order& o, DurationMs payment_timeout) {
  if (o.status == OrderStatus::delivered) return o.release_at;
  return expiry_due(o, payment_timeout);
}

// Whether a partition's state holds the effect of a command that claimed a new id: how the
// writer learns, after a recovery, if a write whose outcome was unknown landed.
bool effect_in_state(const PartitionState& state, const Command& command) {
  if (const auto* c = std::get_if<PlaceOrder>(&command)) return state.find_order(c->order_id);
  if (const auto* y = std::get_if<PayOrder>(&command)) {
    const Order* o = state.find_order(y->order_id);
    return o && o->payment_id == y->payment_id;
  }
  if (const auto* u = std::get_if<RequestPayout>(&command)) return state.find_payout(u->payout_id);
  if (const auto* d = std::get_if<DefineProduct>(&command)) {
    const Product* p = state.find_product(d->sku);
    return p && p->seller_id == d->seller_id;
  }
  ORDO_ASSERT(false, "a command that claims no id was held in doubt");
  return false;
}

}  // namespace

PartitionProcessor::PartitionProcessor(PartitionId id, EventLog& log, StateStore& store,
                                       const Clock& clock, Router& router, ProcessorConfig config)
    : id_(id), log_(log), store_(store), clock_(clock), router_(router), config_(config) {}

PartitionProcessor::~PartitionProcessor() { stop(); }

Status PartitionProcessor::recover() {
  PartitionState loaded;
  Offset applied{-1};
  if (auto s = store_.load_partition(id_, loaded, applied); !s) return s;
  auto tail = log_.tail(id_);
  if (!tail) return tail.error();
  if (applied.value() > tail->last_offset.value())
    return Error{fmt::format("partition {}: state is at offset {} beyond the log's end {}",
                             id_.value(), applied.value(), tail->last_offset.value())};
  state_ = std::move(loaded);
  tail_ = tail.value();
  chain_tip_ = tail_.last_hash;
  dirty_.clear();
  if (auto s = replay_log_after(applied); !s) return s;
  std::string why;
  if (!check_invariants(state_, &why))
    return Error{
        fmt::format("partition {}: invariant broken after recovery: {}", id_.value(), why)};
  timers_.clear();
  for (const auto& [id, o] : state_.orders) retime(o);
  router_.load(id_, state_);
  // Published once the router knows what the log holds (routed_offset()).
  durable_offset_.store(tail_.last_offset.value(), std::memory_order_release);
  return {};
}

Status PartitionProcessor::replay_log_after(Offset applied) {
  // The chain continues from the snapshot's event (or genesis) to the log's recorded tail:
  // every replayed event is re-hashed, so a torn or edited tail is found here.
  std::string prev = kGenesisHash;
  if (applied.value() >= 0) {
    auto at = log_.read(id_, applied, 1);
    if (!at) return at.error();
    if (at->empty() || at->front().offset != applied)
      return Error{fmt::format("partition {}: the snapshot's event (offset {}) is missing",
                               id_.value(), applied.value())};
    // After a clean stop the snapshot's event is the tail, and nothing follows to re-hash:
    // its own bytes are checked against its hash (the tail record then checks the hash).
    if (compute_hash(at->front()) != at->front().hash)
      return Error{fmt::format("partition {}: hash chain broken at offset {}", id_.value(),
                               applied.value())};
    prev = at->front().hash;
  }
  Offset next{applied.value() + 1};
  Offset last = applied;
  for (;;) {
    auto batch = log_.read(id_, next, 1024);
    if (!batch) return batch.error();
    if (batch->empty()) break;
    for (const Envelope& e : batch.value()) {
      // The offset is not in the hash: a misnumbered event would pass the chain check.
      // (Not `last + 1`: a Kafka transaction's marker leaves a gap.)
      if (e.partition != id_ || e.offset <= last)
        return Error{fmt::format("partition {}: event at offset {} (of partition {}) after {}",
                                 id_.value(), e.offset.value(), e.partition.value(), last.value())};
      if (e.prev_hash != prev || compute_hash(e) != e.hash)
        return Error{fmt::format("partition {}: hash chain broken at offset {}", id_.value(),
                                 e.offset.value())};
      auto ev = decode_event(e.type, e.schema_version, e.payload);
      if (!ev)
        return Error{fmt::format("partition {} offset {}: {}", id_.value(), e.offset.value(),
                                 ev.error().message)};
      apply(state_, ev.value(), e.occurred_at);
      dirty_.mark(ev.value());
      prev = e.hash;
      last = e.offset;
    }
    next = Offset{last.value() + 1};
  }
  if (last != tail_.last_offset || prev != tail_.last_hash)
    return Error{fmt::format("partition {}: the log ends at offset {} but its tail record says {}",
                             id_.value(), last.value(), tail_.last_offset.value())};
  return {};
}

void PartitionProcessor::start() {
  std::lock_guard lock(mu_);
  ORDO_ASSERT(!thread_.joinable(), "processor started twice");
  stopping_ = false;
  {
    std::lock_guard commit_lock(commit_mu_);
    commit_stop_ = false;
  }
  // Named, so that top and perf show which partition's writer or committer is busy.
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(),
                       fmt::format("ordo-commit-{}", id_.value()).substr(0, 15).c_str());
    committer_loop();
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(),
                       fmt::format("ordo-write-{}", id_.value()).substr(0, 15).c_str());
    loop();
  });
}

void PartitionProcessor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // drains the committer before it returns
  {
    std::lock_guard lock(commit_mu_);
    commit_stop_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

bool PartitionProcessor::try_submit(Submission&& s) {
  {
    std::lock_guard lock(mu_);
    const size_t capacity =
        config_.queue_capacity + (s.meta.system ? config_.system_reserve : size_t{0});
    if (stopping_ || vip_queue_.size() + queue_.size() >= capacity) return false;
    if (s.meta.vip || s.meta.system)
      vip_queue_.push_back(std::move(s));
    else
      queue_.push_back(std::move(s));
  }
  cv_.notify_one();
  return true;
}

size_t PartitionProcessor::queue_depth() const {
  std::lock_guard lock(mu_);
  return vip_queue_.size() + queue_.size();
}

ProcessorStats PartitionProcessor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<Submission> PartitionProcessor::take_batch(bool wait) {
  std::vector<Submission> batch;
  std::unique_lock lock(mu_);
  if (wait && vip_queue_.empty() && queue_.empty() && !stopping_)
    cv_.wait_for(lock, kIdleWait,
                 [&] { return stopping_ || !vip_queue_.empty() || !queue_.empty(); });
  // VIP first, then the rest, up to the batch limit.
  while (batch.size() < config_.max_batch && !vip_queue_.empty()) {
    batch.push_back(std::move(vip_queue_.front()));
    vip_queue_.pop_front();
  }
  while (batch.size() < config_.max_batch && !queue_.empty()) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void PartitionProcessor::fire_due_timers(std::vector<Submission>& batch) {
  const TimestampMs now = clock_.now();
  size_t fired = 0, examined = 0;
  // An order pushed twice with the same due (reserved again after a failed payment) has two
  // live entries: it fires once. The other entry is dead once the command has run.
  std::unordered_set<OrderId> fired_orders;
  while (!timers_.empty() && timers_.front().due <= now) {
    // Bounded per batch, dead entries included.
    if (batch.size() >= config_.max_batch + 64 || fired >= 64 || ++examined > 4096) break;
    std::pop_heap(timers_.begin(), timers_.end(), fires_later);
    const DueTimer t = std::move(timers_.back());
    timers_.pop_back();
    const OrderId& order_id = t.order_id;
    const Order* o = state_.find_order(order_id);
    ORDO_ASSERT(o, "timer for unknown order {}", order_id.value());
    if (timer_due(*o, config_.payment_timeout) != t.due || !fired_orders.insert(order_id).second)
      continue;
    // Popped: if the command is refused and the order still wants its timer, prepare()
    // pushes it again; if the write fails, recovery rebuilds every timer from state.
    const bool release = o->status == OrderStatus::delivered;
    Submission s;
    if (release)
      s.command = AutoCompleteOrder{order_id};
    else
      s.command = ExpireReservation{order_id};
    s.meta.command_id = (release ? "auto-complete:" : "expire:") + order_id.value();
    s.meta.correlation_id = s.meta.command_id;
    s.meta.actor = Actor{"ordo", "system"};
    batch.push_back(std::move(s));
    ++fired;
  }
}

void PartitionProcessor::loop() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ && vip_queue_.empty() && queue_.empty()) break;
    }
    auto batch = take_batch(true);
    reload_if_write_failed();
    fire_due_timers(batch);
    if (batch.empty()) {
      // An idle partition that holds new ids in doubt still recovers (at most every
      // recovery_retry): commands for those ids never reach it to wake it. Without doubts
      // the next command does it, and an unreachable log is not polled for nothing.
      if (needs_recovery_ && has_claims_in_doubt()) ensure_recovered();
      // So /readyz follows the store and the disk without a command failing first.
      retry_refused_writes();
      check_disk_room();
      continue;
    }
    if (auto p = prepare(batch)) hand_off(std::move(p));
  }
  drain_committer();
  reload_if_write_failed();
  write_final_snapshot();
}

void PartitionProcessor::write_final_snapshot() {
  {
    // The snapshot is stored at the durable tail: nothing may be on its way to the log.
    std::lock_guard lock(commit_mu_);
    ORDO_ASSERT(!commit_slot_ && !committing_, "final snapshot of partition {} while committing",
                id_.value());
  }
  // (Not on a nearly full disk: recovery replays the log after the last snapshot anyway.)
  if (dirty_.empty() || needs_recovery_ || check_disk_room()) return;
  auto build = [&](std::span<const Envelope>, StateDelta& delta) {
    dirty_.write(delta, id_, state_);
    StateStore::put_applied(delta, id_, tail_.last_offset);
  };
  if (log_.append(id_, {}, build)) {
    dirty_.clear();
    batches_since_snapshot_ = 0;
  }
}

void PartitionProcessor::retime(const Order& o) {
  // Only pushes: the entry an order no longer wants is dropped when it comes due.
  auto want = timer_due(o, config_.payment_timeout);
  if (!want) return;
  timers_.push_back(DueTimer{*want, ++timer_seq_, o.order_id});
  std::push_heap(timers_.begin(), timers_.end(), fires_later);
}

size_t PartitionProcessor::run_once() {
  auto batch = take_batch(false);
  fire_due_timers(batch);
  size_t n = batch.size();
  if (n) process(batch);
  return n;
}

bool PartitionProcessor::ensure_recovered() {
  if (!needs_recovery_) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_recovery_) return false;
  next_recovery_ = now + std::chrono::milliseconds(config_.recovery_retry.value());
  state_ = PartitionState{};
  timers_.clear();
  writes_refused_ = false;  // decided again below, once the log reads back
  // Best effort: an error RocksDB cannot resume from leaves writes failing, but the log is
  // still read back, so the ids in doubt are settled and reads stay current.
  const Status resumed = store_.resume_writes();
  if (auto s = recover(); !s) {
    recovery_error_ = s.message();
    set_health(false, "recovery failed: " + recovery_error_);
    return false;
  }
  std::fprintf(stderr, "ordo: partition %u recovered\n", id_.value());
  settle_claims_in_doubt();
  // Writable until a write says otherwise, unless the store has already refused to write
  // again: then /readyz stays unready (not ready, a write fails, ready again after the reload,
  // and so on) until a write succeeds.
  writes_refused_ = !resumed;
  if (resumed) {
    set_health(true, "");
  } else {
    // Unready for the reason the failed write gave, already logged (RocksDB's refusal to
    // resume is mostly "busy": its own recovery, which waits for the disk, is under way).
    next_resume_ = now + std::chrono::milliseconds(config_.recovery_retry.value());
    std::string why;
    {
      std::lock_guard lock(health_mu_);
      why = last_write_failure_;
    }
    set_health(false, why.empty() ? resumed.message() : why);
  }
  needs_recovery_ = false;
  return true;
}

void PartitionProcessor::retime_if_timer(const Command& command) {
  const OrderId* id = nullptr;
  if (const auto* x = std::get_if<ExpireReservation>(&command)) id = &x->order_id;
  if (const auto* x = std::get_if<AutoCompleteOrder>(&command)) id = &x->order_id;
  if (const Order* o = id ? state_.find_order(*id) : nullptr) retime(*o);
}

std::optional<std::string> PartitionProcessor::check_disk_room() {
  if (!config_.disk_space || config_.min_free_disk_bytes == 0) return std::nullopt;
  const uint64_t pause_below = config_.min_free_disk_bytes;
  const uint64_t resume_at = pause_below + pause_below / 8;
  auto free = config_.disk_space->free_bytes();
  if (!free && !disk_unmeasurable_)  // written anyway: RocksDB's own error handling behind it
    std::fprintf(stderr, "ordo: partition %u cannot measure the disk's free space: %s\n",
                 id_.value(), free.error().message.c_str());
  disk_unmeasurable_ = !free;
  const bool low = free && free.value() < (disk_low_ ? resume_at : pause_below);
  std::string pause;
  if (low)
    pause = fmt::format(
        "the disk is nearly full: {} MiB free under the data directory; writes pause below {} "
        "MiB (--min-free-disk-mb) and resume from {} MiB",
        free.value() >> 20, pause_below >> 20, resume_at >> 20);
  if (low != disk_low_) {
    const std::string line =
        low    ? fmt::format("ordo: partition {} pauses writes: {}\n", id_.value(), pause)
        : free ? fmt::format("ordo: partition {} resumes writes: {} MiB free\n", id_.value(),
                             free.value() >> 20)
               : fmt::format("ordo: partition {} resumes writes: free space cannot be measured\n",
                             id_.value());
    std::fputs(line.c_str(), stderr);
  }
  // Published while paused (the free MiB change) and once when it ends; not on every group
  // commit of a disk with room.
  if (low || low != disk_low_) {
    std::lock_guard lock(health_mu_);
    disk_pause_ = pause;
  }
  disk_low_ = low;
  return low ? std::optional<std::string>(std::move(pause)) : std::nullopt;
}

void PartitionProcessor::retry_refused_writes() {
  // A partition still to be reloaded is not writable whatever the store says.
  if (!writes_refused_ || needs_recovery_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_resume_) return;
  next_resume_ = now + std::chrono::milliseconds(config_.recovery_retry.value());
  // The state is what the log holds (reloaded when the write failed), so only the store's
  // refusal stands between the partition and its next write.
  if (!store_.resume_writes()) return;  // still unready, for the reason already given
  writes_refused_ = false;
  set_health(true, "");
}

// A group of commands decided, applied and sealed into the chain on the writer thread,
// waiting for its durable write and its replies on the committer thread.
struct PartitionProcessor::Prepared {
  struct Pending {
    Outcome outcome;
    Rendered rendered;
    size_t first_event = 0;  // index range into `envelopes`
    size_t event_count = 0;
  };
  std::vector<Submission> batch;
  std::vector<Pending> pending;
  std::vector<Envelope> envelopes;
  TimestampMs now{0};
  bool need_write = false;
  // The aggregates changed since the last snapshot, serialised as of the end of this batch
  // (on the writer thread, which owns the state); written with this batch's applied offset.
  std::optional<StateDelta> snapshot;
};

void PartitionProcessor::process(std::vector<Submission>& batch) {
  if (auto p = prepare(batch)) commit(*p);
  reload_if_write_failed();
}

void PartitionProcessor::reload_if_write_failed() {
  // Wait for what is in flight to be answered (with the failure), then reload the state
  // from disk before deciding anything more. Nothing is in flight when run inline. Checked
  // first: draining on every batch would undo the pipelining.
  if (!write_failed_.load()) return;
  drain_committer();
  write_failed_ = false;
  reload_after_failure();
}

void PartitionProcessor::refuse_batch(std::vector<Submission>& batch, const std::string& why) {
  for (auto& s : batch) {
    // After a failed reload the state is not there to ask; recovery rebuilds every timer.
    if (!needs_recovery_) retime_if_timer(s.command);
    if (s.owns_claim) router_.release_claim(s.command);
    if (s.done)
      s.done(Completion{Status{Error{why, true}}, {}, {}, Position{id_, tail_.last_offset}});
  }
}

std::unique_ptr<PartitionProcessor::Prepared> PartitionProcessor::prepare(
    std::vector<Submission>& batch) {
  if (!ensure_recovered()) {
    // The partition's state is unknown until the log can be read again: acknowledge nothing.
    // (Nothing is in flight: the writer drains the committer before it reloads.)
    refuse_batch(batch, "partition unavailable: " + recovery_error_);
    return nullptr;
  }
  retry_refused_writes();
  if (writes_refused_) {
    // The store refuses to write (nothing is in flight: it said so in the reload after a
    // failed write). A write now would fail and reload the whole partition again, and with
    // the Kafka log it would commit events the state store then fails to follow.
    refuse_batch(batch, "partition cannot write: " + health().error);
    return nullptr;
  }
  if (auto pause = check_disk_room()) {
    // Refused before RocksDB is asked: it stays clear of a full disk, and of the failed WAL
    // append that Debian's RocksDB 7.8 may abort on.
    refuse_batch(batch, "partition cannot write: " + *pause);
    return nullptr;
  }
  const TimestampMs now = clock_.now();
  answer_recorded_keys(batch, now);
  auto prepared = std::make_unique<Prepared>();
  Prepared& out = *prepared;
  out.now = now;
  const DecideContext ctx{now, config_.reservation_ttl, config_.auto_release_after,
                          config_.platform_fee_bps, config_.payment_timeout};

  out.pending.resize(batch.size());
  std::vector<Envelope>& envelopes = out.envelopes;
  // Chains from the last prepared event, which may still be on its way to disk.
  std::string prev_hash = chain_tip_;

  for (size_t i = 0; i < batch.size(); ++i) {
    Submission& s = batch[i];
    Prepared::Pending& p = out.pending[i];
    Decision d = decide(state_, s.command, ctx);
    if (auto* r = std::get_if<Rejection>(&d)) {
      p.outcome.rejection = std::move(*r);
    } else {
      p.outcome.events = std::move(std::get<std::vector<Event>>(d));
      p.first_event = envelopes.size();
      p.event_count = p.outcome.events.size();
      for (const Event& e : p.outcome.events) {
        apply(state_, e, now);
        Envelope& env = envelopes.emplace_back();  // built in place: no move of 14 strings
        env.partition = id_;
        env.stream = event_stream(e);
        env.stream_version = stream_version_after(state_, e);
        env.type = std::string(event_type(e));
        env.schema_version = current_schema_version(env.type);
        env.occurred_at = now;
        env.command_id = s.meta.command_id;
        env.correlation_id = s.meta.correlation_id;
        env.causation_id = s.meta.causation_id;
        env.actor = s.meta.actor;
        write_event_payload(e, env.payload_bytes);
        prev_hash = seal(env, prev_hash);
        // Timers follow their orders' status, which only order-stream events change. If the
        // write fails, recovery rebuilds the timers from state.
        const bool order_event = env.stream.starts_with("order-");
        dirty_.mark(e);
        if (order_event)
          std::visit(
              [&](const auto& x) {
                if constexpr (requires { x.order_id; }) retime(state_.orders.at(x.order_id));
              },
              e);
      }
    }
    if (s.render) p.rendered = s.render(p.outcome);
  }

  // A timer that fired for an order that has moved on (the command was refused) is dropped.
  for (const auto& s : batch) retime_if_timer(s.command);

  bool any_idempotency = false;
  for (const auto& s : batch) any_idempotency |= s.idempotency.has_value();
  out.need_write = !envelopes.empty() || any_idempotency;
  if (out.need_write) {
    ++batches_since_snapshot_;
    if (batches_since_snapshot_ >= config_.snapshot_every_batches ||
        dirty_.size() >= config_.snapshot_max_dirty) {
      out.snapshot.emplace();
      dirty_.write(*out.snapshot, id_, state_);
      // In key order (keys are unique per column), so the memtable inserts run next to
      // each other instead of at random places.
      std::sort(out.snapshot->writes.begin(), out.snapshot->writes.end(),
                [](const KvWrite& a, const KvWrite& b) {
                  return a.column != b.column ? a.column < b.column : a.key < b.key;
                });
      // If this write fails, recovery reloads the last durable snapshot and replays after it.
      dirty_.clear();
      batches_since_snapshot_ = 0;
    }
  }
  chain_tip_ = prev_hash;
  {
    std::lock_guard lock(mu_);
    stats_.decided += batch.size();
  }
  out.batch = std::move(batch);
  return prepared;
}

void PartitionProcessor::answer_recorded_keys(std::vector<Submission>& batch, TimestampMs now) {
  // The caller looked for a record of the key before submitting; one may have appeared since
  // in a single way: a write whose outcome was in doubt (a Kafka commit that timed out) did
  // commit, and recovery put its records back. Deciding the command again would run it twice,
  // so it is answered as a failure to retry: the retry finds the record and replays it.
  std::erase_if(batch, [&](Submission& s) {
    if (!s.idempotency) return false;
    auto record = store_.get_idempotency(s.idempotency->scoped_key);
    if (record &&
        !(record.value() && idempotency_record_honoured(record.value()->created_at,
                                                        config_.idempotency_retention_ms, now)))
      return false;
    if (s.owns_claim) router_.release_claim(s.command);
    if (s.done)
      s.done(Completion{
          Status{Error{record ? "the command's outcome is already recorded; retry"
                              : "idempotency records cannot be read: " + record.error().message}},
          {},
          {},
          Position{id_, Offset{durable_offset_.load(std::memory_order_acquire)}}});
    return true;
  });
}

void PartitionProcessor::fail_prepared(Prepared& p, const Status& why, bool maybe_written) {
  for (size_t i = 0; i < p.batch.size(); ++i) {
    Submission& s = p.batch[i];
    if (s.owns_claim) {
      // A rejected command wrote nothing of its id, whatever became of the append.
      if (maybe_written && p.pending[i].event_count > 0) {
        router_.hold_in_doubt(s.command);
        std::lock_guard lock(doubt_mu_);
        claims_in_doubt_.push_back(s.command);
      } else {
        router_.release_claim(s.command);
      }
    }
    if (s.done) s.done(Completion{why, {}, {}, Position{id_, tail_.last_offset}});
  }
}

bool PartitionProcessor::has_claims_in_doubt() {
  std::lock_guard lock(doubt_mu_);
  return !claims_in_doubt_.empty();
}

void PartitionProcessor::settle_claims_in_doubt() {
  std::vector<Command> settled;
  {
    std::lock_guard lock(doubt_mu_);
    settled.swap(claims_in_doubt_);
  }
  for (const Command& c : settled) router_.settle_in_doubt(c, effect_in_state(state_, c));
}

void PartitionProcessor::commit(Prepared& prepared) {
  std::vector<Submission>& batch = prepared.batch;
  std::vector<Envelope>& envelopes = prepared.envelopes;
  auto& pending = prepared.pending;
  if (write_failed_.load()) {
    // Decided on top of a batch whose write failed: its outcomes assumed state that is not
    // on disk, so none of it may be acknowledged. The writer reloads once this is drained.
    fail_prepared(prepared, Status{Error{"partition write failed; state reloading"}});
    return;
  }

  Status durable;
  if (prepared.need_write) {
    auto build = [&](std::span<const Envelope> evs, StateDelta& delta) {
      Offset last = evs.empty() ? tail_.last_offset : evs.back().offset;
      if (prepared.snapshot) {
        for (auto& w : prepared.snapshot->writes) delta.writes.push_back(std::move(w));
        StateStore::put_applied(delta, id_, last);
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!batch[i].idempotency) continue;
        // A rejection names the partition's position after this batch, as its answer does.
        Offset pos = pending[i].event_count
                         ? evs[pending[i].first_event + pending[i].event_count - 1].offset
                         : last;
        StateStore::put_idempotency(
            delta, batch[i].idempotency->scoped_key,
            IdempotencyRecord{batch[i].idempotency->fingerprint, pending[i].rendered.status,
                              pending[i].rendered.body, Position{id_, pos}.to_string(),
                              prepared.now});
      }
    };
    durable = log_.append(id_, envelopes, build);
  }

  set_health(durable.ok(), durable.ok() ? std::string() : durable.message(), true);
  if (!durable) {
    // The in-memory state ran ahead of the disk, and the events may or may not be in the log
    // (a Kafka commit that timed out may have committed). Answer every command with the
    // failure; the writer reloads the partition from what the log holds.
    write_failed_ = true;
    fail_prepared(prepared, durable, !durable.wrote_nothing());
    return;
  }

  // Durable: read-back check of the chain, then replies.
  if (!envelopes.empty()) {
    ORDO_ASSERT(envelopes.front().offset.value() > tail_.last_offset.value(),
                "offsets must increase");
    ORDO_ASSERT(envelopes.front().prev_hash == tail_.last_hash,
                "a batch must chain to the durable tail");
    tail_.last_offset = envelopes.back().offset;
    tail_.last_hash = envelopes.back().hash;
  }
  for (const auto& p : pending)
    for (const Event& e : p.outcome.events) router_.on_committed(id_, e);
  durable_offset_.store(tail_.last_offset.value(), std::memory_order_release);

  for (size_t i = 0; i < batch.size(); ++i) {
    auto& p = pending[i];
    if (p.outcome.rejection && batch[i].owns_claim) router_.release_claim(batch[i].command);
    Offset pos =
        p.event_count ? envelopes[p.first_event + p.event_count - 1].offset : tail_.last_offset;
    // tail_ has advanced past this batch: a rejection names the same position as its record.
    if (batch[i].done)
      batch[i].done(
          Completion{Status{}, std::move(p.outcome), std::move(p.rendered), Position{id_, pos}});
  }
  std::lock_guard lock(mu_);
  stats_.commands += batch.size();
  stats_.batches += 1;
  stats_.events += envelopes.size();
}

void PartitionProcessor::hand_off(std::unique_ptr<Prepared> p) {
  std::unique_lock lock(commit_mu_);
  // One batch waits while another is written: the writer decides the next group meanwhile.
  commit_cv_.wait(lock, [&] { return !commit_slot_; });
  commit_slot_ = std::move(p);
  lock.unlock();
  commit_cv_.notify_all();
}

void PartitionProcessor::drain_committer() {
  std::unique_lock lock(commit_mu_);
  commit_cv_.wait(lock, [&] { return !commit_slot_ && !committing_; });
}

void PartitionProcessor::committer_loop() {
  for (;;) {
    std::unique_ptr<Prepared> p;
    {
      std::unique_lock lock(commit_mu_);
      commit_cv_.wait(lock, [&] { return commit_stop_ || commit_slot_; });
      if (!commit_slot_) return;  // stopping, and nothing left
      p = std::move(commit_slot_);
      committing_ = true;
    }
    commit_cv_.notify_all();  // the slot is free for the next batch
    commit(*p);
    p.reset();
    {
      std::lock_guard lock(commit_mu_);
      committing_ = false;
    }
    commit_cv_.notify_all();
  }
}

PartitionProcessor::Health PartitionProcessor::health() const {
  std::lock_guard lock(health_mu_);
  // A failed write or a store that refuses to write is the graver reason; else the disk.
  if (health_.writable && !disk_pause_.empty()) return Health{false, disk_pause_};
  return health_;
}

void PartitionProcessor::set_health(bool writable, std::string error, bool wrote) {
  // The operator's record of why a partition stopped writing (the public /readyz says only
  // that it did): one line when the failure first shows or changes, one when a write
  // succeeds again. A reload in between (writable until a write says otherwise) logs
  // nothing, so a log that stays unwritable is one line, not one per batch.
  std::string line;
  {
    std::lock_guard lock(health_mu_);
    if (!writable && wrote) last_write_failure_ = error;
    if (!writable && error != logged_failure_) {
      line = fmt::format("ordo: partition {} cannot write: {}\n", id_.value(), error);
      logged_failure_ = error;
    } else if (writable && wrote && !logged_failure_.empty()) {
      line = fmt::format("ordo: partition {} writes again\n", id_.value());
      logged_failure_.clear();
    }
    health_ = Health{writable, std::move(error)};
  }
  if (!line.empty()) std::fputs(line.c_str(), stderr);  // not under the lock /readyz takes
}

void PartitionProcessor::reload_after_failure() {
  // Bounded: recover() against an unreachable Kafka fails within the log's timeout. Then the
  // partition answers errors (HTTP 503) and retries before later batches.
  needs_recovery_ = true;
  next_recovery_ = {};
  if (!ensure_recovered())
    std::fprintf(stderr, "ordo: partition %u cannot reload after a failed write: %s\n", id_.value(),
                 recovery_error_.c_str());
}

}  // namespace ordo

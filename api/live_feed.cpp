#include "api/live_feed.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdio>

#include "engine/domain/assert.hpp"
#include "engine/runtime/engine.hpp"

namespace ordo::api {

namespace {

const std::string* string_field(const Json& payload, std::string_view key) {
  const Json* v = payload.find(key);
  return v && v->is_string() ? &v->as_string() : nullptr;
}

void add(std::vector<std::string>& to, const std::string& who) {
  if (!who.empty() && std::find(to.begin(), to.end(), who) == to.end()) to.push_back(who);
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

EventParties event_parties(const Envelope& e, Engine& engine) {
  EventParties out;
  if (!e.payload.is_object()) return out;
  const Json& p = e.payload;
  for (const char* k : {"customer_id", "buyer"})
    if (auto* v = string_field(p, k)) add(out.customers, *v);
  for (const char* k : {"seller_id", "seller"})
    if (auto* v = string_field(p, k)) add(out.sellers, *v);
  if (auto* v = string_field(p, "owner")) add(out.owners, *v);
  if (auto* v = string_field(p, "sku"))
    if (auto seller = engine.router().seller_of(Sku{*v})) add(out.sellers, seller->value());
  if (auto* v = string_field(p, "order_id"))
    if (auto o = engine.router().order(OrderId{*v})) {
      add(out.customers, o->customer_id.value());
      add(out.sellers, o->seller_id.value());
    }
  if (auto* v = string_field(p, "payout_id"))
    if (auto po = engine.router().payout(PayoutId{*v})) add(out.owners, po->owner.value());
  return out;
}

bool role_sees_type(Role role, std::string_view type) {
  static constexpr std::string_view kMoney[] = {
      "WalletDeposited", "PaymentInitiated", "PaymentCaptured", "PaymentFailed",
      "PaymentRefunded", "EscrowHeld",       "EscrowReleased",  "EscrowRefunded",
      "PayoutRequested", "PayoutCompleted",  "PayoutRejected"};
  // Not the stock moves of orders: they name the order and, as actor, its customer.
  static constexpr std::string_view kCatalogue[] = {"ProductDefined", "StockAdjusted"};
  auto in = [&](const auto& list) {
    return std::find(std::begin(list), std::end(list), type) != std::end(list);
  };
  if (role == Role::finance) return in(kMoney);
  if (role == Role::analyst) return in(kCatalogue);
  return true;  // auditor and admin: all; customer and merchant: narrowed by event_visible
}

bool event_visible(Role role, const std::string& sub, const EventParties& parties) {
  switch (role) {
    case Role::customer:
      return contains(parties.customers, sub) || contains(parties.owners, sub);
    case Role::merchant:
      return contains(parties.sellers, sub) || contains(parties.owners, sub);
    case Role::finance:
    case Role::admin:
    case Role::auditor:
    case Role::analyst:
      return true;
  }
  return false;
}

void Subscription::set_wake(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
  if (wake_ && (!queue_.empty() || state_ != State::open)) wake_();
}

Subscription::Next Subscription::next() {
  std::lock_guard lock(mu_);
  Next out{state_, nullptr};
  if (state_ == State::open && !queue_.empty()) {
    out.message = std::move(queue_.front());
    queue_.pop_front();
  }
  return out;
}

bool Subscription::push(const FeedMessage& message) {
  std::lock_guard lock(mu_);
  if (state_ != State::open) return false;
  if (queue_.size() >= queue_limit_) {
    // Too slow: drop what waits and tell the connection to close, rather than buffer more.
    state_ = State::overflowed;
    std::deque<FeedMessage>().swap(queue_);
    if (wake_) wake_();
    return false;
  }
  queue_.push_back(message);
  if (queue_.size() == 1 && wake_) wake_();
  return true;
}

void Subscription::set_state(State s) {
  std::lock_guard lock(mu_);
  if (state_ != State::open) return;
  state_ = s;
  std::deque<FeedMessage>().swap(queue_);
  if (wake_) wake_();
}

LiveFeed::LiveFeed(Engine& engine, LiveFeedConfig config) : engine_(engine), config_(config) {}

LiveFeed::~LiveFeed() { stop(std::chrono::milliseconds(0)); }

std::shared_ptr<Subscription> LiveFeed::subscribe(FeedFilter filter, Refusal& why) {
  std::lock_guard lock(mu_);
  why = Refusal::none;
  if (stopping_) {
    why = Refusal::stopped;
    return nullptr;
  }
  if (open_ >= config_.max_subscriptions) {
    why = Refusal::full;
    return nullptr;
  }
  if (auto it = open_by_caller_.find(filter.sub);
      it != open_by_caller_.end() && it->second >= config_.max_per_caller) {
    why = Refusal::caller_full;
    return nullptr;
  }
  // Events appended from now on: each partition's tail, read under the feed's lock, so the
  // poller (which never reads past a tail) cannot have handed out a newer event yet.
  const uint32_t n = engine_.partition_count();
  std::vector<int64_t> start(n);
  for (uint32_t p = 0; p < n; ++p) {
    auto tail = engine_.log().known_tail(PartitionId{p});
    if (!tail) {
      why = Refusal::storage;
      return nullptr;
    }
    start[p] = tail->last_offset.value() + 1;
  }
  if (subs_.empty()) cursor_ = start;  // nobody was listening: start polling here
  std::shared_ptr<Subscription> s(
      new Subscription(std::move(filter), std::move(start), config_.queue_limit));
  s->id_ = next_id_++;
  subs_.emplace(s->id_, s);
  ++open_;
  ++open_by_caller_[s->filter_.sub];
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ordo-feed");
      run();
    });
  }
  cv_.notify_all();
  return s;
}

void LiveFeed::unsubscribe(const Subscription& s) {
  std::lock_guard lock(mu_);
  subs_.erase(s.id_);
}

void LiveFeed::release(const Subscription& s) {
  std::lock_guard lock(mu_);
  subs_.erase(s.id_);
  --open_;
  auto it = open_by_caller_.find(s.filter_.sub);
  ORDO_ASSERT(it != open_by_caller_.end() && it->second > 0,
              "released a subscription its caller does not hold");
  if (--it->second == 0) open_by_caller_.erase(it);
  cv_.notify_all();
}

size_t LiveFeed::subscriptions() const {
  std::lock_guard lock(mu_);
  return open_;
}

void LiveFeed::stop(std::chrono::milliseconds drain) {
  std::unordered_map<uint64_t, std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    subs.swap(subs_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [id, s] : subs) s->set_state(Subscription::State::stopping);
  subs.clear();
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, drain, [&] { return open_ == 0; });
}

void LiveFeed::run() {
  const uint32_t n = engine_.partition_count();
  std::vector<std::vector<Envelope>> batches(n);
  std::vector<bool> reported(n, false);  // a read failure is said once per run of failures
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (subs_.empty()) {
      cv_.wait(lock, [&] { return stopping_ || !subs_.empty(); });
      continue;
    }
    const std::vector<int64_t> from = cursor_;
    lock.unlock();
    bool more = false;
    for (uint32_t p = 0; p < n; ++p) {
      batches[p].clear();
      // Only what the router knows: a customer sees a StockReserved through its order's
      // parties, which the router learns from the OrderPlaced of the same batch just after
      // the append.
      const int64_t routed = engine_.processor(PartitionId{p}).routed_offset();
      if (routed < from[p]) continue;
      const size_t want = std::min(config_.read_batch, static_cast<size_t>(routed - from[p] + 1));
      auto r = engine_.log().read(PartitionId{p}, Offset{from[p]}, want);
      if (!r) {
        // Retried on the next poll.
        if (!reported[p])
          std::fprintf(stderr, "ordo: live feed cannot read partition %u: %s\n", p,
                       r.error().message.c_str());
        reported[p] = true;
        continue;
      }
      reported[p] = false;
      // `want` counts offsets; a log may skip some (Kafka's transaction markers) and hand
      // over events past `routed`: those wait for the next poll.
      while (!r->empty() && r->back().offset.value() > routed) r->pop_back();
      if (r->size() >= config_.read_batch) more = true;
      batches[p] = std::move(*r);
    }
    lock.lock();
    for (uint32_t p = 0; p < n; ++p) {
      for (const auto& e : batches[p]) {
        dispatch(e);
        cursor_[p] = std::max(cursor_[p], e.offset.value() + 1);
      }
    }
    if (!more) cv_.wait_for(lock, config_.poll_interval, [&] { return stopping_; });
  }
}

// Under mu_.
void LiveFeed::dispatch(const Envelope& e) {
  FeedMessage encoded;
  std::optional<EventParties> parties;
  std::vector<uint64_t> dropped;
  for (auto& [id, s] : subs_) {
    const FeedFilter& f = s->filter_;
    if (e.offset.value() < s->start_.at(e.partition.value())) continue;
    if (!f.types.empty() && !contains(f.types, e.type)) continue;
    if (!role_sees_type(f.role, e.type)) continue;
    if (f.role == Role::customer || f.role == Role::merchant) {
      if (!parties) parties = event_parties(e, engine_);
      if (!event_visible(f.role, f.sub, *parties)) continue;
    }
    if (!encoded) encoded = std::make_shared<const std::string>(encode_envelope(e));
    if (!s->push(encoded)) dropped.push_back(id);
  }
  for (uint64_t id : dropped) subs_.erase(id);
}

}  // namespace ordo::api

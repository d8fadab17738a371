#pragma once
// The live event feed behind GET /v1/subscribe: one thread polls the log of every partition
// (from each partition's tail at the first subscription) and hands each new event, encoded
// once, to every subscription that may see it and asked for its type. Memory is bounded: at
// most `max_subscriptions`, each with at most `queue_limit` messages waiting; a subscription
// whose queue would grow past that is dropped from the feed and marked `overflowed` (its
// connection closes it with 1008), never buffered further. One caller (a token's subject)
// holds at most `max_per_caller` of them, so one client cannot take every slot.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/jwt.hpp"
#include "engine/log/envelope.hpp"

namespace ordo {
class Engine;
}

namespace ordo::api {

struct LiveFeedConfig {
  size_t max_subscriptions = 256;
  size_t max_per_caller = 16;  // open subscriptions of one token subject
  size_t queue_limit = 1000;   // messages waiting for one subscriber
  std::chrono::milliseconds poll_interval{50};
  size_t read_batch = 500;  // events read per partition per poll
  // A message the subscriber has not taken within this long ends its connection: one that
  // stops reading (while keeping the connection alive) would otherwise hold its slot for good.
  std::chrono::milliseconds write_timeout{10'000};
};

// Who subscribes and what they asked for.
struct FeedFilter {
  Role role = Role::customer;
  std::string sub;
  std::vector<std::string> types;  // empty: every type
};

// The parties an event names, for the scoping of customers and merchants: the payload's
// `customer_id` / `buyer` (customers), `seller_id` / `seller` (merchants), a wallet's or
// payout's `owner` (either), the seller of its `sku`, and both parties of its `order_id`
// (so an order's whole lifecycle reaches its customer and seller).
struct EventParties {
  std::vector<std::string> customers;
  std::vector<std::string> sellers;
  std::vector<std::string> owners;
};
EventParties event_parties(const Envelope& e, Engine& engine);
// Which events a role's subscription may carry at all, by type, as its REST reads go:
// auditor and admin see the raw history, so every event; finance the money (wallets,
// payments, escrows, payouts: what the ledger shows it); analyst the catalogue (products
// defined, stock adjusted: not the orders' reservations, which name the order and, as
// actor, its customer, whom an analyst may not see); customer and merchant every type,
// narrowed to what names them by event_visible.
bool role_sees_type(Role role, std::string_view type);
// Whether `who` may see an event of a type role_sees_type allows, naming `parties`: a
// customer only what names them as customer or owner; a merchant only what names them as
// seller or owner; the other roles every such event.
bool event_visible(Role role, const std::string& sub, const EventParties& parties);

class LiveFeed;

// An encoded envelope, shared by every subscriber it is queued for.
using FeedMessage = std::shared_ptr<const std::string>;

// One subscriber's mailbox, filled by the feed's thread and drained by its connection.
class Subscription {
 public:
  enum class State { open, overflowed, stopping };

  // The connection's wake-up: called (under the mailbox lock, so cheap and non-blocking)
  // when the queue becomes non-empty or the state changes.
  void set_wake(std::function<void()> wake);
  // The next message, if the subscription is open and one waits.
  struct Next {
    State state;
    FeedMessage message;  // null: nothing waiting (or not open)
  };
  Next next();
  size_t queue_limit() const { return queue_limit_; }

 private:
  friend class LiveFeed;
  Subscription(FeedFilter filter, std::vector<int64_t> start, size_t queue_limit)
      : filter_(std::move(filter)), start_(std::move(start)), queue_limit_(queue_limit) {}
  // False when the subscription is (now) no longer open.
  bool push(const FeedMessage& message);
  void set_state(State s);

  const FeedFilter filter_;
  const std::vector<int64_t> start_;  // per partition: the first offset it sees
  const size_t queue_limit_;
  uint64_t id_ = 0;
  std::mutex mu_;
  std::deque<FeedMessage> queue_;
  State state_ = State::open;
  std::function<void()> wake_;
};

class LiveFeed {
 public:
  LiveFeed(Engine& engine, LiveFeedConfig config);
  ~LiveFeed();

  // A new subscription seeing events appended from now on, open until release(); nullptr
  // (and why) when `max_subscriptions` are open, the feed stopped or the tails cannot be read.
  enum class Refusal { none, full, caller_full, stopped, storage };
  size_t max_per_caller() const { return config_.max_per_caller; }
  std::shared_ptr<Subscription> subscribe(FeedFilter filter, Refusal& why);
  // No more events for `s` (its connection is closing).
  void unsubscribe(const Subscription& s);
  // `s` is gone (its connection closed): its slot is free again.
  void release(const Subscription& s);
  // Marks every subscription `stopping` (their connections close with 1001), stops the
  // polling thread, and waits (at most `drain`) until every connection closed. Idempotent.
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000));
  size_t subscriptions() const;

 private:
  void run();
  void dispatch(const Envelope& e);

  Engine& engine_;
  const LiveFeedConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  size_t open_ = 0;                                         // subscriptions not yet released
  std::unordered_map<std::string, size_t> open_by_caller_;  // not yet released, per subject
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Subscription>> subs_;
  std::vector<int64_t> cursor_;  // per partition: the next offset to read
  std::thread thread_;
};

}  // namespace ordo::api

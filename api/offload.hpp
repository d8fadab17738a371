#pragma once
// Blocking work (PostgreSQL queries, a verify of the whole log) runs on a pool, never on the
// HTTP threads; the coroutine that asked waits for it, bounded in time, and the pool is
// bounded in how much may wait for it.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>

#include "api/result_waiter.hpp"

namespace ordo::api {

// How offloaded work ended, besides its value.
struct QueryOutcome {
  std::exception_ptr error;  // it threw
  bool refused = false;      // the lane was full: it never ran
};

// A pool of threads for one kind of blocking work, with its admission bound (at most
// `max_pending` posted and not finished) and how long a caller waits for an answer. Join
// `pool` before destroying the lane: a thread_pool's destructor drops work still queued.
struct OffloadLane {
  OffloadLane(size_t threads, size_t max_pending_, std::chrono::milliseconds timeout_)
      : pool(threads), max_pending(max_pending_), timeout(timeout_) {}
  boost::asio::thread_pool pool;
  std::atomic<size_t> pending{0};
  const size_t max_pending;
  const std::chrono::milliseconds timeout;
};

// Runs `f` on the lane's pool and waits for it without blocking the HTTP thread. Bounded by
// the lane's timeout: when it passes, the caller gets nullopt (the work still finishes in the
// pool, and holds its place in `pending` until it does). With `max_pending` posted and not
// finished, `f` is not posted at all: nullopt with `out.refused`.
template <typename R>
boost::asio::awaitable<std::optional<R>> offload(OffloadLane& lane, std::function<R()> f,
                                                 QueryOutcome& out) {
  if (lane.pending.fetch_add(1) >= lane.max_pending) {
    lane.pending.fetch_sub(1);
    out.refused = true;
    co_return std::nullopt;
  }
  // The slot is given back when the work ends, or here if it never gets posted (a throw
  // from make or post), so a lane cannot lose a slot for good.
  struct SlotGuard {
    std::atomic<size_t>* pending;
    ~SlotGuard() {
      if (pending) pending->fetch_sub(1);
    }
  } slot{&lane.pending};
  using Outcome = std::pair<std::optional<R>, std::exception_ptr>;
  auto w = ResultWaiter<Outcome>::make(co_await boost::asio::this_coro::executor, lane.timeout);
  boost::asio::post(lane.pool, [w, f = std::move(f), &pending = lane.pending]() mutable {
    Outcome done;
    try {
      done.first.emplace(f());
    } catch (...) {
      done.second = std::current_exception();
    }
    pending.fetch_sub(1);
    try {
      w->deliver(std::move(done));
    } catch (...) {
      // Only an allocation failure gets here; the caller then sees its deadline pass.
    }
  });
  slot.pending = nullptr;  // posted: the work gives the slot back
  std::optional<Outcome> done = co_await w->wait();
  if (!done) co_return std::nullopt;
  out.error = done->second;
  co_return std::move(done->first);
}

}  // namespace ordo::api

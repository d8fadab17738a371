// api/result_waiter.hpp's WakeBatch: results delivered from other threads through one batch
// reach every waiting coroutine, each its own, and the wake-ups of a burst share drains;
// a waiter on another io_context than the pending drain's is still woken, on its own.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "api/result_waiter.hpp"

namespace asio = boost::asio;
using ordo::api::ResultWaiter;
using ordo::api::WakeBatch;

namespace {

struct Seen {
  std::optional<int> value;
  bool done = false;
};

void spawn_wait(asio::io_context& io, std::shared_ptr<ResultWaiter<int>> w, Seen& seen) {
  asio::co_spawn(
      io,
      [w, &seen]() -> asio::awaitable<void> {
        seen.value = co_await w->wait();
        seen.done = true;
      },
      asio::detached);
}

}  // namespace

TEST_CASE("wake batch: every waiter gets its own result, delivered from several threads") {
  asio::io_context io;
  WakeBatch batch;
  constexpr int kWaiters = 400;
  std::vector<std::shared_ptr<ResultWaiter<int>>> waiters;
  std::vector<Seen> seen(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(ResultWaiter<int>::make(io.get_executor(), std::chrono::minutes(10)));
    spawn_wait(io, waiters.back(), seen[i]);
  }
  while (io.poll() > 0) {
  }  // every coroutine now waits on its timer
  for (const auto& s : seen) REQUIRE_FALSE(s.done);

  std::vector<std::thread> deliverers;
  for (int t = 0; t < 4; ++t)
    deliverers.emplace_back([&, t] {
      for (int i = t; i < kWaiters; i += 4) waiters[i]->deliver(i * 10, &batch);
    });
  for (auto& d : deliverers) d.join();
  io.run();  // returns once every coroutine finished: the deadlines are minutes away
  for (int i = 0; i < kWaiters; ++i) {
    REQUIRE(seen[i].done);
    CHECK(seen[i].value == i * 10);
  }
}

TEST_CASE("wake batch: a burst delivered before the io thread runs is woken by one drain") {
  asio::io_context io;
  WakeBatch batch;
  std::vector<std::shared_ptr<ResultWaiter<int>>> waiters;
  std::vector<Seen> seen(50);
  for (size_t i = 0; i < seen.size(); ++i) {
    waiters.push_back(ResultWaiter<int>::make(io.get_executor(), std::chrono::minutes(10)));
    spawn_wait(io, waiters.back(), seen[i]);
  }
  while (io.poll() > 0) {
  }
  for (size_t i = 0; i < seen.size(); ++i) waiters[i]->deliver(static_cast<int>(i), &batch);
  // One handler (the drain) cancels all fifty timers; nothing else was posted.
  CHECK(io.run_one() == 1);
  for (const auto& s : seen) CHECK_FALSE(s.done);  // woken, not yet resumed
  io.run();
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i].value == static_cast<int>(i));
}

TEST_CASE("wake batch: a waiter on another io_context than the pending drain's is woken too") {
  asio::io_context a, b;
  WakeBatch batch;
  auto wa = ResultWaiter<int>::make(a.get_executor(), std::chrono::minutes(10));
  auto wb = ResultWaiter<int>::make(b.get_executor(), std::chrono::minutes(10));
  Seen sa, sb;
  spawn_wait(a, wa, sa);
  spawn_wait(b, wb, sb);
  while (a.poll() + b.poll() > 0) {
  }
  wa->deliver(1, &batch);  // posts a drain on a
  wb->deliver(2, &batch);  // a's drain cannot run b's waiter: posted on b by itself
  b.run();
  CHECK(sb.done);
  CHECK(sb.value == 2);
  a.run();
  CHECK(sa.done);
  CHECK(sa.value == 1);
}

TEST_CASE(
    "wake batch: a waiter whose deadline passed before delivery reports nothing, and a late "
    "delivery is harmless") {
  asio::io_context io;
  WakeBatch batch;
  auto w = ResultWaiter<int>::make(io.get_executor(), std::chrono::milliseconds(0));
  Seen seen;
  spawn_wait(io, w, seen);
  io.run();
  CHECK(seen.done);
  CHECK_FALSE(seen.value);
  // A late result still goes through the batch harmlessly: nobody waits for it any more.
  w->deliver(5, &batch);
  io.restart();
  CHECK(io.run() == 1);
}

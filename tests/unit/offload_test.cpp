// api/offload.hpp: blocking work runs on a pool with an admission bound; past it, work is
// refused without running, and a slot is held until the work really ends (not when its caller
// stopped waiting), so work stuck in a hung database cannot pile up behind it.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <future>
#include <stdexcept>

#include "api/offload.hpp"

namespace asio = boost::asio;
using ordo::api::offload;
using ordo::api::OffloadLane;
using ordo::api::QueryOutcome;

namespace {

// One offloaded call, spawned on `io`; `done` once its coroutine has its answer.
struct Attempt {
  std::optional<int> value;
  QueryOutcome outcome;
  bool done = false;
};

void spawn(asio::io_context& io, OffloadLane& lane, std::function<int()> f, Attempt& a) {
  asio::co_spawn(
      io,
      [&lane, f = std::move(f), &a]() mutable -> asio::awaitable<void> {
        a.value = co_await offload<int>(lane, std::move(f), a.outcome);
        a.done = true;
      },
      asio::detached);
}

}  // namespace

TEST_CASE(
    "offload: past max_pending, work is refused without running; the slot frees when it ends") {
  asio::io_context io;
  auto keep = asio::make_work_guard(io);  // run_one() waits rather than finding io stopped
  OffloadLane lane{2, 1, std::chrono::minutes(10)};
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};

  Attempt first, second, third;
  spawn(
      io, lane,
      [&] {
        gate.wait();
        ++ran;
        return 7;
      },
      first);
  io.poll();  // the first is posted and waits for its answer
  CHECK(lane.pending == 1);
  CHECK(!first.done);

  spawn(
      io, lane,
      [&] {
        ++ran;
        return 8;
      },
      second);
  io.poll();
  REQUIRE(second.done);
  CHECK(second.outcome.refused);
  CHECK(!second.value);
  CHECK(lane.pending == 1);

  release.set_value();
  while (!first.done) io.run_one();
  CHECK(first.value == 7);
  CHECK(!first.outcome.refused);
  CHECK(!first.outcome.error);
  CHECK(lane.pending == 0);

  spawn(
      io, lane,
      [&] {
        ++ran;
        return 9;
      },
      third);
  while (!third.done) io.run_one();
  CHECK(third.value == 9);
  CHECK(ran == 2);  // the refused one never ran
  lane.pool.join();
}

TEST_CASE("offload: a caller that stops waiting leaves the work's slot taken until the work ends") {
  asio::io_context io;
  auto keep = asio::make_work_guard(io);  // run_one() waits rather than finding io stopped
  OffloadLane lane{1, 1, std::chrono::milliseconds(1)};
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();

  Attempt stuck, behind;
  spawn(
      io, lane,
      [&] {
        gate.wait();
        return 1;
      },
      stuck);
  while (!stuck.done) io.run_one();  // its wait ends at the lane's timeout
  CHECK(!stuck.value);
  CHECK(!stuck.outcome.refused);
  CHECK(!stuck.outcome.error);
  CHECK(lane.pending == 1);  // the work still runs

  spawn(
      io, lane, [] { return 2; }, behind);
  while (!behind.done) io.run_one();
  CHECK(behind.outcome.refused);

  release.set_value();
  lane.pool.join();
  CHECK(lane.pending == 0);
}

TEST_CASE("offload: an exception in the work comes back as the outcome's error") {
  asio::io_context io;
  auto keep = asio::make_work_guard(io);  // run_one() waits rather than finding io stopped
  OffloadLane lane{1, 4, std::chrono::minutes(10)};
  Attempt a;
  spawn(
      io, lane, []() -> int { throw std::runtime_error("database gone"); }, a);
  while (!a.done) io.run_one();
  CHECK(!a.value);
  REQUIRE(a.outcome.error);
  CHECK_THROWS_WITH_AS(std::rethrow_exception(a.outcome.error), "database gone",
                       std::runtime_error);
  CHECK(lane.pending == 0);
  lane.pool.join();
}

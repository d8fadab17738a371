#pragma once
// A closed-loop client for the in-process benchmarks: submits commands to an engine with at
// most `window` in flight (as that many waiting clients would), and counts failures.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "engine/runtime/engine.hpp"

namespace ordo::bench {

class ClosedLoop {
 public:
  ClosedLoop(Engine& engine, uint64_t window) : engine_(engine), window_(window) {}

  void submit(Command cmd) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < window_; });
      ++in_flight_;
    }
    Submission s;
    s.command = std::move(cmd);
    s.meta.command_id = "bench";
    s.meta.correlation_id = "bench";
    s.meta.actor = Actor{"bench", "admin"};
    s.done = [this](Completion&& c) {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (!c.durable || c.outcome.rejection) ++failed_;
      cv_.notify_all();
    };
    while (engine_.submit(std::move(s)) == SubmitResult::overloaded) std::this_thread::yield();
  }

  // Waits until every submitted command has completed.
  void drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

  uint64_t failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  Engine& engine_;
  const uint64_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t in_flight_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace ordo::bench

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
  ClosedLoop(Engine& engine, uint64_t window)
      : engine_(engine), window_(window), low_water_(window - (window + 3) / 4) {}

  // With `idempotency_key`, the command carries an Idempotency-Key as an HTTP client's would:
  // the writer looks its record up before deciding and writes one with the outcome.
  void submit(Command cmd, std::string idempotency_key = {}) {
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
    if (!idempotency_key.empty()) {
      s.idempotency = IdempotencyClaim{"bench\x1f" + std::move(idempotency_key), "bench"};
      s.render = [](const Outcome& o) {
        return Rendered{o.rejection ? 409 : 201, o.rejection ? "{\"rejected\":true}" : "{}"};
      };
    }
    s.done = [this](Completion&& c) {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (!c.durable || c.outcome.rejection) ++failed_;
      // Wake the submitting thread when a quarter of the window is free (or all of it),
      // not after every completion: a wake-up per command costs the committer a futex call
      // and the submitter a context switch, which is harness overhead, not engine work.
      if (in_flight_ == 0 || in_flight_ == low_water_) cv_.notify_all();
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
  const uint64_t low_water_;  // in flight when the submitter is woken again
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t in_flight_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace ordo::bench

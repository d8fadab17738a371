#pragma once
// The projector: a background thread that tails the event log of every partition and
// applies it to the PostgreSQL views in bounded batches. Survives PostgreSQL restarts
// (reconnects with capped backoff; `healthy()` is false meanwhile) and can be stopped.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/log/event_log.hpp"

namespace ordo::projections {

// The projections the runner maintains (one checkpoint row each per partition).
inline const char* const kProjectionNames[] = {"events",      "products", "orders",
                                               "sales_daily", "wallets",  "ledger_entries",
                                               "escrows",     "payments", "payouts"};

struct RunnerConfig {
  std::string conninfo;
  std::string schema = "ordo";
  size_t max_batch_events = 4000;    // per transaction
  int idle_poll_ms = 10;             // how long an idle runner waits before looking again
  int max_backoff_ms = 2000;         // reconnect backoff cap
  int checkpoint_recheck_ms = 1000;  // an idle runner re-reads its checkpoints this often
};

class ProjectionRunner {
 public:
  ProjectionRunner(EventLog& log, RunnerConfig config);
  ~ProjectionRunner();

  void start();
  void stop();
  // Wakes the runner early (called after appends), so views lag by a batch, not a poll.
  void notify();

  // Last offset applied to the views for partition `p` (-1: none).
  int64_t position(uint32_t p) const { return positions_[p]->load(); }
  bool healthy() const { return healthy_.load(); }
  std::string last_error() const;
  uint64_t batches() const { return batches_.load(); }

 private:
  void loop();
  bool sleep_ms(int ms, bool wake_on_poke);  // false when stopping

  EventLog& log_;
  const RunnerConfig config_;
  std::vector<std::unique_ptr<std::atomic<int64_t>>> positions_;
  std::atomic<bool> healthy_{false};
  std::atomic<uint64_t> batches_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace ordo::projections

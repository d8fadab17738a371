#include "projections/runner.hpp"

#include <pthread.h>

#include <cstdio>
#include <pqxx/pqxx>

#include "projections/migrations.hpp"
#include "projections/view_writer.hpp"

namespace ordo::projections {

ProjectionRunner::ProjectionRunner(EventLog& log, RunnerConfig config)
    : log_(log), config_(std::move(config)) {
  for (uint32_t p = 0; p < log_.partition_count(); ++p)
    positions_.push_back(std::make_unique<std::atomic<int64_t>>(-1));
}

ProjectionRunner::~ProjectionRunner() { stop(); }

void ProjectionRunner::start() {
  std::lock_guard lock(mu_);
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ordo-views");
    loop();
  });
}

void ProjectionRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProjectionRunner::notify() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

std::string ProjectionRunner::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

bool ProjectionRunner::sleep_ms(int ms, bool wake_on_poke) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms),
               [&] { return stopping_ || (wake_on_poke && poked_); });
  poked_ = false;
  return !stopping_;
}

void ProjectionRunner::loop() {
  int backoff_ms = 50;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    try {
      pqxx::connection conn(config_.conninfo);
      apply_migrations(conn, config_.schema);
      ViewWriter writer(conn, config_.schema);
      for (uint32_t p = 0; p < positions_.size(); ++p) positions_[p]->store(writer.checkpoint(p));
      healthy_ = true;
      for (;;) {
        bool worked = false;
        for (uint32_t p = 0; p < positions_.size(); ++p) {
          auto events = log_.read(PartitionId{p}, Offset{positions_[p]->load() + 1},
                                  config_.max_batch_events);
          if (!events) throw std::runtime_error("log read: " + events.error().message);
          if (events->empty()) continue;
          positions_[p]->store(writer.apply_batch(p, events.value(), positions_[p]->load()));
          ++batches_;
          backoff_ms = 50;  // reset only once work succeeds, so a failing batch backs off
          worked = true;
        }
        if (!worked && !sleep_ms(config_.idle_poll_ms, true)) return;
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
    } catch (const std::exception& e) {
      healthy_ = false;
      {
        std::lock_guard lock(mu_);
        last_error_ = e.what();
      }
      std::fprintf(stderr, "ordo: projector: %s (retrying in %d ms)\n", e.what(), backoff_ms);
      if (!sleep_ms(backoff_ms, false)) return;
      backoff_ms = std::min(backoff_ms * 2, config_.max_backoff_ms);
    }
  }
}

}  // namespace ordo::projections

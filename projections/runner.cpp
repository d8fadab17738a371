#include "projections/runner.hpp"

#include <pthread.h>

#include <chrono>

#include <cstdio>
#include <fmt/core.h>
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
      auto load_positions = [&] {  // the views' own checkpoints, in one query
        const auto done = writer.checkpoints(static_cast<uint32_t>(positions_.size()));
        for (uint32_t p = 0; p < positions_.size(); ++p) positions_[p]->store(done[p]);
      };
      load_positions();
      healthy_ = true;
      auto rechecked = std::chrono::steady_clock::now();
      // A partition whose batch keeps failing (an event this binary cannot decode, a log
      // read error) backs off alone; the others' views go on. A lost connection is not the
      // partition's fault: it ends the pass and reconnects.
      using steady = std::chrono::steady_clock;
      struct Retry {
        bool failing = false;
        int backoff_ms = 50;
        steady::time_point at;
      };
      std::vector<Retry> retry(positions_.size());
      size_t failing = 0;
      for (;;) {
        bool worked = false;
        for (uint32_t p = 0; p < positions_.size(); ++p) {
          if (retry[p].failing && steady::now() < retry[p].at) continue;
          try {
            auto events = log_.read(PartitionId{p}, Offset{positions_[p]->load() + 1},
                                    config_.max_batch_events);
            if (!events) throw std::runtime_error("log read: " + events.error().message);
            if (!events->empty()) {
              positions_[p]->store(writer.apply_batch(p, events.value(), positions_[p]->load()));
              ++batches_;
              worked = true;
            }
            backoff_ms = 50;  // reset only once work succeeds, so a failing batch backs off
            if (retry[p].failing) {
              retry[p] = Retry{};
              if (--failing == 0) healthy_ = true;
            }
          } catch (const pqxx::broken_connection&) {
            throw;
          } catch (const std::exception& e) {
            const std::string why = fmt::format("partition {}: {}", p, e.what());
            if (!retry[p].failing) ++failing;
            retry[p].failing = true;
            healthy_ = false;
            {
              std::lock_guard lock(mu_);
              last_error_ = why;
            }
            std::fprintf(stderr, "ordo: projector: %s (retrying in %d ms)\n", why.c_str(),
                         retry[p].backoff_ms);
            retry[p].at = steady::now() + std::chrono::milliseconds(retry[p].backoff_ms);
            retry[p].backoff_ms = std::min(retry[p].backoff_ms * 2, config_.max_backoff_ms);
          }
        }
        // A rebuild (ordo replay rebuild) may have swapped in views whose checkpoints differ
        // from ours. apply_batch notices on the next event of a partition; an idle one
        // looks every so often, or its views would stay behind while position() said
        // they were caught up (Ordo-Min-Position would answer at once with stale rows).
        if (!worked && std::chrono::steady_clock::now() - rechecked >=
                           std::chrono::milliseconds(config_.checkpoint_recheck_ms)) {
          load_positions();
          rechecked = std::chrono::steady_clock::now();
          continue;
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

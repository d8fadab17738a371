#include "replay/check_pipeline.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "engine/domain/assert.hpp"

namespace ordo::replay {

CheckPipeline::CheckPipeline(Fill fill, int threads, size_t slots, int worker_nice)
    : fill_(std::move(fill)), ring_(slots), checked_(slots, 0) {
  ORDO_ASSERT(threads > 0 && slots > 0, "a check pipeline needs a worker and a slot");
  threads_.emplace_back([this] {
    pthread_setname_np(pthread_self(), "ordo-read");
    read();
  });
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this, i, worker_nice] {
      pthread_setname_np(pthread_self(), ("ordo-check-" + std::to_string(i)).c_str());
      // This thread only (Linux nices threads one by one). Best effort: raising one's own
      // niceness is always allowed, and if it failed the workers would merely share the
      // cores evenly with the fold.
      if (worker_nice > 0) {
        const auto self = static_cast<id_t>(gettid());
        errno = 0;
        const int inherited = getpriority(PRIO_PROCESS, self);  // -1 is a valid value too
        if (errno == 0) setpriority(PRIO_PROCESS, self, std::min(19, inherited + worker_nice));
      }
      work();
    });
}

CheckPipeline::~CheckPipeline() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  slot_cv_.notify_all();
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void CheckPipeline::read() {
  for (size_t seq = 0;; ++seq) {
    {
      std::unique_lock lock(mu_);
      slot_cv_.wait(lock, [&] { return stop_ || seq - released_ < ring_.size(); });
      if (stop_) return;
    }
    // The slot is free: the fold released it and no worker holds it.
    CheckedBatch& b = ring_[seq % ring_.size()];
    b.batch.clear();
    const bool more = fill_(b.batch);
    {
      std::lock_guard lock(mu_);
      if (!more) {
        source_done_ = true;
      } else {
        checked_[seq % ring_.size()] = 0;
        filled_ = seq + 1;
      }
    }
    if (!more) {
      checked_cv_.notify_all();
      return;
    }
    work_cv_.notify_one();
  }
}

void CheckPipeline::work() {
  for (;;) {
    size_t seq = 0;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || next_to_check_ < filled_; });
      if (stop_) return;
      seq = next_to_check_++;
    }
    check_lines(ring_[seq % ring_.size()]);
    {
      std::lock_guard lock(mu_);
      checked_[seq % ring_.size()] = 1;
    }
    checked_cv_.notify_all();
  }
}

CheckedBatch* CheckPipeline::take() {
  std::unique_lock lock(mu_);
  ORDO_ASSERT(taken_ == released_, "take() before the last batch was released");
  const size_t slot = taken_ % ring_.size();
  checked_cv_.wait(lock, [&] {
    return (taken_ < filled_ && checked_[slot]) || (source_done_ && taken_ == filled_);
  });
  if (taken_ == filled_) return nullptr;
  ++taken_;
  return &ring_[slot];
}

void CheckPipeline::release() {
  {
    std::lock_guard lock(mu_);
    ORDO_ASSERT(released_ < taken_, "release() without take()");
    ++released_;
  }
  slot_cv_.notify_one();
}

}  // namespace ordo::replay

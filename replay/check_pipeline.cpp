#include "replay/check_pipeline.hpp"

#include <pthread.h>

#include "engine/domain/assert.hpp"

namespace ordo::replay {

CheckPipeline::CheckPipeline(int threads, size_t slots) : ring_(slots), done_(slots, 0) {
  ORDO_ASSERT(threads > 0 && slots > 0, "a check pipeline needs a worker and a slot");
  for (int i = 0; i < threads; ++i)
    workers_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), ("ordo-check-" + std::to_string(i)).c_str());
      work();
    });
}

CheckPipeline::~CheckPipeline() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

CheckedBatch* CheckPipeline::free_slot() {
  if (filled_ - released_ >= ring_.size()) return nullptr;
  CheckedBatch& b = ring_[filled_ % ring_.size()];
  b.batch.clear();
  return &b;
}

void CheckPipeline::submit(CheckedBatch* b) {
  ORDO_ASSERT(b == &ring_[filled_ % ring_.size()], "submit the batch free_slot() gave");
  {
    std::lock_guard lock(mu_);
    done_[filled_ % ring_.size()] = 0;
    ++filled_;
  }
  work_cv_.notify_one();
}

CheckedBatch& CheckPipeline::take() {
  ORDO_ASSERT(pending(), "take() with nothing submitted");
  const size_t slot = taken_ % ring_.size();
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return done_[slot] != 0; });
  ++taken_;
  return ring_[slot];
}

void CheckPipeline::release() {
  ORDO_ASSERT(released_ < taken_, "release() without take()");
  ++released_;
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
    CheckedBatch& b = ring_[seq % ring_.size()];
    check_lines(b);
    {
      std::lock_guard lock(mu_);
      done_[seq % ring_.size()] = 1;
    }
    done_cv_.notify_all();
  }
}

}  // namespace ordo::replay

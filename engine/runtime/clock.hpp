#pragma once
// The clock is injected: the engine asks it for time, so a simulation can drive time and a
// replay never consults a wall clock.
#include <atomic>
#include <chrono>

#include "engine/domain/types.hpp"

namespace ordo {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimestampMs now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimestampMs now() const override {
    using namespace std::chrono;
    return TimestampMs{duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()};
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  TimestampMs now() const override { return TimestampMs{now_ms_.load()}; }
  void advance_ms(int64_t d) { now_ms_ += d; }
  void set_ms(int64_t t) { now_ms_ = t; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace ordo

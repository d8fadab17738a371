#include "api/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace ordo::api {

RateLimiter::RateLimiter(RateLimitConfig config) : config_(config) {
  if (config_.burst <= 0) config_.burst = 2 * config_.rps;
  config_.burst = std::max(config_.burst, 1.0);  // at least one request must ever pass
  config_.max_buckets = std::max<size_t>(config_.max_buckets, 1);
  full_refill_ms_ =
      config_.rps > 0 ? static_cast<int64_t>(std::ceil(config_.burst * 1000 / config_.rps)) : 0;
}

size_t RateLimiter::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::refill(Bucket& b, int64_t now_ms) const {
  // The wall clock stepped back: nothing is refilled for the step, and time counts again
  // from now (keeping the later time would starve the caller until the clock reached it).
  if (now_ms < b.last_ms) b.last_ms = now_ms;
  if (now_ms > b.last_ms) {
    b.tokens = std::min(config_.burst, b.tokens + (now_ms - b.last_ms) * config_.rps / 1000.0);
    b.last_ms = now_ms;
  }
}

// Drops buckets at the cold end that have had time to refill completely: forgetting them
// changes no future decision. Amortised O(1): each key is dropped at most once per insert.
void RateLimiter::evict_idle(int64_t now_ms) {
  while (!lru_.empty()) {
    auto it = buckets_.find(lru_.back());
    if (now_ms - it->second.last_ms < full_refill_ms_) break;
    buckets_.erase(it);
    lru_.pop_back();
  }
}

RateDecision RateLimiter::take(std::string_view key, int64_t now_ms) {
  if (!enabled()) return {};
  std::lock_guard lock(mu_);
  evict_idle(now_ms);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= config_.max_buckets) {
      buckets_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.emplace_front(key);
    it = buckets_.emplace(std::string(key), Bucket{config_.burst, now_ms, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& b = it->second;
  refill(b, now_ms);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return {};
  }
  const double wait_s = (1 - b.tokens) / config_.rps;
  return {false, std::max(1, static_cast<int>(std::ceil(wait_s)))};
}

}  // namespace ordo::api

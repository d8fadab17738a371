#pragma once
// Per-caller token buckets: `rps` tokens per second, at most `burst` saved up. Keyed by the
// JWT `sub` (or the client address before authentication). Pure: the time is passed in, so
// tests drive it without sleeping.
//
// Memory is bounded: at most `max_buckets` keys. A bucket that has refilled completely is
// indistinguishable from a new one, so idle buckets are dropped as they are met at the cold
// end of an LRU list; when the table is still full, the least recently used key is evicted
// (it starts again with a full bucket, which errs on the side of serving).
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ordo::api {

struct RateLimitConfig {
  double rps = 0;    // 0: no limit
  double burst = 0;  // bucket size; <= 0 means 2 × rps
  size_t max_buckets = 100'000;
};

struct RateDecision {
  bool allowed = true;
  int retry_after_s = 0;  // when refused: whole seconds until one token is back (>= 1)
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitConfig config);

  bool enabled() const { return config_.rps > 0; }
  // Takes one token from `key`'s bucket at `now_ms` (any monotone-ish millisecond clock;
  // a clock that steps back refills nothing rather than going negative).
  RateDecision take(std::string_view key, int64_t now_ms);
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    int64_t last_ms;
    std::list<std::string>::iterator lru;  // position in lru_ (front: most recent)
  };
  void refill(Bucket& b, int64_t now_ms) const;
  void evict_idle(int64_t now_ms);

  RateLimitConfig config_;
  int64_t full_refill_ms_;  // time an empty bucket needs to become full again
  mutable std::mutex mu_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ordo::api

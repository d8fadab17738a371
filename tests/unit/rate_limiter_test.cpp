// The per-caller token bucket: burst, refill, Retry-After, isolation of keys, bounded memory.
#include <doctest/doctest.h>

#include <string>

#include "api/rate_limiter.hpp"

using ordo::api::RateLimitConfig;
using ordo::api::RateLimiter;

TEST_CASE("rate limiter: off when rps is 0") {
  RateLimiter rl({0, 0, 10});
  CHECK(!rl.enabled());
  for (int i = 0; i < 1000; ++i) CHECK(rl.take("a", 0).allowed);
  CHECK(rl.size() == 0);
}

TEST_CASE("rate limiter: burst of 2×rps, then refused with Retry-After, then refilled") {
  RateLimiter rl({5, 0, 100});  // burst 10
  const int64_t t0 = 1'000'000;
  for (int i = 0; i < 10; ++i) CHECK_MESSAGE(rl.take("alice", t0).allowed, i);
  auto refused = rl.take("alice", t0);
  CHECK(!refused.allowed);
  CHECK(refused.retry_after_s == 1);  // one token comes back after 200 ms → 1 s rounded up
  // 199 ms later: still less than one token.
  CHECK(!rl.take("alice", t0 + 199).allowed);
  // 200 ms after t0 one token is back (the refused attempts took nothing).
  CHECK(rl.take("alice", t0 + 200).allowed);
  CHECK(!rl.take("alice", t0 + 200).allowed);
  // After 2 s the bucket is full again, and never more than full.
  int passed = 0;
  while (rl.take("alice", t0 + 60'000).allowed) ++passed;
  CHECK(passed == 10);
}

TEST_CASE("rate limiter: Retry-After covers a slow rate") {
  RateLimiter rl({0.25, 1, 100});  // one request per 4 s
  CHECK(rl.take("k", 0).allowed);
  auto r = rl.take("k", 0);
  CHECK(!r.allowed);
  CHECK(r.retry_after_s == 4);
  CHECK(rl.take("k", 1000).retry_after_s == 3);
  CHECK(rl.take("k", 4000).allowed);
}

TEST_CASE("rate limiter: one caller's exhaustion does not touch another's bucket") {
  RateLimiter rl({1, 0, 100});  // burst 2
  CHECK(rl.take("sub:a", 0).allowed);
  CHECK(rl.take("sub:a", 0).allowed);
  CHECK(!rl.take("sub:a", 0).allowed);
  CHECK(rl.take("sub:b", 0).allowed);
  CHECK(rl.take("ip:127.0.0.1", 0).allowed);
}

TEST_CASE("rate limiter: a clock stepping back refills nothing, and starves no one") {
  RateLimiter rl({1, 1, 10});
  CHECK(rl.take("k", 10'000).allowed);
  CHECK(!rl.take("k", 5'000).allowed);  // the step itself gives nothing back
  CHECK(!rl.take("k", 5'500).allowed);
  // Refilled at the configured rate from the new time, not once the clock is back at 10 s.
  CHECK(rl.take("k", 6'000).allowed);
  CHECK(!rl.take("k", 6'000).allowed);
  // An hour back: one second later the caller is served again.
  CHECK(!rl.take("k", 6'000 - 3'600'000).allowed);
  CHECK(rl.take("k", 7'000 - 3'600'000).allowed);
}

TEST_CASE("rate limiter: memory is bounded by max_buckets; idle buckets are dropped") {
  RateLimiter rl({1, 0, 50});  // burst 2: an idle bucket is full again after 2 s
  for (int i = 0; i < 10'000; ++i) rl.take("k" + std::to_string(i), 0);
  CHECK(rl.size() == 50);
  // The most recent keys survived the LRU eviction with their state.
  CHECK(rl.take("k9999", 0).allowed);
  CHECK(!rl.take("k9999", 0).allowed);
  // Once every bucket had time to refill, they are forgotten as new traffic arrives.
  rl.take("fresh", 2'000);
  CHECK(rl.size() == 1);
}

TEST_CASE("rate limiter: when full, the least recently used key is evicted, not an active one") {
  RateLimiter rl({1, 0, 3});  // burst 2
  CHECK(rl.take("busy", 0).allowed);
  CHECK(rl.take("busy", 0).allowed);
  CHECK(!rl.take("busy", 0).allowed);
  rl.take("idle", 0);
  rl.take("x", 0);
  CHECK(!rl.take("busy", 0).allowed);  // busy is now the most recently used
  rl.take("y", 0);                     // table full: "idle" (least recent) goes
  CHECK(rl.size() == 3);
  CHECK(!rl.take("busy", 0).allowed);  // still remembered as empty
  CHECK(rl.take("idle", 0).allowed);   // forgotten: starts again with a full bucket
  CHECK(rl.take("idle", 0).allowed);
  CHECK(!rl.take("idle", 0).allowed);
}

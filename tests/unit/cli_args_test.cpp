// Command-line durations (`--reservation-ttl 15m`, `--payment-timeout 0`, …).
#include <doctest/doctest.h>

#include "api/cli_args.hpp"

using ordo::api::parse_duration_ms;

TEST_CASE("durations on the command line: units, zero, and refusals instead of overflow") {
  CHECK(parse_duration_ms("250") == 250);
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("10s") == 10'000);
  CHECK(parse_duration_ms("15m") == 900'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  CHECK(parse_duration_ms("7d") == 604'800'000);
  CHECK(parse_duration_ms("0") == 0);
  CHECK_FALSE(parse_duration_ms("").has_value());
  CHECK_FALSE(parse_duration_ms("-1s").has_value());
  CHECK_FALSE(parse_duration_ms("5 weeks").has_value());
  CHECK_FALSE(parse_duration_ms("h").has_value());
  // Past int64 milliseconds: refused, not wrapped.
  CHECK_FALSE(parse_duration_ms("999999999999999d").has_value());
  CHECK_FALSE(parse_duration_ms("99999999999999999999").has_value());
  CHECK(parse_duration_ms("106751991167d") == int64_t{106751991167} * 86'400'000);
}

// Command-line durations (`--reservation-ttl 15m`, `--payment-timeout 0`, …).
#include <doctest/doctest.h>

#include "api/cli_args.hpp"

#include <cstdint>

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
  // Ten years at most: a timestamp plus any duration stays far inside int64.
  CHECK_FALSE(parse_duration_ms("106751991167d").has_value());
  CHECK(parse_duration_ms("3650d") == ordo::api::kMaxDurationMs);
  CHECK_FALSE(parse_duration_ms("3651d").has_value());
}

TEST_CASE("integers on the command line: the whole text, within range") {
  using ordo::api::parse_int_in;
  CHECK(parse_int_in("8080", 0, 65535) == 8080);
  CHECK(parse_int_in("0", 0, 65535) == 0);
  CHECK_FALSE(parse_int_in("65536", 0, 65535).has_value());
  CHECK_FALSE(parse_int_in("-1", 0, 65535).has_value());
  CHECK_FALSE(parse_int_in("80abc", 0, 65535).has_value());
  CHECK_FALSE(parse_int_in(" 80", 0, 65535).has_value());
  CHECK_FALSE(parse_int_in("", 0, 65535).has_value());
  CHECK_FALSE(parse_int_in("4294967297", 1, 1024).has_value());
  CHECK_FALSE(parse_int_in("99999999999999999999", 0, INT64_MAX).has_value());
}

TEST_CASE("flags: the first one given that the command does not know") {
  ordo::api::Args args;
  const char* argv[] = {"ordo", "serve", "--data-dir", "d", "--partition=4"};
  std::string error;
  REQUIRE(args.parse(5, const_cast<char**>(argv), 2, error));
  CHECK(args.unknown({"data-dir", "partitions"}) == "partition");
  CHECK(args.unknown({"data-dir", "partition"}).empty());
}

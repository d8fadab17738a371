// Command-line durations (`--reservation-ttl 15m`, `--payment-timeout 0`, …).
#include <doctest/doctest.h>

#include "api/cli_args.hpp"

#include <cstdint>

using ordo::api::format_duration_ms;
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

TEST_CASE("a duration is written in the largest unit it is a whole number of, and reads back") {
  CHECK(format_duration_ms(0) == "0ms");
  CHECK(format_duration_ms(1) == "1ms");
  CHECK(format_duration_ms(1500) == "1500ms");
  CHECK(format_duration_ms(60'000) == "1m");
  CHECK(format_duration_ms(90'000) == "90s");
  CHECK(format_duration_ms(3'600'000) == "1h");
  CHECK(format_duration_ms(ordo::api::kMaxDurationMs) == "3650d");
  for (int64_t ms : {int64_t{0}, int64_t{7}, int64_t{61'000}, int64_t{86'400'000} * 2 + 1000,
                     ordo::api::kMaxDurationMs})
    CHECK(parse_duration_ms(format_duration_ms(ms)) == ms);
}

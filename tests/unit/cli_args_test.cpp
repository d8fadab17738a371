// Command-line durations (`--reservation-ttl 15m`, `--payment-timeout 0`, …).
#include <doctest/doctest.h>

#include "api/cli_args.hpp"
#include "api/cli_usage.hpp"

#include <cctype>
#include <cstdint>
#include <iterator>
#include <set>
#include <string>
#include <string_view>

namespace api = ordo::api;

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

namespace {
// The flags a part of the usage text names (`--name`).
std::set<std::string> flags_named(std::string_view text) {
  std::set<std::string> out;
  for (size_t at = text.find("--"); at != std::string_view::npos; at = text.find("--", at + 2)) {
    size_t end = at + 2;
    while (end < text.size() &&
           (std::islower(static_cast<unsigned char>(text[end])) ||
            std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '-'))
      ++end;
    out.emplace(text.substr(at + 2, end - at - 2));
  }
  return out;
}

std::string_view section(std::string_view usage, std::string_view from, std::string_view to) {
  const size_t a = usage.find(from);
  REQUIRE(a != std::string_view::npos);
  const size_t b = usage.find(to, a);
  REQUIRE(b != std::string_view::npos);
  return usage.substr(a, b - a);
}
}  // namespace

TEST_CASE("the usage text names every flag serve and token take, and no other") {
  const std::set<std::string> serve(std::begin(api::kServeFlags), std::end(api::kServeFlags));
  const std::set<std::string> token(std::begin(api::kTokenFlags), std::end(api::kTokenFlags));
  CHECK(serve.size() == std::size(api::kServeFlags));  // no flag listed twice
  CHECK(token.size() == std::size(api::kTokenFlags));
  CHECK(flags_named(section(api::kUsage, "ordo serve", "ordo token")) == serve);
  CHECK(flags_named(section(api::kUsage, "ordo token", "ordo replay")) == token);
  // And the parser refuses what the list leaves out.
  api::Args args;
  std::string error;
  const char* argv[] = {"ordo", "serve", "--data-dir", "d", "--max-conections", "5"};
  REQUIRE(args.parse(6, const_cast<char**>(argv), 2, error));
  CHECK(args.unknown(api::kServeFlags) == "max-conections");
}

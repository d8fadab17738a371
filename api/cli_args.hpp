#pragma once
// Minimal flag parsing for the `ordo` command: `--name value` pairs, each also readable from
// the environment as ORDO_NAME (dashes become underscores).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace ordo::api {

class Args {
 public:
  // Returns false (with `error`) on a stray argument or a flag without a value.
  bool parse(int argc, char** argv, int first, std::string& error) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        error = "unexpected argument " + a;
        return false;
      }
      a = a.substr(2);
      if (auto eq = a.find('='); eq != std::string::npos) {
        values_[a.substr(0, eq)] = a.substr(eq + 1);
        continue;
      }
      if (i + 1 >= argc) {
        error = "--" + a + " needs a value";
        return false;
      }
      values_[a] = argv[++i];
    }
    return true;
  }

  // The first flag given on the command line that is not one of `known` ("" when none):
  // a typo must not quietly fall back to a default.
  std::string unknown(std::span<const std::string_view> known) const {
    for (const auto& [name, value] : values_)
      if (std::find(known.begin(), known.end(), name) == known.end()) return name;
    return "";
  }
  std::string unknown(std::initializer_list<std::string_view> known) const {
    return unknown(std::span<const std::string_view>(known.begin(), known.size()));
  }

  std::optional<std::string> get(const std::string& name) const {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    std::string env = "ORDO_";
    for (char c : name) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    if (const char* v = std::getenv(env.c_str()); v && *v) return std::string(v);
    return std::nullopt;
  }
  std::string get_or(const std::string& name, std::string fallback) const {
    return get(name).value_or(std::move(fallback));
  }

 private:
  std::map<std::string, std::string> values_;
};

// A whole decimal integer within [lo, hi], or nothing: "80abc", " 8", "-1" for a count and
// "4294967297" for a 32-bit one are refused, not cut or wrapped.
inline std::optional<int64_t> parse_int_in(const std::string& s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc{} || p != end || v < lo || v > hi) return std::nullopt;
  return v;
}

// The longest duration a flag takes: ten years. Timestamps plus durations then stay far
// from int64's limit.
inline constexpr int64_t kMaxDurationMs = int64_t{3650} * 86'400'000;

// "15m", "1h", "30s", "250ms", or plain milliseconds; at most kMaxDurationMs.
inline std::optional<int64_t> parse_duration_ms(const std::string& s) {
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &pos);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = s.substr(pos);
  if (n < 0) return std::nullopt;
  int64_t per = 0;
  if (unit.empty() || unit == "ms")
    per = 1;
  else if (unit == "s")
    per = 1000;
  else if (unit == "m")
    per = 60'000;
  else if (unit == "h")
    per = 3'600'000;
  else if (unit == "d")
    per = 86'400'000;
  else
    return std::nullopt;
  int64_t ms = 0;
  if (__builtin_mul_overflow(int64_t(n), per, &ms) || ms > kMaxDurationMs) return std::nullopt;
  return ms;
}

// The words parse_duration_ms reads back: the largest unit the value is a whole number of.
inline std::string format_duration_ms(int64_t ms) {
  for (auto [per, unit] : {std::pair<int64_t, const char*>{86'400'000, "d"},
                           {3'600'000, "h"},
                           {60'000, "m"},
                           {1000, "s"}})
    if (ms != 0 && ms % per == 0) return std::to_string(ms / per) + unit;
  return std::to_string(ms) + "ms";
}

}  // namespace ordo::api

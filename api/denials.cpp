#include "api/denials.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <utility>

namespace ordo::api {

std::string_view to_string(DenyReason r) noexcept {
  switch (r) {
    case DenyReason::unauthenticated:
      return "unauthenticated";
    case DenyReason::forbidden:
      return "forbidden";
    case DenyReason::not_found_ownership:
      return "not_found_ownership";
    case DenyReason::rate_limited:
      return "rate_limited";
  }
  return "unknown";
}

namespace {
std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f || c == '"' || c == '\\' ? '?' : c);
  }
  if (s.size() > max) out += "...";
  return out;
}
}  // namespace

std::string denial_line(DenyReason r, std::string_view method, std::string_view path,
                        std::string_view sub) {
  return fmt::format("ordo: denied reason={} method={} path=\"{}\" sub=\"{}\"", to_string(r),
                     printable(method, 16), printable(path, 256), printable(sub, 64));
}

void Denials::record(DenyReason r, std::string_view method, std::string_view path,
                     std::string_view sub, int64_t now_ms) {
  counts_[static_cast<size_t>(r)].fetch_add(1);
  uint64_t suppressed = 0;
  {
    std::lock_guard lock(log_mu_);
    const int64_t second = now_ms / 1000;
    if (second != log_second_) {
      log_second_ = second;
      log_lines_ = 0;
    }
    if (log_lines_ >= kMaxLinesPerSecond) {
      ++suppressed_;
      return;
    }
    ++log_lines_;
    suppressed = std::exchange(suppressed_, 0);
  }
  std::string line = denial_line(r, method, path, sub);
  if (suppressed) line += fmt::format(" ({} earlier denial lines suppressed)", suppressed);
  line.push_back('\n');
  std::fputs(line.c_str(), stderr);
}

}  // namespace ordo::api

#pragma once
// Denied requests: counted per reason for /metrics and logged to stderr, one line each, with
// the method, path and the caller's `sub` when known — never a token, header or secret.
// Logging is throttled so a flood of refused requests cannot flood the log as well.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace ordo::api {

enum class DenyReason { unauthenticated, forbidden, not_found_ownership, rate_limited };
inline constexpr std::array kDenyReasons{DenyReason::unauthenticated, DenyReason::forbidden,
                                         DenyReason::not_found_ownership, DenyReason::rate_limited};

std::string_view to_string(DenyReason r) noexcept;

// The one log line for a denial (without the trailing newline). Control characters and
// quotes in the path are replaced and it is cut at 256 bytes, so a hostile path cannot forge
// log lines.
std::string denial_line(DenyReason r, std::string_view method, std::string_view path,
                        std::string_view sub);

class Denials {
 public:
  static constexpr int kMaxLinesPerSecond = 20;

  // Counts the denial and logs it unless this second's line budget is spent.
  void record(DenyReason r, std::string_view method, std::string_view path, std::string_view sub,
              int64_t now_ms);
  uint64_t count(DenyReason r) const { return counts_[static_cast<size_t>(r)].load(); }

 private:
  std::array<std::atomic<uint64_t>, kDenyReasons.size()> counts_{};
  std::mutex log_mu_;
  int64_t log_second_ = 0;
  int log_lines_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace ordo::api

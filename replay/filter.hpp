#pragma once
// Which events an export keeps. Every bound is inclusive; an unset one keeps everything.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/log/envelope.hpp"

namespace ordo::replay {

struct EventFilter {
  std::optional<uint32_t> partition;
  std::optional<std::string> stream;
  std::optional<std::string> type;
  std::optional<int64_t> from_time_ms, to_time_ms;  // occurred_at
  std::optional<int64_t> from_offset, to_offset;

  bool matches(const Envelope& e) const {
    return matches(e.partition.value(), e.offset.value(), e.occurred_at.value(), e.type, e.stream);
  }
  // The same from the fields alone (an envelope read in place).
  bool matches(uint32_t p, int64_t offset, int64_t occurred_at, std::string_view t,
               std::string_view s) const {
    if (partition && p != *partition) return false;
    if (from_offset && offset < *from_offset) return false;
    if (to_offset && offset > *to_offset) return false;
    if (from_time_ms && occurred_at < *from_time_ms) return false;
    if (to_time_ms && occurred_at > *to_time_ms) return false;
    if (type && t != *type) return false;
    if (stream && s != *stream) return false;
    return true;
  }
};

}  // namespace ordo::replay

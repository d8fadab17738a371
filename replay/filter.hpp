#pragma once
// Which events an export keeps. Every bound is inclusive; an unset one keeps everything.
#include <cstdint>
#include <optional>
#include <string>

#include "engine/log/envelope.hpp"

namespace ordo::replay {

struct EventFilter {
  std::optional<uint32_t> partition;
  std::optional<std::string> stream;
  std::optional<std::string> type;
  std::optional<int64_t> from_time_ms, to_time_ms;  // occurred_at
  std::optional<int64_t> from_offset, to_offset;

  bool matches(const Envelope& e) const {
    if (partition && e.partition.value() != *partition) return false;
    if (from_offset && e.offset.value() < *from_offset) return false;
    if (to_offset && e.offset.value() > *to_offset) return false;
    if (from_time_ms && e.occurred_at.value() < *from_time_ms) return false;
    if (to_time_ms && e.occurred_at.value() > *to_time_ms) return false;
    if (type && e.type != *type) return false;
    if (stream && e.stream != *stream) return false;
    return true;
  }
};

}  // namespace ordo::replay

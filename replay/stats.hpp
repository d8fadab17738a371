#pragma once
// Counts for a first look at a log: events per type, per partition (with first and last
// offset), per UTC day of occurred_at.
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <string>

#include "engine/log/json.hpp"
#include "replay/event_source.hpp"
#include "replay/verifier.hpp"

namespace ordo::replay {

struct LogStats {
  struct Partition {
    int64_t events = 0;
    int64_t first_offset = -1;
    int64_t last_offset = -1;
  };
  int64_t events = 0;
  std::map<std::string, int64_t, std::less<>> by_type;
  std::map<uint32_t, Partition> by_partition;
  std::map<std::string, int64_t> by_day;  // "YYYY-MM-DD" (UTC)

  void add(const Envelope& e);
  void add(uint32_t partition, int64_t offset, int64_t occurred_at_ms, std::string_view type);

 private:
  // The UTC day of the last event counted: days since the epoch, and its name in by_day.
  std::optional<std::pair<int64_t, std::string>> last_day_;
};

// Stored lines read per batch by collect_stats.
inline constexpr size_t kStatsBatchLines = 4096;

// "YYYY-MM-DD" of a Unix time in milliseconds, UTC (proleptic Gregorian, integers only).
std::string utc_day(int64_t ms);

Result<LogStats> collect_stats(EventSource& source, const Progress& progress = {});
Json to_json(const LogStats& s);

}  // namespace ordo::replay

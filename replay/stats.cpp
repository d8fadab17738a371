#include "replay/stats.hpp"

#include <fmt/core.h>

#include "engine/log/envelope_view.hpp"
#include "replay/line_check.hpp"

namespace ordo::replay {

namespace {

// Days since the epoch, rounded towards minus infinity.
int64_t epoch_day(int64_t ms) { return ms / 86'400'000 - (ms % 86'400'000 < 0 ? 1 : 0); }

}  // namespace

std::string utc_day(int64_t ms) {
  // Howard Hinnant's civil_from_days (public domain).
  int64_t z = epoch_day(ms) + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

void LogStats::add(uint32_t partition, int64_t offset, int64_t occurred_at_ms,
                   std::string_view type) {
  ++events;
  if (auto it = by_type.find(type); it != by_type.end())
    ++it->second;
  else
    by_type.emplace(std::string(type), 1);
  auto& p = by_partition[partition];
  if (p.events++ == 0) p.first_offset = offset;
  p.last_offset = offset;
  // Events come in runs of one day: the day's name is made once per run, not per event.
  const int64_t day = epoch_day(occurred_at_ms);
  if (!last_day_ || last_day_->first != day) last_day_.emplace(day, utc_day(occurred_at_ms));
  ++by_day[last_day_->second];
}

void LogStats::add(const Envelope& e) {
  add(e.partition.value(), e.offset.value(), e.occurred_at.value(), e.type);
}

Result<LogStats> collect_stats(EventSource& source, const Progress& progress) {
  // Stored lines read in place, as export reads them: a canonical line is counted from its
  // envelope's members (its payload only checked to be canonical JSON); any other line is
  // decoded in full, so the lines accepted are the ones decoding every line would accept.
  LogStats s;
  auto counted = [&] {
    if (s.events % kProgressEvery == 0 && progress) progress(s.events);
    return Status{};
  };
  auto read = read_stored_lines(
      source, kStatsBatchLines,
      [&](const EnvelopeView& v, std::string_view) {
        s.add(v.partition, v.offset, v.occurred_at, v.type);
        return counted();
      },
      [&](const Envelope& e) {
        s.add(e);
        return counted();
      });
  if (!read) return Error{read.message()};
  return s;
}

Json to_json(const LogStats& s) {
  Json::Object types, days;
  for (const auto& [k, v] : s.by_type) types.emplace(k, Json(v));
  for (const auto& [k, v] : s.by_day) days.emplace(k, Json(v));
  Json::Array parts;
  for (const auto& [p, v] : s.by_partition)
    parts.push_back(Json(Json::Object{{"partition", Json(int64_t(p))},
                                      {"events", Json(v.events)},
                                      {"first_offset", Json(v.first_offset)},
                                      {"last_offset", Json(v.last_offset)}}));
  return Json(Json::Object{{"events", Json(s.events)},
                           {"by_type", Json(std::move(types))},
                           {"by_partition", Json(std::move(parts))},
                           {"by_day", Json(std::move(days))}});
}

}  // namespace ordo::replay

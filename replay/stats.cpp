#include "replay/stats.hpp"

#include <fmt/core.h>

namespace ordo::replay {

std::string utc_day(int64_t ms) {
  // Days since the epoch, rounded towards minus infinity, then Howard Hinnant's
  // civil_from_days (public domain).
  int64_t z = ms / 86'400'000;
  if (ms % 86'400'000 < 0) --z;
  z += 719468;
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

void LogStats::add(const Envelope& e) {
  ++events;
  ++by_type[e.type];
  auto& p = by_partition[e.partition.value()];
  if (p.events++ == 0) p.first_offset = e.offset.value();
  p.last_offset = e.offset.value();
  ++by_day[utc_day(e.occurred_at.value())];
}

Result<LogStats> collect_stats(EventSource& source, const Progress& progress) {
  LogStats s;
  Envelope e;
  for (;;) {
    auto r = source.next(e);
    if (!r) return Error{r.error().message};
    if (!r.value()) break;
    s.add(e);
    if (s.events % kProgressEvery == 0 && progress) progress(s.events);
  }
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

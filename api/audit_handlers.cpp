// The auditor's endpoints: the raw history of a partition and the verify verdict. The work
// is in replay/audit_api; here only the query is read and the answer sent.
#include <fmt/core.h>

#include "api/call.hpp"
#include "replay/audit_api.hpp"

namespace ordo::api {

Response App::handle_events(Call& call) {
  replay::EventsPage page;
  if (auto v = call.query.get("partition")) {
    auto n = parse_int(*v);
    if (!n || *n < 0 || *n >= static_cast<int64_t>(engine_.partition_count()))
      return call.problem({400,
                           "validation_failed",
                           fmt::format("partition must be 0..{}", engine_.partition_count() - 1),
                           "partition",
                           {}});
    page.partition = static_cast<uint32_t>(*n);
  }
  if (auto v = call.query.get("after")) {
    auto n = parse_int(*v);
    if (!n || *n < -1)
      return call.problem(
          {400, "validation_failed", "after must be an offset (-1 for the start)", "after", {}});
    page.after = *n;
  }
  if (auto v = call.query.get("limit")) {
    auto n = parse_int(*v);
    if (!n || *n < 1 || *n > static_cast<int64_t>(replay::kMaxEventsPage))
      return call.problem({400, "validation_failed", "limit must be 1..1000", "limit", {}});
    page.limit = static_cast<size_t>(*n);
  }
  if (auto v = call.query.get("type")) {
    if (v->empty() || v->size() > 64)
      return call.problem(
          {400, "validation_failed", "type must be an event type name", "type", {}});
    page.type = *v;
  }
  auto body = replay::events_page_json(engine_.log(), page);
  if (!body) return call.problem({503, "storage_unavailable", "the log could not be read", {}, 1});
  return call.json(200, std::move(body.value()));
}

// Reads the whole log as of now: seconds for millions of events. The auditor role asks
// rarely; the endpoint is not meant for polling.
Response App::handle_audit_verify(Call& call) {
  return call.json(200, replay::audit_verify_json(engine_.log()));
}

}  // namespace ordo::api

// The auditor's endpoints: a stream's raw history, a partition's raw history and the verify
// verdict. The work is in replay/audit_api and the log; here only the query is read and the
// answer sent. Reading the log can block (a Kafka log waits on the broker; a verify reads all
// of it), so the reads run on their own bounded pools, never on the HTTP threads.
#include <fmt/core.h>

#include "api/call.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/json.hpp"
#include "replay/audit_api.hpp"

namespace ordo::api {

namespace {

constexpr int64_t kMaxStreamPage = 1000;

// The problem for work that did not answer: refused (its lane was full), failed or timed out.
// nullopt when it answered.
template <typename T>
std::optional<Problem> unanswered(const std::optional<Result<T>>& answer,
                                  const QueryOutcome& outcome, std::string_view busy_code,
                                  std::string busy_text, int retry_after_s) {
  if (outcome.refused)
    return Problem{503, std::string(busy_code), std::move(busy_text), {}, retry_after_s};
  if (outcome.error || (answer && !answer->ok()))
    return Problem{503, "storage_unavailable", "the log could not be read", {}, 1};
  if (!answer) return Problem{503, "storage_timeout", "the log did not answer in time", {}, 1};
  return std::nullopt;
}

}  // namespace

asio::awaitable<Response> App::answer_from_log(Call& call,
                                               std::function<Result<std::string>()> work) {
  QueryOutcome outcome;
  auto body = co_await offload<Result<std::string>>(log_read_lane_, std::move(work), outcome);
  if (auto p = unanswered(body, outcome, "busy",
                          fmt::format("{} reads of the log are already waiting; retry later",
                                      log_read_lane_.max_pending),
                          config_.retry_after_s))
    co_return call.problem(std::move(*p));
  co_return call.json(200, std::move(body->value()));
}

asio::awaitable<Response> App::handle_stream_events(Call& call) {
  const std::string stream = call.params.at(0);
  if (!is_valid_stream_name(stream))
    co_return call.problem({400,
                            "validation_failed",
                            "stream name must be 1..128 characters of [A-Za-z0-9._:-]",
                            "stream",
                            {}});
  int64_t from = 1, limit = 100;
  if (auto v = call.query.get("from_version")) {
    auto n = parse_int(*v);
    if (!n || *n < 1)
      co_return call.problem({400,
                              "validation_failed",
                              "from_version must be a positive integer",
                              "from_version",
                              {}});
    from = *n;
  }
  if (auto v = call.query.get("limit")) {
    auto n = parse_int(*v);
    if (!n || *n < 1 || *n > kMaxStreamPage)
      co_return call.problem({400, "validation_failed", "limit must be 1..1000", "limit", {}});
    limit = *n;
  }
  EventLog& log = engine_.log();
  std::function<Result<std::string>()> work = [&log, stream, from, limit]() -> Result<std::string> {
    auto events = log.read_stream(stream, from, static_cast<size_t>(limit));
    if (!events) return events.error();
    std::string body = "{\"events\":[";
    for (size_t i = 0; i < events->size(); ++i) {
      if (i) body.push_back(',');
      body += encode_envelope((*events)[i]);
    }
    body += "],\"next_from_version\":";
    if (static_cast<int64_t>(events->size()) == limit)
      body += std::to_string(events->back().stream_version + 1);
    else
      body += "null";
    body += ",\"stream\":";
    write_json_string(stream, body);
    body += "}";
    return body;
  };
  co_return co_await answer_from_log(call, std::move(work));
}

asio::awaitable<Response> App::handle_events(Call& call) {
  replay::EventsPage page;
  if (auto v = call.query.get("partition")) {
    auto n = parse_int(*v);
    if (!n || *n < 0 || *n >= static_cast<int64_t>(engine_.partition_count()))
      co_return call.problem({400,
                              "validation_failed",
                              fmt::format("partition must be 0..{}", engine_.partition_count() - 1),
                              "partition",
                              {}});
    page.partition = static_cast<uint32_t>(*n);
  }
  if (auto v = call.query.get("after")) {
    auto n = parse_int(*v);
    if (!n || *n < -1)
      co_return call.problem(
          {400, "validation_failed", "after must be an offset (-1 for the start)", "after", {}});
    page.after = *n;
    // A cursor past the end (from another server, or a log restored from an older copy)
    // would silently skip the offsets up to it as they are written: refuse it.
    auto tail = engine_.log().known_tail(PartitionId{page.partition});
    if (tail && page.after > tail->last_offset.value())
      co_return call.problem(
          {400,
           "validation_failed",
           fmt::format("after is past the end of partition {} (its last offset is {})",
                       page.partition, tail->last_offset.value()),
           "after",
           {}});
  }
  if (auto v = call.query.get("limit")) {
    auto n = parse_int(*v);
    if (!n || *n < 1 || *n > static_cast<int64_t>(replay::kMaxEventsPage))
      co_return call.problem({400, "validation_failed", "limit must be 1..1000", "limit", {}});
    page.limit = static_cast<size_t>(*n);
  }
  if (auto v = call.query.get("type")) {
    if (v->empty() || v->size() > 64)
      co_return call.problem(
          {400, "validation_failed", "type must be an event type name", "type", {}});
    page.type = *v;
  }
  EventLog& log = engine_.log();
  std::function<Result<std::string>()> work = [&log, page] {
    return replay::events_page_json(log, page);
  };
  co_return co_await answer_from_log(call, std::move(work));
}

// Reads the whole log as of now: seconds for millions of events. One at a time (a second
// asks while one runs: 503), on its own thread.
asio::awaitable<Response> App::handle_audit_verify(Call& call) {
  EventLog& log = engine_.log();
  using Answer = Result<replay::VerifyAnswer>;
  std::function<Answer()> work = [&log, this]() -> Answer {
    return replay::audit_verify_json(log, &offloads_stopping_);
  };
  QueryOutcome outcome;
  auto body = co_await offload<Answer>(audit_lane_, std::move(work), outcome);
  // Cut short by a stop: no verdict on the log (a cut between two events of one command
  // would read as a broken invariant). A verify that ended before the stop keeps its answer.
  if (body && body->ok() && body->value().cut_short)
    co_return call.problem({503, "stopping", "the server is stopping", {}, config_.retry_after_s});
  if (auto p = unanswered(body, outcome, "audit_busy",
                          "a verify of the whole log is already running; retry later",
                          config_.retry_after_s))
    co_return call.problem(std::move(*p));
  co_return call.json(200, std::move(body->value().json));
}

}  // namespace ordo::api

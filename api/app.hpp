#pragma once
// Ordo's HTTP handler: authenticate, match the access table, decode, apply Idempotency-Key
// semantics, hand the command to the engine and wait (bounded) for its durable outcome.
// No business rule lives here.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "api/access.hpp"
#include "api/denials.hpp"
#include "api/flow_waiter.hpp"
#include "api/http_types.hpp"
#include "api/jwt.hpp"
#include "api/live_feed.hpp"
#include "api/offload.hpp"
#include "api/problem.hpp"
#include "api/rate_limiter.hpp"
#include "api/verified_tokens.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"

namespace ordo {
class FlowManager;
struct FlowOutcome;
}  // namespace ordo

namespace ordo::projections {
class ViewQueries;
class ProjectionRunner;
}  // namespace ordo::projections

namespace ordo::api {

template <typename T>
class ResultWaiter;  // api/result_waiter.hpp

// The query side, when PostgreSQL is configured (both or neither).
struct ReadSide {
  projections::ViewQueries* queries = nullptr;
  projections::ProjectionRunner* runner = nullptr;
};

struct AppConfig {
  std::vector<std::string> jwt_secrets;  // current first; older ones accepted during rotation
  // End of the rotation grace (wall clock, ms): after it only jwt_secrets[0] is accepted.
  int64_t previous_secrets_until_ms = std::numeric_limits<int64_t>::max();
  std::chrono::milliseconds command_timeout{30'000};
  int retry_after_s = 1;
  size_t max_target_bytes = 2048;
  std::chrono::milliseconds min_position_timeout{5'000};  // Ordo-Min-Position wait bound
  std::chrono::milliseconds query_timeout{10'000};
  // Queries waiting for or running on the query pool at once; past it a query is refused
  // with 503 at once (a hung PostgreSQL would otherwise pile up one queued query per request).
  size_t max_pending_queries = 64;
  // Reads of the log for GET /v1/streams/{s}/events and /v1/events, likewise.
  size_t max_pending_log_reads = 16;
  // GET /v1/audit/verify reads the whole log: one at a time, on its own thread, this long.
  std::chrono::milliseconds audit_verify_timeout{10 * 60'000};
  RateLimitConfig rate_limit;  // per token (`sub`), or per address before authentication
  // Secrets of the payment provider's webhook HMAC (current first); none: webhooks refused.
  std::vector<std::string> webhook_secrets;
  std::chrono::milliseconds flow_wait_timeout{10'000};  // bound of `?wait=true`
  // How long a `?wait=true` request waits for its idempotency record's rewrite (the write
  // goes on after it): apart from --query-timeout, which is about the views.
  std::chrono::milliseconds settle_timeout{10'000};
  LiveFeedConfig live;  // GET /v1/subscribe: how many, how far behind a subscriber may fall
};

// How long a stop lets the requests in hand finish: the longest any of them may still take.
// A query on the views waits for PostgreSQL; a `?wait=true` payment whose flow has ended
// waits for its idempotency record's rewrite (one still waiting for its flow is answered
// 202 at the stop, as a wait for Ordo-Min-Position is answered 503: the flow's bound stays
// in as the bound it was). Plus 5 s to write the answers.
inline std::chrono::milliseconds drain_timeout_for(const AppConfig& c) {
  return std::max({c.flow_wait_timeout, c.settle_timeout, c.query_timeout}) +
         std::chrono::milliseconds(5'000);
}

// Ids for commands and for orders the client did not name: the time in ms (48 bits), a
// per-millisecond sequence (16 bits) and 64 random bits, in hex after the prefix. Ordered by
// creation within a process (the sequence borrows the next millisecond when one runs out),
// so the stores keyed by them (the stream index, the state's orders, the views' primary
// keys) insert next to the last key instead of at a random place. The random part keeps
// two processes (or a restart after the clock stepped back) apart: two ids in the same
// (ms, sequence) slot clash with probability 2^-64. An id shows when it was made, as a
// UUIDv7 does. The clock and the seed are injected, so a test can make them reproducible.
class IdSource {
 public:
  IdSource(const Clock& clock, uint64_t seed) : clock_(clock), rng_(seed) {}
  std::string next(std::string_view prefix);

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::mt19937_64 rng_;
  int64_t last_ms_ = 0;
  uint32_t seq_ = 0;
};

class App {
 public:
  App(Engine& engine, const Clock& clock, IdSource& ids, AppConfig config, ReadSide read = {});
  ~App();
  // Every answer to a domain command (a POST of the access table) carries Ordo-Position: a
  // 4xx refusal that never reached a partition (validation, authentication, the router)
  // names where partition 0's log ended.
  asio::awaitable<Response> handle(Request& req, const ClientInfo& client = {});
  // The process managers, for `?wait=true` and the parked steps; optional.
  void set_flows(FlowManager* flows) { flows_ = flows; }
  // The first step of a stop, before the server's: closes every live subscription (1001)
  // and stops the feed's thread, so no wake-up is posted to a stopped server; ends a running
  // audit verify (503 `stopping`) and the `?wait=true` waits (202, flow pending), so the
  // server's drain does not wait for them.
  void begin_stop();
  // Waits for the work offloaded to the query, log-read and audit pools (a query ends within
  // its statement timeout, a verify when it has read the log). Call after the HTTP server
  // stopped and before it is destroyed: finished work wakes its waiter on the server's
  // io_context, which must still exist then. Idempotent; the destructor calls it too.
  void join_offloads();

 private:
  struct Call;
  // handle() without the position rule; `command` is set once the request matched a command.
  asio::awaitable<Response> answer(Request& req, const ClientInfo& client, bool& command);
  asio::awaitable<Response> handle_command(Call& call);
  // The lifecycle and money endpoints (api/money_handlers.cpp): decode into `s`, gather the
  // ownership facts, choose the renderer and the flow a `?wait=true` waits for. False for
  // an endpoint that is not one of them.
  struct MoneyDecode;
  bool decode_money_command(Call& call, MoneyDecode& d);
  // Waits (bounded) for the flow `key` when the outcome started one: the response tells the
  // flow's end when it ended within the wait (`flow_ended`), else it is the command's own.
  struct FlowAnswer {
    Response response;
    bool flow_ended = false;
  };
  asio::awaitable<FlowAnswer> finish_flow(Call& call, Response immediate, const Completion& done,
                                          uint64_t watch_token,
                                          std::shared_ptr<ResultWaiter<FlowOutcome>> waiter);
  // Makes `key` replay `res` (the end of the flow a `?wait=true` waited for) instead of the
  // command's own answer, so a retry gets what the first request got.
  asio::awaitable<void> settle_idempotency(const std::string& key, const Response& res,
                                           std::shared_ptr<const void> key_hold);
  std::optional<Response> check_webhook_signature(Call& call);
  // 429 when the rate limiter has no room left for `key` ("sub:…" or "ip:…"); nullopt when it
  // has, or is off.
  std::optional<Response> throttle(const Call& call, const std::string& key);
  // Names where partition 0's log ended: the position of an answer that wrote nothing.
  void name_log_end(Response& res);
  asio::awaitable<Response> handle_parked(Call& call);
  // Every refusal for who the caller is (401, 403, someone else's resource, 429) goes
  // through here: counted for /metrics and logged.
  Response deny(const Call& call, DenyReason reason, Problem p);
  asio::awaitable<Response> handle_stream_events(Call& call);
  // Runs `work` (a page of the log, as JSON) on the log-read pool: its body with 200, or the
  // problem when the pool is full, the read failed or it did not answer in time.
  asio::awaitable<Response> answer_from_log(Call& call, std::function<Result<std::string>()> work);
  // The auditor's endpoints (api/audit_handlers.cpp).
  asio::awaitable<Response> handle_events(Call& call);
  asio::awaitable<Response> handle_audit_verify(Call& call);
  Response handle_readyz(Call& call);
  Response handle_metrics(Call& call);
  // GET /v1/subscribe (api/subscribe.cpp): 101 with the session left in `client.upgrade`.
  Response handle_subscribe(Call& call, const ClientInfo& client);
  asio::awaitable<Response> handle_query(Call& call);
  // Waits (bounded) until the views reached the request's Ordo-Min-Position, if any;
  // returns a problem response when they did not.
  asio::awaitable<std::optional<Response>> wait_min_position(Call& call);

  Engine& engine_;
  const Clock& clock_;
  IdSource& ids_;
  AppConfig config_;
  std::mutex inflight_mu_;
  std::unordered_set<std::string> inflight_;  // Idempotency-Keys whose first request runs
  ReadSide read_;
  FlowManager* flows_ = nullptr;
  std::vector<std::string> current_secret_;  // jwt_secrets[0] alone, for after the grace
  VerifiedTokens tokens_;                    // verify_jwt's successes, re-checked for time
  RateLimiter limiter_;
  Denials denials_;
  // Blocking work never runs on the HTTP threads (api/offload.hpp). Queries block on
  // PostgreSQL; reads of the log for the auditor's pages wait on the broker with a Kafka log;
  // GET /v1/audit/verify reads the whole log, one at a time.
  OffloadLane query_lane_{4, config_.max_pending_queries, config_.query_timeout};
  OffloadLane log_read_lane_{2, config_.max_pending_log_reads, config_.query_timeout};
  // Requests waiting for a flow's end (`?wait=true`): a stop answers them at once (202,
  // flow pending) instead of letting the server's drain wait out --flow-wait-timeout.
  std::mutex flow_waiters_mu_;
  std::vector<std::weak_ptr<FlowWaiter>> flow_waiters_;
  bool flow_waits_ended_ = false;
  void track_flow_waiter(const std::shared_ptr<FlowWaiter>& waiter);
  std::atomic<bool> offloads_stopping_{false};  // join_offloads() began: long reads end
  OffloadLane audit_lane_{1, 1, config_.audit_verify_timeout};
  // The `?wait=true` rewrites of idempotency records (one short local write each), on their
  // own lane: auditors filling the log-read lane must not make a retry replay a stale answer.
  // At most one per `?wait=true` request whose flow ended, which the connections bound.
  OffloadLane settle_lane_{1, 16'384, config_.settle_timeout};
  std::unique_ptr<LiveFeed> feed_;
};

}  // namespace ordo::api

#include "api/app.hpp"

#include <fmt/core.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <charconv>
#include <optional>

#include "api/call.hpp"
#include "api/command_codec.hpp"
#include "api/flow_waiter.hpp"
#include "api/money_decode.hpp"
#include "api/openapi.hpp"
#include "api/problem.hpp"
#include "api/render.hpp"
#include "engine/log/json.hpp"
#include "projections/runner.hpp"

namespace ordo::api {

std::string IdSource::next(std::string_view prefix) {
  const int64_t now_ms = std::max<int64_t>(clock_.now().value(), 0);
  std::lock_guard lock(mu_);
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    seq_ = 0;
  } else if (++seq_ > 0xFFFF) {  // the clock stood still (or stepped back) for 65,536 ids
    ++last_ms_;
    seq_ = 0;
  }
  return fmt::format("{}{:012x}{:04x}{:016x}", prefix,
                     static_cast<uint64_t>(last_ms_) & 0xFFFFFFFFFFFFULL, seq_, rng_());
}

namespace {

constexpr size_t kMaxIdempotencyKeyBytes = 255;

}  // namespace

App::App(Engine& engine, const Clock& clock, IdSource& ids, AppConfig config, ReadSide read)
    : engine_(engine),
      clock_(clock),
      ids_(ids),
      config_(std::move(config)),
      read_(read),
      limiter_(config_.rate_limit),
      feed_(std::make_unique<LiveFeed>(engine, config_.live)) {
  if (!config_.jwt_secrets.empty()) current_secret_.push_back(config_.jwt_secrets.front());
}

App::~App() { join_offloads(); }

void App::track_flow_waiter(const std::shared_ptr<FlowWaiter>& waiter) {
  std::lock_guard lock(flow_waiters_mu_);
  if (flow_waits_ended_) {
    waiter->give_up();
    return;
  }
  // Those that ended are dropped as the list grows: it holds about the waits in hand.
  if (flow_waiters_.size() >= 64 && flow_waiters_.size() % 64 == 0)
    std::erase_if(flow_waiters_, [](const auto& w) { return w.expired(); });
  flow_waiters_.push_back(waiter);
}

void App::join_offloads() {
  offloads_stopping_ = true;
  query_lane_.pool.join();
  log_read_lane_.pool.join();
  audit_lane_.pool.join();
  settle_lane_.pool.join();
}

std::optional<Response> App::throttle(const Call& call, const std::string& key) {
  if (!limiter_.enabled()) return std::nullopt;
  auto d = limiter_.take(key, clock_.now().value());
  if (d.allowed) return std::nullopt;
  return deny(call, DenyReason::rate_limited,
              {429, "rate_limited", "too many requests; slow down", {}, d.retry_after_s});
}

void App::name_log_end(Response& res) {
  res.set("Ordo-Position", engine_.position_without_partition().to_string());
}

Response App::deny(const Call& call, DenyReason reason, Problem p) {
  std::string_view target = call.req.target();
  denials_.record(reason, call.req.method_string(), target.substr(0, target.find('?')),
                  call.who.sub, clock_.now().value());
  return call.problem(std::move(p));
}

asio::awaitable<Response> App::handle(Request& req, const ClientInfo& client) {
  bool command = false;
  Response res = co_await answer(req, client, command);
  // A 4xx refusal wrote nothing: where the log ended is a position a client may read at.
  // (A 503 names its own, or none when the command's outcome is unknown.)
  const int status = res.result_int();
  if (command && status >= 400 && status < 500 && res.find("Ordo-Position") == res.end())
    name_log_end(res);
  co_return res;
}

asio::awaitable<Response> App::answer(Request& req, const ClientInfo& client, bool& command) {
  const bool keep_alive = req.keep_alive();
  auto fail = [&](Problem p) { return make_problem(p, req.version(), keep_alive); };
  std::string_view target = req.target();
  if (target.size() > config_.max_target_bytes)
    co_return fail({414, "uri_too_long", "the request target is too long", {}, {}});
  size_t qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  auto query = parse_query(qpos == std::string_view::npos ? "" : target.substr(qpos + 1));
  if (!query) co_return fail({400, "bad_query", "the query string is not valid", {}, {}});

  std::vector<std::string> params;
  bool path_known = false;
  const AccessRule* rule = match_rule(req.method(), path, params, path_known);
  if (!rule) {
    if (path_known) {
      auto res = fail({405, "method_not_allowed", "method not allowed here", {}, {}});
      res.set(http::field::allow, allowed_methods(path));  // RFC 9110 §15.5.6
      co_return res;
    }
    co_return fail({404, "not_found", "no such resource", {}, {}});
  }
  // The domain's commands; the parked-step retry answers with the step's status instead.
  command = rule->method == http::verb::post && rule->endpoint != Endpoint::admin_parked_retry;
  for (auto& p : params) {
    auto d = percent_decode(p, PercentPart::path);
    if (!d) co_return fail({400, "bad_path", "the path is not validly encoded", {}, {}});
    p = std::move(*d);
  }

  Call call{req, *rule, std::move(params), std::move(*query), {}, keep_alive};
  if (!rule->open) {
    std::string_view auth = req[http::field::authorization];
    std::optional<Problem> unauthenticated;
    const std::string_view token = bearer_token(auth);
    if (token.empty()) {
      unauthenticated = Problem{401, "unauthenticated", "a Bearer token is required", {}, {}};
    } else if (auto claims = tokens_.verify(token,
                                            clock_.now().value() > config_.previous_secrets_until_ms
                                                ? current_secret_
                                                : config_.jwt_secrets,
                                            clock_.now().value() / 1000)) {
      call.who = std::move(claims.value());
    } else {
      unauthenticated = Problem{401, "unauthenticated", claims.error().message, {}, {}};
    }
    // Rate limit right after authentication: per token, or per address for callers without
    // a valid one (so guessing tokens is throttled too). Open ops endpoints (probes,
    // scrapes) are not limited: they are cheap and must answer while an abuser is throttled.
    if (auto limited =
            throttle(call, unauthenticated ? "ip:" + client.address : "sub:" + call.who.sub))
      co_return std::move(*limited);
    if (unauthenticated) {
      auto res = deny(call, DenyReason::unauthenticated, std::move(*unauthenticated));
      res.set(http::field::www_authenticate,
              token.empty() ? "Bearer" : "Bearer error=\"invalid_token\"");
      co_return res;
    }
    // The role column of the access table, for every endpoint: handlers only ever see
    // callers whose role the rule admits (ownership is checked once the resource is known).
    if ((rule->roles & role_bit(call.who.role)) == 0)
      co_return deny(call, DenyReason::forbidden,
                     {403,
                      "forbidden",
                      fmt::format("role {} may not use this endpoint", to_string(call.who.role)),
                      {},
                      {}});
  }

  switch (rule->endpoint) {
    case Endpoint::livez:
      co_return json_response(200, R"({"status":"ok"})", req.version(), keep_alive);
    case Endpoint::readyz:
      co_return handle_readyz(call);
    case Endpoint::metrics:
      co_return handle_metrics(call);
    case Endpoint::openapi:
      co_return call.json(200, std::string(openapi_json()));
    case Endpoint::get_order:
    case Endpoint::list_orders:
    case Endpoint::get_product:
    case Endpoint::list_products:
    case Endpoint::sales_report:
    case Endpoint::low_stock_report:
    case Endpoint::get_wallet:
    case Endpoint::wallet_entries:
    case Endpoint::get_escrow:
    case Endpoint::get_payment:
    case Endpoint::get_payout:
    case Endpoint::ledger_balances:
      co_return co_await handle_query(call);
    case Endpoint::events:
    case Endpoint::audit_verify: {
      if (authorize(*rule, call.who, {}) != Verdict::allow)
        co_return fail({403, "forbidden", "this role may not read the event history", {}, {}});
      if (rule->endpoint == Endpoint::events) co_return co_await handle_events(call);
      co_return co_await handle_audit_verify(call);
    }
    case Endpoint::stream_events: {
      if (authorize(*rule, call.who, {}) != Verdict::allow)
        co_return fail({403, "forbidden", "this role may not read the event history", {}, {}});
      co_return co_await handle_stream_events(call);
    }
    case Endpoint::admin_parked:
    case Endpoint::admin_parked_retry:
    case Endpoint::admin_parked_dismiss:
      co_return co_await handle_parked(call);
    case Endpoint::subscribe:
      co_return handle_subscribe(call, client);
    case Endpoint::payment_webhook:
      // No token: the provider proves itself with the HMAC over the raw body instead. A
      // request that fails to is limited by address like a caller without a valid token (so
      // guessing signatures is throttled); the provider's own bursts never are.
      if (auto refused = check_webhook_signature(call)) {
        if (auto limited = throttle(call, "ip:" + client.address)) co_return std::move(*limited);
        co_return std::move(*refused);
      }
      co_return co_await handle_command(call);
    default:
      co_return co_await handle_command(call);
  }
}

Response App::handle_readyz(Call& call) {
  Json::Array parts;
  bool degraded = false;
  bool unwritable = false;
  for (uint32_t p = 0; p < engine_.partition_count(); ++p) {
    auto tail = engine_.log().known_tail(PartitionId{p});  // never waits on the log
    const int64_t last = tail ? tail->last_offset.value() : -1;
    Json::Object part{
        {"partition", Json(int64_t(p))},
        {"last_offset", Json(last)},
        {"queue_depth", Json(int64_t(engine_.processor(PartitionId{p}).queue_depth()))}};
    const auto health = engine_.processor(PartitionId{p}).health();
    // Whether, not why: the reason (a broker address, a file path, a database error) is in
    // the server's log, not in this unauthenticated answer.
    part.emplace("writable", Json(health.writable));
    unwritable = unwritable || !health.writable;
    if (read_.runner) {
      const int64_t pos = read_.runner->position(p);
      part.emplace("views_position", Json(pos));
      part.emplace("views_lag_events", Json(last - pos));
    }
    parts.push_back(Json(std::move(part)));
  }
  Json::Object body{{"partitions", Json(std::move(parts))}};
  if (read_.runner) {
    degraded = !read_.runner->healthy();
    body.emplace("views", Json(degraded ? "degraded" : "ok"));  // why: the projector's log
  } else {
    body.emplace("views", Json("not_configured"));
  }
  // Commands are accepted while the views are degraded, so the server stays ready (200). A
  // partition that cannot write (log unreachable, fenced by another writer) makes it not ready.
  body.emplace("status", Json(unwritable ? "unavailable" : degraded ? "degraded" : "ready"));
  Response res = call.json(unwritable ? 503 : 200, to_canonical(Json(std::move(body))));
  // The same readiness report either way, not a problem document: said as plain JSON.
  res.set(http::field::content_type, "application/json");
  return res;
}

asio::awaitable<Response> App::handle_command(Call& call) {
  Request& req = call.req;
  std::string_view ctype = req[http::field::content_type];
  // No Content-Type is taken as JSON (a body-less command like a cancel needs none).
  if (!ctype.empty() && !is_json_media_type(ctype))
    co_return call.problem({415, "unsupported_media_type", "send application/json", {}, {}});

  // Decode and gather what the access rule needs to know about the resource.
  Submission s;
  ResourceFacts facts;
  std::function<Rendered(const Outcome&)> render;
  std::optional<FieldError> invalid;
  auto take = [&](auto decoded) {
    if (auto* e = std::get_if<FieldError>(&decoded)) {
      invalid = *e;
      return;
    }
    s.command = std::move(std::get<0>(decoded));
  };
  const std::string& body = req.body();
  // `?wait` means the same on every command: true or false, nothing else (on a command
  // without a flow to wait for, true answers as false does).
  if (auto w = call.query.get("wait"); w && *w != "true" && *w != "false")
    invalid = FieldError{"wait", "wait must be true or false"};
  MoneyDecode money{s, facts, render, invalid, {}, {}};
  switch (call.rule.endpoint) {
    case Endpoint::create_product:
      take(decode_define_product(body));
      if (!invalid) facts.body_seller_id = std::get<DefineProduct>(s.command).seller_id.value();
      render = render_product_defined;
      break;
    case Endpoint::adjust_stock:
      take(decode_adjust_stock(body, call.params.at(0)));
      if (!invalid)
        if (auto seller = engine_.router().seller_of(std::get<AdjustStock>(s.command).sku))
          facts.sku_seller_id = seller->value();
      render = render_stock_adjusted;
      break;
    case Endpoint::place_order:
      take(decode_place_order(body, ids_.next("o-")));
      if (!invalid) facts.body_customer_id = std::get<PlaceOrder>(s.command).customer_id.value();
      render = render_order_placed;
      break;
    default:
      if (!decode_money_command(call, money))
        co_return call.problem({404, "not_found", "no such resource", {}, {}});
  }

  // Access first, so a caller learns nothing about resources it may not touch.
  Verdict verdict = authorize(call.rule, call.who, facts);
  if (verdict == Verdict::forbidden && !invalid)
    co_return deny(
        call, DenyReason::forbidden,
        {403,
         "forbidden",
         fmt::format("role {} as {} may not do this", to_string(call.who.role), call.who.sub),
         {},
         {}});
  if (verdict == Verdict::not_found && !invalid) {
    // Not found may mean not known yet: a write that would have created it failed with its
    // outcome unknown, and its partition has not read the log back. Retry, do not give up.
    if (!call.params.empty() && engine_.router().is_in_doubt(call.params.at(0))) {
      Response unknown = call.problem({503,
                                       "storage_unavailable",
                                       "whether this exists is not known until a failed write is "
                                       "resolved; retry shortly",
                                       {},
                                       config_.retry_after_s});
      name_log_end(unknown);
      co_return unknown;
    }
    // Someone else's resource is counted as a denial; a missing one is just missing.
    if (facts.sku_seller_id || facts.order_customer_id || facts.path_owner)
      co_return deny(call, DenyReason::not_found_ownership,
                     {404, "not_found", "no such resource", {}, {}});
    co_return call.problem({404, "not_found", "no such resource", {}, {}});
  }
  if ((call.rule.roles & role_bit(call.who.role)) == 0)
    co_return call.problem({403, "forbidden", "this role may not do this", {}, {}});
  if (invalid)
    co_return call.problem({400,
                            "validation_failed",
                            invalid->detail,
                            invalid->field.empty() ? std::optional<std::string>{} : invalid->field,
                            {}});

  // Idempotency-Key: replay, conflict, or claim the key for this request. A claimed key leaves
  // the in-flight set when its last holder lets go: this handler (however it ends, through a
  // `?wait=true` wait and the settling of the key's record with the flow's end) and the
  // command's completion. A retry meanwhile gets 409, not the command's own answer; a command
  // that outlives its handler (timed out) keeps the key until it completes. It may be let go
  // on a partition thread or the settle lane: the App outlives both (the engine drains its
  // queues and the lanes are joined before the App is destroyed).
  struct InflightKey {
    InflightKey(App& a, std::string k) : app(a), key(std::move(k)) {}
    InflightKey(const InflightKey&) = delete;  // one owner erases the key, once
    InflightKey& operator=(const InflightKey&) = delete;
    App& app;
    std::string key;
    ~InflightKey() {
      std::lock_guard lock(app.inflight_mu_);
      app.inflight_.erase(key);
    }
  };
  std::shared_ptr<InflightKey> key_hold;
  std::string_view idem_key = req["Idempotency-Key"];
  std::string scoped_key;
  // An empty or repeated key is refused, not ignored: the client counts on it to retry safely.
  if (req.count("Idempotency-Key") > 1 ||
      (idem_key.empty() && req.find("Idempotency-Key") != req.end()))
    co_return call.problem({400,
                            "validation_failed",
                            "send one Idempotency-Key of 1 to 255 bytes",
                            "Idempotency-Key",
                            {}});
  if (!idem_key.empty()) {
    if (idem_key.size() > kMaxIdempotencyKeyBytes)
      co_return call.problem({400,
                              "validation_failed",
                              "Idempotency-Key is at most 255 bytes",
                              "Idempotency-Key",
                              {}});
    scoped_key = call.who.sub + '\x1f' + std::string(idem_key);
    // What makes two requests the same: method, target, body and, when sent, If-Match (the
    // same body against another version is another request). Without If-Match the text is
    // what it always was, so records written before stay comparable.
    std::string_view if_match = req[http::field::if_match];
    if (if_match == "*") if_match = {};  // no version asked for, as without the header
    std::string fingerprint = sha256_hex(
        if_match.empty()
            ? fmt::format("{} {}\n{}", std::string_view(req.method_string()),
                          std::string_view(req.target()), body)
            : fmt::format("{} {}\nIf-Match: {}\n{}", std::string_view(req.method_string()),
                          std::string_view(req.target()), if_match, body));
    {
      std::lock_guard lock(inflight_mu_);
      if (!inflight_.insert(scoped_key).second)
        co_return call.problem({409,
                                "idempotency_in_flight",
                                "a request with this Idempotency-Key is still being processed",
                                {},
                                1});
    }
    key_hold = std::make_shared<InflightKey>(*this, scoped_key);
    auto record = engine_.store().get_idempotency(scoped_key);
    if (!record) {
      Response failed =
          call.problem({503, "storage_unavailable", "idempotency records cannot be read", {}, 1});
      name_log_end(failed);  // nothing written
      co_return failed;
    }
    const auto& r = record.value();
    if (r && idempotency_record_honoured(r->created_at, engine_.idempotency_retention_ms(),
                                         clock_.now())) {
      if (r->fingerprint != fingerprint)
        co_return call.problem({422,
                                "idempotency_key_reused",
                                "this Idempotency-Key was used with another request",
                                "Idempotency-Key",
                                {}});
      Response res = json_response(r->status, r->body, req.version(), call.keep_alive);
      res.set("Ordo-Position", r->position);
      res.set("Idempotent-Replayed", "true");
      co_return res;
    }
    s.idempotency = IdempotencyClaim{scoped_key, std::move(fingerprint)};
  }

  s.meta.command_id = ids_.next("cmd-");
  std::string_view corr = req["Ordo-Correlation-Id"];
  s.meta.correlation_id = is_valid_id(corr) ? std::string(corr) : s.meta.command_id;
  s.meta.causation_id = s.meta.command_id;
  s.meta.actor =
      money.actor ? *money.actor : Actor{call.who.sub, std::string(to_string(call.who.role))};
  s.meta.vip = call.who.vip();
  s.render = render;

  // Completed on the partition thread, awaited here.
  auto waiter =
      ResultWaiter<Completion>::make(co_await asio::this_coro::executor, config_.command_timeout);
  s.done = [waiter, key_hold](Completion&& c) mutable {
    key_hold.reset();  // the command's hold, let go now rather than when the submission dies
    waiter->deliver(std::move(c));
  };

  // `?wait=true`: watch the flow before the command runs, so its end cannot be missed.
  std::shared_ptr<FlowWaiter> flow_waiter;
  uint64_t watch_token = 0;
  if (!money.wait_key.empty()) {
    flow_waiter = FlowWaiter::make(co_await asio::this_coro::executor, config_.flow_wait_timeout);
    track_flow_waiter(flow_waiter);
    std::function<void(const FlowOutcome&)> on_end = [flow_waiter](const FlowOutcome& o) {
      flow_waiter->deliver(o);
    };
    watch_token = flows_->watch(money.wait_key, on_end);
  }
  struct Unwatch {
    FlowManager* flows;
    uint64_t token;
    ~Unwatch() {
      if (flows && token) flows->unwatch(token);
    }
  } unwatch{flows_, watch_token};

  SubmitResult submitted = engine_.submit(std::move(s));
  if (submitted == SubmitResult::overloaded) {
    Response busy = call.problem({503,
                                  "overloaded",
                                  "the partition queue is full; retry shortly",
                                  {},
                                  config_.retry_after_s});
    name_log_end(busy);  // nothing written
    co_return busy;
  }
  std::optional<Completion> done = co_await waiter->wait();
  if (!done)
    co_return call.problem(
        {503,
         "outcome_unknown",
         "the command did not finish in time; retry with the same Idempotency-Key",
         {},
         config_.retry_after_s});
  if (!done->durable) {
    Response failed = call.problem({503,
                                    "storage_unavailable",
                                    "the command could not be completed; retry with the same "
                                    "Idempotency-Key, which runs it at most once",
                                    {},
                                    config_.retry_after_s});
    failed.set("Ordo-Position", done->position.to_string());
    co_return failed;
  }
  Response res =
      json_response(done->rendered.status, done->rendered.body, req.version(), call.keep_alive);
  res.set("Ordo-Position", done->position.to_string());
  if (flow_waiter) {
    unwatch.token = 0;  // finish_flow unwatches
    FlowAnswer end = co_await finish_flow(call, std::move(res), *done, watch_token, flow_waiter);
    if (end.flow_ended && !scoped_key.empty())
      co_await settle_idempotency(scoped_key, end.response, key_hold);
    co_return std::move(end.response);
  }
  co_return res;
}

}  // namespace ordo::api

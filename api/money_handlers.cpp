// The lifecycle and money endpoints: decoding and facts for the access table, `?wait=true`
// on a flow, the webhook's signature, the parked flow steps. Business rules stay in the
// domain; this file only translates.
#include <fmt/core.h>

#include <cstdio>

#include <utility>  // before Asio: std::exchange in its coroutine code

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/call.hpp"
#include "api/flow_waiter.hpp"
#include "api/money_codec.hpp"
#include "api/money_decode.hpp"
#include "api/money_render.hpp"
#include "api/webhook_signature.hpp"
#include "engine/log/json.hpp"
#include "engine/runtime/flow_manager.hpp"

namespace ordo::api {
namespace {

// ?wait=true; handle_command has already refused any value but true or false.
bool wants_wait(const Query& q) { return q.get("wait") == "true"; }

// If-Match: "<stream_version>" → the expected version, or a field error. `*` (RFC 9110
// §13.1.1: any current representation) checks no version; a missing order is 404 anyway.
std::optional<int64_t> if_match(const Request& req, std::optional<FieldError>& invalid) {
  std::string_view v = req[http::field::if_match];
  if (v.empty() || v == "*") return std::nullopt;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  auto n = parse_int(v);
  if (!n || *n < 1) {
    if (!invalid) invalid = FieldError{"If-Match", "If-Match must be a stream version like \"3\""};
    return std::nullopt;
  }
  return *n;
}

}  // namespace

bool App::decode_money_command(Call& call, MoneyDecode& d) {
  const std::string& body = call.req.body();
  auto take = [&](auto decoded) -> bool {
    if (auto* e = std::get_if<FieldError>(&decoded)) {
      d.invalid = *e;
      return false;
    }
    d.s.command = std::move(std::get<0>(decoded));
    return true;
  };
  // Facts about the order in the path, for order_customer / order_seller.
  auto order_facts = [&](const std::string& id) {
    if (!is_valid_id(id)) return;
    if (auto o = engine_.router().order(OrderId{id})) {
      d.facts.order_customer_id = o->customer_id.value();
      d.facts.order_seller_id = o->seller_id.value();
    }
  };
  const bool wait = wants_wait(call.query) && flows_ != nullptr;
  d.render = render_order_transition;
  switch (call.rule.endpoint) {
    case Endpoint::pay_order:
      order_facts(call.params.at(0));
      if (take(decode_pay_order(body, call.params.at(0), ids_.next("pay-")))) {
        auto& c = std::get<PayOrder>(d.s.command);
        c.expected_version = if_match(call.req, d.invalid);
        if (wait) d.wait_key = "payment:" + c.payment_id.value();
      }
      return true;
    case Endpoint::cancel_order:
      order_facts(call.params.at(0));
      if (take(decode_cancel_order(body, call.params.at(0)))) {
        std::get<CancelOrder>(d.s.command).expected_version = if_match(call.req, d.invalid);
        if (wait) d.wait_key = "escrow:" + call.params.at(0);  // a paid order's refund
      }
      return true;
    case Endpoint::ship_order:
      order_facts(call.params.at(0));
      if (take(decode_ship_order(body, call.params.at(0))))
        std::get<ShipOrder>(d.s.command).expected_version = if_match(call.req, d.invalid);
      return true;
    case Endpoint::deliver_order:
      order_facts(call.params.at(0));
      if (take(decode_deliver_order(body, call.params.at(0))))
        std::get<DeliverOrder>(d.s.command).expected_version = if_match(call.req, d.invalid);
      return true;
    case Endpoint::confirm_order:
      order_facts(call.params.at(0));
      if (take(decode_confirm_order(body, call.params.at(0)))) {
        std::get<ConfirmOrder>(d.s.command).expected_version = if_match(call.req, d.invalid);
        if (wait) d.wait_key = "escrow:" + call.params.at(0);
      }
      return true;
    case Endpoint::dispute_order:
      order_facts(call.params.at(0));
      if (take(decode_dispute_order(body, call.params.at(0))))
        std::get<DisputeOrder>(d.s.command).expected_version = if_match(call.req, d.invalid);
      return true;
    case Endpoint::escrow_release:
    case Endpoint::escrow_refund:
      if (take(decode_resolve_dispute(body, call.params.at(0),
                                      call.rule.endpoint == Endpoint::escrow_release))) {
        std::get<ResolveDispute>(d.s.command).expected_version = if_match(call.req, d.invalid);
        if (wait) d.wait_key = "escrow:" + call.params.at(0);
      }
      return true;
    case Endpoint::deposit:
      take(decode_deposit(body, call.params.at(0)));
      d.render = render_deposit;
      return true;
    case Endpoint::request_payout:
      d.facts.path_owner = call.params.at(0);
      take(decode_request_payout(body, call.params.at(0), ids_.next("po-")));
      d.render = render_payout;
      return true;
    case Endpoint::complete_payout:
      take(decode_complete_payout(body, call.params.at(0)));
      d.render = render_payout;
      return true;
    case Endpoint::reject_payout:
      take(decode_reject_payout(body, call.params.at(0)));
      d.render = render_payout;
      return true;
    case Endpoint::payment_webhook:
      if (take(decode_provider_event(body))) {
        std::string event_id = std::get<ApplyProviderEvent>(d.s.command).event_id;
        d.render = [event_id](const Outcome& o) { return render_provider_event(o, event_id); };
      }
      d.actor = Actor{"payment-provider", "provider"};
      return true;
    default:
      return false;
  }
}

std::optional<Response> App::check_webhook_signature(Call& call) {
  const int64_t now_s = clock_.now().value() / 1000;
  auto ok = verify_webhook_signature(call.req["Ordo-Signature"], call.req.body(),
                                     config_.webhook_secrets, now_s);
  if (ok) return std::nullopt;
  if (config_.webhook_secrets.empty())
    return call.problem(
        {404, "not_found", "payment webhooks are not configured on this server", {}, {}});
  return deny(call, DenyReason::unauthenticated, {401, "invalid_signature", ok.message(), {}, {}});
}

asio::awaitable<App::FlowAnswer> App::finish_flow(Call& call, Response immediate,
                                                  const Completion& done, uint64_t watch_token,
                                                  std::shared_ptr<FlowWaiter> waiter) {
  // Only an accepted command that started a flow has one to wait for.
  bool started = false;
  if (!done.outcome.rejection)
    for (const auto& e : done.outcome.events)
      started |= std::holds_alternative<OrderPaymentRequested>(e) ||
                 std::holds_alternative<OrderCompleted>(e) ||
                 std::holds_alternative<OrderRefunded>(e);
  if (!started) {
    flows_->unwatch(watch_token);
    co_return FlowAnswer{std::move(immediate), false};
  }
  std::optional<FlowOutcome> out = co_await waiter->wait();
  flows_->unwatch(watch_token);
  if (!out) {
    // Still running: the answer is the command's own (202 for a payment), flow pending.
    immediate.set("Ordo-Flow", "pending");
    co_return FlowAnswer{std::move(immediate), false};
  }
  auto body = parse_json(done.rendered.body);
  Json::Object o = body && body->is_object() ? body->as_object() : Json::Object{};
  if (out->status == "payment_failed") {
    const std::string code =
        out->detail.starts_with("insufficient_funds") ? "insufficient_funds" : "payment_failed";
    auto res = call.problem({409, code, "the payment failed: " + out->detail, {}, {}});
    res.set("Ordo-Position", out->position.to_string());
    co_return FlowAnswer{std::move(res), true};
  }
  if (out->status == "paid") o["status"] = Json("paid");
  if (out->status == "released" || out->status == "refunded") o["escrow"] = Json(out->status);
  auto res = call.json(200, to_canonical(Json(std::move(o))));
  res.set("Ordo-Position", out->position.to_string());
  co_return FlowAnswer{std::move(res), true};
}

asio::awaitable<void> App::settle_idempotency(const std::string& key, const Response& res,
                                              std::shared_ptr<const void> key_hold) {
  // The work holds the key in flight until it has run: if this wait times out, a retry
  // still gets 409 rather than the record before it was settled.
  std::function<Status()> work = [this, key, status = res.result_int(), body = res.body(),
                                  position = std::string(res["Ordo-Position"]),
                                  key_hold = std::move(key_hold)]() mutable {
    return engine_.store().settle_idempotency(key, int(status), std::move(body),
                                              std::move(position));
  };
  QueryOutcome outcome;
  auto settled = co_await offload<Status>(settle_lane_, std::move(work), outcome);
  // The client still gets the flow's end; only a retry would see the command's own answer
  // (202 for a payment), as before this record was settled.
  if (!settled || !*settled)
    std::fprintf(stderr, "ordo: idempotency record not settled with the flow's end: %s\n",
                 outcome.refused ? "too much blocking work queued"
                 : !settled      ? (outcome.error ? "the write threw" : "timed out")
                                 : settled->message().c_str());
}

namespace {

constexpr size_t kMaxDamagedParkedIdBytes = 1024;

// A parked step's id as listed: as it is when it is an id (all the manager writes), else
// (a damaged record's key) with every other byte as %XX, so the list stays valid JSON and
// the listed text, put in the DELETE path as it is, decodes back to the key. "." and ".."
// are escaped too: clients remove such path segments before sending.
std::string listed_parked_id(const std::string& id) {
  const bool dots = id == "." || id == "..";
  if (is_valid_id(id) && !dots) return id;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if (is_id_char(static_cast<char>(c)) && !(dots && c == '.')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace

asio::awaitable<Response> App::handle_parked(Call& call) {
  if (!flows_)
    co_return call.problem(
        {503, "flows_unavailable", "the process managers are not running", {}, 1});
  if (call.rule.endpoint == Endpoint::admin_parked) {
    auto list = flows_->parked(1000);
    if (!list)
      co_return call.problem({503, "storage_unavailable", "parked steps cannot be read", {}, 1});
    Json::Array steps;
    for (const auto& p : list.value())
      steps.push_back(Json(Json::Object{{"id", Json(listed_parked_id(p.id))},
                                        {"partition", Json(int64_t(p.partition.value()))},
                                        {"offset", Json(p.offset.value())},
                                        {"event_type", Json(p.event_type)},
                                        {"stream", Json(p.stream)},
                                        {"command", Json(p.command)},
                                        {"error", Json(p.error)},
                                        {"attempts", Json(p.attempts)},
                                        {"parked_at_ms", Json(p.parked_at_ms)},
                                        {"transient", Json(p.transient)},
                                        {"readable", Json(!p.unreadable)}}));
    co_return call.json(200, to_canonical(Json(Json::Object{{"parked", Json(std::move(steps))}})));
  }
  const bool dismiss = call.rule.endpoint == Endpoint::admin_parked_dismiss;
  const std::string id = call.params.at(0);
  // The manager parks steps under ids of 1..64 characters; a damaged record's key may be
  // longer and can still be dismissed, up to 1,024 bytes, as far as its listed (escaped)
  // form fits in a request target (AppConfig::max_target_bytes).
  if (id.size() > (dismiss ? kMaxDamagedParkedIdBytes : 64))
    co_return call.problem({404, "not_found", "no such parked step", {}, {}});
  auto w = ResultWaiter<RetryOutcome>::make(co_await asio::this_coro::executor,
                                            config_.flow_wait_timeout);
  auto deliver = [w](const RetryOutcome& outcome) { w->deliver(outcome); };
  if (dismiss)
    flows_->dismiss_parked(id, call.who.sub, std::move(deliver));
  else
    flows_->retry_parked(id, std::move(deliver));
  std::optional<RetryOutcome> r = co_await w->wait();
  if (!r)
    co_return dismiss
        ? call.problem({503,
                        "dismissal_pending",
                        "the dismissal did not finish in time; it may still happen",
                        {},
                        1})
        : call.problem({503, "retry_pending", "the retry did not finish in time", {}, 1});
  switch (r->kind) {
    case RetryOutcome::Kind::done:
      break;
    case RetryOutcome::Kind::not_found:
      co_return call.problem({404, "not_found", "no such parked step", {}, {}});
    case RetryOutcome::Kind::still_parked:
      co_return call.problem({409, "still_failing", r->message, {}, {}});
    case RetryOutcome::Kind::unavailable:
      // Too many retries queued, or the store or the log unreachable: not the step's fault.
      co_return call.problem(
          {503, dismiss ? "dismissal_unavailable" : "retry_unavailable", r->message, {}, 1});
  }
  co_return call.json(
      200, to_canonical(Json(Json::Object{{"id", Json(listed_parked_id(id))},
                                          {"status", Json(dismiss ? "dismissed" : "done")}})));
}

}  // namespace ordo::api

#include "api/money_render.hpp"

#include "api/render.hpp"
#include "engine/log/json.hpp"

namespace ordo::api {

Rendered render_order_transition(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  Json::Object body;
  int status = 200;
  for (const auto& e : o.events) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          auto set = [&](std::string_view s) {
            if constexpr (requires { x.order_id; }) body["order_id"] = Json(x.order_id.value());
            body["status"] = Json(s);
          };
          if constexpr (std::is_same_v<T, OrderPaymentRequested>) {
            set("payment_pending");
            body["payment_id"] = Json(x.payment_id.value());
            body["method"] = Json(to_string(x.method));
            body["amount_minor"] = Json(x.amount_minor.value());
            body["currency"] = Json(x.currency.value());
            status = 202;
          } else if constexpr (std::is_same_v<T, OrderShipped>) {
            set("shipped");
          } else if constexpr (std::is_same_v<T, OrderDelivered>) {
            set("delivered");
            body["release_at_ms"] = Json(x.release_at.value());
          } else if constexpr (std::is_same_v<T, OrderCompleted>) {
            set("completed");
            body["escrow"] = Json("releasing");
          } else if constexpr (std::is_same_v<T, OrderDisputed>) {
            set("disputed");
          } else if constexpr (std::is_same_v<T, OrderRefunded>) {
            set("cancelled");
            body["escrow"] = Json("refunding");
            body["refund_minor"] = Json(x.amount_minor.value());
          } else if constexpr (std::is_same_v<T, OrderCancelled> ||
                               std::is_same_v<T, OrderExpired>) {
            set(std::is_same_v<T, OrderCancelled> ? "cancelled" : "expired");
          }
        },
        e);
  }
  return {status, to_canonical(Json(std::move(body)))};
}

Rendered render_deposit(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  const auto& e = std::get<WalletDeposited>(o.events.at(0));
  return {201, to_canonical(Json(Json::Object{{"owner", Json(e.owner.value())},
                                              {"currency", Json(e.currency.value())},
                                              {"amount_minor", Json(e.amount_minor.value())},
                                              {"reference", Json(e.reference)}}))};
}

Rendered render_payout(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  return std::visit(
      [](const auto& x) -> Rendered {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, PayoutRequested>)
          return {201,
                  to_canonical(Json(Json::Object{{"payout_id", Json(x.payout_id.value())},
                                                 {"owner", Json(x.owner.value())},
                                                 {"currency", Json(x.currency.value())},
                                                 {"amount_minor", Json(x.amount_minor.value())},
                                                 {"destination", Json(x.destination)},
                                                 {"status", Json("requested")}}))};
        else if constexpr (std::is_same_v<T, PayoutCompleted> || std::is_same_v<T, PayoutRejected>)
          return {200, to_canonical(Json(Json::Object{
                           {"payout_id", Json(x.payout_id.value())},
                           {"status", Json(std::is_same_v<T, PayoutCompleted> ? "completed"
                                                                              : "rejected")}}))};
        else
          return {500, "{}"};
      },
      o.events.at(0));
}

Rendered render_provider_event(const Outcome& o, const std::string& event_id) {
  if (o.rejection) return render_rejection(*o.rejection);
  return {200, to_canonical(Json(
                   Json::Object{{"event_id", Json(event_id)},
                                {"status", Json(o.events.empty() ? "duplicate" : "applied")}}))};
}

}  // namespace ordo::api

#include "api/money_codec.hpp"

#include "api/json_fields.hpp"

namespace ordo::api {
namespace {

// An optional body: empty or a JSON object with only `allowed` fields. Calls `read` with
// the fields reader (over an empty object when there is no body).
template <typename Read>
std::optional<FieldError> with_body(std::string_view body,
                                    std::initializer_list<std::string_view> allowed, bool required,
                                    Read&& read) {
  static const Json kEmpty{Json::Object{}};
  std::variant<Json, FieldError> parsed = kEmpty;
  if (!body.empty() || required) parsed = parse_object(body);
  if (auto* e = std::get_if<FieldError>(&parsed)) return *e;
  Fields f(std::get<Json>(parsed), "");
  f.only(allowed);
  read(f);
  return f.error();
}

std::optional<FieldError> path_id(std::string_view v, std::string_view name) {
  if (is_valid_id(v)) return std::nullopt;
  return FieldError{std::string(name),
                    fmt::format("{} in the path must match [A-Za-z0-9._:-]{{1,64}}", name)};
}

template <typename C>
Decoded<C> order_only(std::string_view body, std::string_view order_id) {
  if (auto e = path_id(order_id, "id")) return *e;
  if (auto e = with_body(body, {}, false, [](Fields&) {})) return *e;
  return C{OrderId{std::string(order_id)}, std::nullopt};
}

}  // namespace

Decoded<PayOrder> decode_pay_order(std::string_view body, std::string_view order_id,
                                   std::string_view generated_id) {
  if (auto e = path_id(order_id, "id")) return *e;
  PayOrder cmd{OrderId{std::string(order_id)}, PaymentId{std::string(generated_id)},
               PaymentMethod::wallet, std::nullopt};
  if (auto e = with_body(body, {"method", "payment_id"}, true, [&](Fields& f) {
        auto method = f.string("method", 16);
        auto id = f.id("payment_id", false);
        if (method && !parse_payment_method(*method, cmd.method))
          f.fail("method", "must be \"wallet\" or \"card\"");
        // /v1/payments/webhook is the webhook: a payment of that name could not be read.
        if (id && *id == "webhook") f.fail("payment_id", "\"webhook\" is reserved");
        if (id) cmd.payment_id = PaymentId{*id};
      }))
    return *e;
  return cmd;
}

Decoded<ShipOrder> decode_ship_order(std::string_view body, std::string_view id) {
  return order_only<ShipOrder>(body, id);
}
Decoded<DeliverOrder> decode_deliver_order(std::string_view body, std::string_view id) {
  return order_only<DeliverOrder>(body, id);
}
Decoded<ConfirmOrder> decode_confirm_order(std::string_view body, std::string_view id) {
  return order_only<ConfirmOrder>(body, id);
}

Decoded<DisputeOrder> decode_dispute_order(std::string_view body, std::string_view order_id) {
  if (auto e = path_id(order_id, "id")) return *e;
  DisputeOrder cmd{OrderId{std::string(order_id)}, "", std::nullopt};
  if (auto e = with_body(body, {"reason"}, false, [&](Fields& f) {
        cmd.reason = f.string("reason", kMaxReasonLength, false).value_or("");
      }))
    return *e;
  return cmd;
}

Decoded<ResolveDispute> decode_resolve_dispute(std::string_view body, std::string_view order_id,
                                               bool release) {
  if (auto e = path_id(order_id, "order_id")) return *e;
  ResolveDispute cmd{OrderId{std::string(order_id)}, release, "", std::nullopt};
  if (auto e = with_body(body, {"reason"}, false, [&](Fields& f) {
        cmd.reason = f.string("reason", kMaxReasonLength, false).value_or("");
      }))
    return *e;
  return cmd;
}

Decoded<DepositToWallet> decode_deposit(std::string_view body, std::string_view owner) {
  if (auto e = path_id(owner, "owner")) return *e;
  DepositToWallet cmd{OwnerId{std::string(owner)}, Currency{}, AmountMinor{0}, ""};
  if (auto e = with_body(body, {"amount_minor", "currency", "reference"}, true, [&](Fields& f) {
        auto amount = f.integer("amount_minor", 1, kMaxAmountMinor);
        auto currency = f.string("currency", 3);
        auto reference = f.string("reference", kMaxReasonLength, false);
        if (currency && !is_valid_currency(*currency))
          f.fail("currency", "must be an ISO 4217 code like EUR");
        if (amount) cmd.amount_minor = AmountMinor{*amount};
        if (currency) cmd.currency = Currency{*currency};
        cmd.reference = reference.value_or("");
      }))
    return *e;
  return cmd;
}

Decoded<RequestPayout> decode_request_payout(std::string_view body, std::string_view owner,
                                             std::string_view generated_id) {
  if (auto e = path_id(owner, "owner")) return *e;
  RequestPayout cmd{PayoutId{std::string(generated_id)}, OwnerId{std::string(owner)},
                    Currency{"USD"}, AmountMinor{0}, ""};
  if (auto e = with_body(body, {"payout_id", "amount_minor", "currency", "destination"}, true,
                         [&](Fields& f) {
                           auto id = f.id("payout_id", false);
                           auto amount = f.integer("amount_minor", 1, kMaxAmountMinor);
                           auto currency = f.string("currency", 3, false);
                           auto destination = f.string("destination", kMaxReasonLength);
                           if (currency && !is_valid_currency(*currency))
                             f.fail("currency", "must be an ISO 4217 code like EUR");
                           if (destination && destination->empty())
                             f.fail("destination", "must not be empty");
                           if (id) cmd.payout_id = PayoutId{*id};
                           if (amount) cmd.amount_minor = AmountMinor{*amount};
                           if (currency) cmd.currency = Currency{*currency};
                           if (destination) cmd.destination = *destination;
                         }))
    return *e;
  return cmd;
}

Decoded<CompletePayout> decode_complete_payout(std::string_view body, std::string_view payout_id) {
  if (auto e = path_id(payout_id, "id")) return *e;
  if (auto e = with_body(body, {}, false, [](Fields&) {})) return *e;
  return CompletePayout{PayoutId{std::string(payout_id)}};
}

Decoded<RejectPayout> decode_reject_payout(std::string_view body, std::string_view payout_id) {
  if (auto e = path_id(payout_id, "id")) return *e;
  RejectPayout cmd{PayoutId{std::string(payout_id)}, ""};
  if (auto e = with_body(body, {"reason"}, false, [&](Fields& f) {
        cmd.reason = f.string("reason", kMaxReasonLength, false).value_or("");
      }))
    return *e;
  return cmd;
}

Decoded<ApplyProviderEvent> decode_provider_event(std::string_view body) {
  ApplyProviderEvent cmd{"", PaymentId{}, ProviderEventKind::captured, AmountMinor{0}};
  if (auto e =
          with_body(body, {"event_id", "payment_id", "type", "amount_minor"}, true, [&](Fields& f) {
            auto event_id = f.id("event_id");
            auto payment_id = f.id("payment_id");
            auto type = f.string("type", 16);
            auto amount = f.integer("amount_minor", 0, kMaxAmountMinor);
            if (type && !parse_provider_event_kind(*type, cmd.kind))
              f.fail("type", "must be \"captured\", \"failed\" or \"refunded\"");
            if (event_id) cmd.event_id = *event_id;
            if (payment_id) cmd.payment_id = PaymentId{*payment_id};
            if (amount) cmd.amount_minor = AmountMinor{*amount};
          }))
    return *e;
  return cmd;
}

}  // namespace ordo::api

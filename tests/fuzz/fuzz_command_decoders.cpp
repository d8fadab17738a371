// libFuzzer target: every command decoder of the API on arbitrary bytes. The decoders must
// never crash, and whatever they accept must be a command the domain may safely receive
// (ids, lengths and ranges as api/command_codec.hpp promises): a violation traps.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "api/command_codec.hpp"
#include "api/money_codec.hpp"
#include "api/webhook_signature.hpp"

using namespace ordo;
using namespace ordo::api;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check(const DefineProduct& c) {
  require(is_valid_id(c.sku.value()) && is_valid_id(c.seller_id.value()));
  require(!c.name.empty() && c.name.size() <= kMaxNameLength);
  require(c.price_minor.value() >= 0 && c.price_minor.value() <= kMaxPriceMinor);
  require(c.stock.value() >= 0 && c.stock.value() <= kMaxStock);
  require(is_valid_currency(c.currency.value()));
}
void check(const AdjustStock& c) {
  require(is_valid_id(c.sku.value()) && c.reason.size() <= kMaxReasonLength);
  require(c.delta.value() != 0 && c.delta.value() >= -kMaxStock && c.delta.value() <= kMaxStock);
}
void check(const PlaceOrder& c) {
  require(is_valid_id(c.order_id.value()) && is_valid_id(c.customer_id.value()));
  require(!c.lines.empty() && c.lines.size() <= kMaxOrderLines);
  for (const auto& l : c.lines)
    require(is_valid_id(l.sku.value()) && l.qty.value() >= 1 && l.qty.value() <= kMaxLineQty);
}
void check(const CancelOrder& c) {
  require(is_valid_id(c.order_id.value()) && c.reason.size() <= kMaxReasonLength);
}

bool ok_text(const std::string& t) { return t.size() <= kMaxReasonLength; }
bool ok_amount(AmountMinor a, int64_t min) {
  return a.value() >= min && a.value() <= kMaxAmountMinor;
}
void check(const PayOrder& c) {
  require(is_valid_id(c.order_id.value()) && is_valid_id(c.payment_id.value()));
}
void check(const ShipOrder& c) { require(is_valid_id(c.order_id.value())); }
void check(const DeliverOrder& c) { require(is_valid_id(c.order_id.value())); }
void check(const ConfirmOrder& c) { require(is_valid_id(c.order_id.value())); }
void check(const DisputeOrder& c) { require(is_valid_id(c.order_id.value()) && ok_text(c.reason)); }
void check(const ResolveDispute& c) {
  require(is_valid_id(c.order_id.value()) && ok_text(c.reason));
}
void check(const DepositToWallet& c) {
  require(is_valid_id(c.owner.value()) && is_valid_currency(c.currency.value()) &&
          ok_amount(c.amount_minor, 1));
  require(ok_text(c.reference));
}
void check(const RequestPayout& c) {
  require(is_valid_id(c.payout_id.value()) && is_valid_id(c.owner.value()) &&
          is_valid_currency(c.currency.value()));
  require(ok_amount(c.amount_minor, 1) && !c.destination.empty() && ok_text(c.destination));
}
void check(const CompletePayout& c) { require(is_valid_id(c.payout_id.value())); }
void check(const RejectPayout& c) {
  require(is_valid_id(c.payout_id.value()) && ok_text(c.reason));
}
void check(const ApplyProviderEvent& c) {
  require(is_valid_id(c.event_id) && is_valid_id(c.payment_id.value()) &&
          ok_amount(c.amount_minor, 0));
}

template <typename T>
void check_decoded(const Decoded<T>& d) {
  if (const T* c = std::get_if<T>(&d))
    check(*c);
  else
    require(!std::get<FieldError>(d).detail.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  check_decoded(decode_define_product(body));
  check_decoded(decode_adjust_stock(body, "sku-1"));
  check_decoded(decode_place_order(body, "o-generated"));
  check_decoded(decode_cancel_order(body, "o-1"));
  // The path parameter is attacker-controlled too: feed the bytes there as well.
  check_decoded(decode_adjust_stock(R"({"delta":1})", body));
  check_decoded(decode_cancel_order("", body));
  // The lifecycle and money decoders, body and path.
  check_decoded(decode_pay_order(body, "o-1", "pay-generated"));
  check_decoded(decode_pay_order(R"({"method":"card"})", body, "pay-generated"));
  check_decoded(decode_ship_order(body, "o-1"));
  check_decoded(decode_deliver_order(body, "o-1"));
  check_decoded(decode_confirm_order("", body));
  check_decoded(decode_dispute_order(body, "o-1"));
  check_decoded(decode_resolve_dispute(body, "o-1", size % 2 == 0));
  check_decoded(decode_deposit(body, "alice"));
  check_decoded(decode_deposit(R"({"amount_minor":5,"currency":"EUR"})", body));
  check_decoded(decode_request_payout(body, "alice", "po-generated"));
  check_decoded(decode_complete_payout(body, "po-1"));
  check_decoded(decode_reject_payout(body, "po-1"));
  check_decoded(decode_provider_event(body));
  // The webhook signature header is attacker-controlled: never crashes, never accepts
  // without the secret's MAC (a forged header for these bytes is all the fuzzer has).
  const std::string secret = "fuzz-secret-0123456789abcdef0123456789";
  require(!verify_webhook_signature(body, "{}", std::span<const std::string>(&secret, 1),
                                    1'700'000'000));
  require(verify_webhook_signature(sign_webhook(secret, 1'700'000'000, body), body,
                                   std::span<const std::string>(&secret, 1), 1'700'000'000)
              .ok());
  return 0;
}

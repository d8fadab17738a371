// libFuzzer target: every command decoder of the API on arbitrary bytes. The decoders must
// never crash, and whatever they accept must be a command the domain may safely receive
// (ids, lengths and ranges as api/command_codec.hpp promises): a violation traps.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "api/command_codec.hpp"

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
  for (const auto& l : c.lines) require(is_valid_id(l.sku.value()) && l.qty.value() >= 1 && l.qty.value() <= kMaxLineQty);
}
void check(const CancelOrder& c) { require(is_valid_id(c.order_id.value()) && c.reason.size() <= kMaxReasonLength); }

template <typename T>
void check_decoded(const Decoded<T>& d) {
  if (const T* c = std::get_if<T>(&d)) check(*c);
  else require(!std::get<FieldError>(d).detail.empty());
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
  return 0;
}

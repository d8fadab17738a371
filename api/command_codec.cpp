#include "api/command_codec.hpp"

#include <fmt/core.h>

#include <initializer_list>
#include <optional>

#include "api/json_fields.hpp"
#include "engine/log/json.hpp"

namespace ordo::api {

Decoded<DefineProduct> decode_define_product(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<FieldError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  Fields f(j, "");
  f.only({"sku", "seller_id", "name", "price_minor", "currency", "stock"});
  auto sku = f.id("sku");
  auto seller = f.id("seller_id");
  auto name = f.string("name", kMaxNameLength);
  auto price = f.integer("price_minor", 0, kMaxPriceMinor);
  auto currency = f.string("currency", 3);
  auto stock = f.integer("stock", 0, kMaxStock);
  if (name && name->empty()) f.fail("name", "must not be empty");
  if (currency && !is_valid_currency(*currency))
    f.fail("currency", "must be an ISO 4217 code like EUR");
  if (f.error()) return *f.error();
  return DefineProduct{Sku{*sku},           SellerId{*seller},   *name,
                       AmountMinor{*price}, Currency{*currency}, Quantity{*stock}};
}

Decoded<AdjustStock> decode_adjust_stock(std::string_view body, std::string_view sku) {
  if (!is_valid_id(sku))
    return FieldError{"sku", "sku in the path must match [A-Za-z0-9._:-]{1,64}"};
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<FieldError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  Fields f(j, "");
  f.only({"delta", "reason"});
  auto delta = f.integer("delta", -kMaxStock, kMaxStock);
  auto reason = f.string("reason", kMaxReasonLength, false);
  if (delta && *delta == 0) f.fail("delta", "must not be zero");
  if (f.error()) return *f.error();
  return AdjustStock{Sku{std::string(sku)}, Quantity{*delta}, reason.value_or("")};
}

Decoded<PlaceOrder> decode_place_order(std::string_view body, std::string_view generated_id) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<FieldError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  Fields f(j, "");
  f.only({"order_id", "customer_id", "lines"});
  auto order_id = f.id("order_id", false);
  auto customer = f.id("customer_id");
  if (f.error()) return *f.error();
  const Json* lines = j.find("lines");
  if (!lines) return FieldError{"lines", "lines is required"};
  if (!lines->is_array()) return FieldError{"lines", "lines must be an array"};
  if (lines->as_array().empty() || lines->as_array().size() > kMaxOrderLines)
    return FieldError{"lines", fmt::format("lines must have 1 to {} entries", kMaxOrderLines)};
  PlaceOrder cmd{OrderId{order_id.value_or(std::string(generated_id))}, CustomerId{*customer}, {}};
  size_t i = 0;
  for (const auto& line : lines->as_array()) {
    std::string prefix = fmt::format("lines[{}].", i++);
    if (!line.is_object())
      return FieldError{prefix.substr(0, prefix.size() - 1), "each line must be an object"};
    Fields lf(line, prefix);
    lf.only({"sku", "qty"});
    auto sku = lf.id("sku");
    auto qty = lf.integer("qty", 1, kMaxLineQty);
    if (lf.error()) return *lf.error();
    for (const auto& prev : cmd.lines)
      if (prev.sku.value() == *sku)
        return FieldError{prefix + "sku",
                          fmt::format("{}sku {} appears in more than one line", prefix, *sku)};
    cmd.lines.push_back(OrderLineRequest{Sku{*sku}, Quantity{*qty}});
  }
  return cmd;
}

Decoded<CancelOrder> decode_cancel_order(std::string_view body, std::string_view order_id) {
  if (!is_valid_id(order_id))
    return FieldError{"id", "order id in the path must match [A-Za-z0-9._:-]{1,64}"};
  CancelOrder cmd{OrderId{std::string(order_id)}, "", std::nullopt};
  if (body.empty()) return cmd;
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<FieldError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  Fields f(j, "");
  f.only({"reason"});
  auto reason = f.string("reason", kMaxReasonLength, false);
  if (f.error()) return *f.error();
  cmd.reason = reason.value_or("");
  return cmd;
}

}  // namespace ordo::api

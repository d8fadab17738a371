#pragma once
// Request bodies → domain commands, validated at the edge: unknown fields, wrong types,
// out-of-range numbers, over-long strings and malformed ids are refused with the offending
// field named, so nothing invalid reaches the domain.
#include <string>
#include <string_view>
#include <variant>

#include "engine/domain/commands.hpp"

namespace ordo::api {

inline constexpr size_t kMaxBodyBytes = 64 * 1024;

struct FieldError {
  std::string field;  // JSON pointer-ish path, e.g. "lines[2].qty"; "" for the whole body
  std::string detail;
};

template <typename T>
using Decoded = std::variant<T, FieldError>;

Decoded<DefineProduct> decode_define_product(std::string_view body);
Decoded<AdjustStock> decode_adjust_stock(std::string_view body, std::string_view sku);
// `generated_id` is used when the body has no order_id.
Decoded<PlaceOrder> decode_place_order(std::string_view body, std::string_view generated_id);
// The body is optional for a cancel: `{}` or `{"reason": "..."}`.
Decoded<CancelOrder> decode_cancel_order(std::string_view body, std::string_view order_id);

}  // namespace ordo::api

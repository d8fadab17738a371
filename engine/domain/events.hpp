#pragma once
// Events: immutable facts. Each belongs to exactly one stream (`product-{sku}`,
// `order-{id}`); payloads are versioned by `schema_version` in the log envelope.
#include <string>
#include <variant>
#include <vector>

#include "engine/domain/types.hpp"

namespace ordo {

struct ProductDefined {
  Sku sku;
  SellerId seller_id;
  std::string name;
  AmountMinor price_minor;
  Currency currency;
  Quantity initial_stock;
};

struct StockAdjusted {
  Sku sku;
  Quantity delta;
  std::string reason;
  Quantity on_hand_after;
};

struct PricedLine {
  Sku sku;
  Quantity qty;
  AmountMinor unit_price_minor;  // snapshot of the catalogue price at placement
};

struct OrderPlaced {
  OrderId order_id;
  CustomerId customer_id;
  SellerId seller_id;
  Currency currency;
  std::vector<PricedLine> lines;
  AmountMinor total_minor;
  TimestampMs expires_at;
  // Schema v2: where the order came from. v1 events predate it and are upcast with "api".
  std::string channel = "api";
};

struct StockReserved {
  Sku sku;
  OrderId order_id;
  Quantity qty;
};

struct StockReleased {
  Sku sku;
  OrderId order_id;
  Quantity qty;
};

struct OrderCancelled {
  OrderId order_id;
  std::string reason;
};

struct OrderExpired {
  OrderId order_id;
};

using Event = std::variant<ProductDefined, StockAdjusted, OrderPlaced, StockReserved,
                           StockReleased, OrderCancelled, OrderExpired>;

// The type name written to the log envelope, e.g. "OrderPlaced".
std::string_view event_type(const Event& e) noexcept;
// The stream the event belongs to, e.g. "order-o123".
std::string event_stream(const Event& e);

inline std::string product_stream(const Sku& sku) { return "product-" + sku.value(); }
inline std::string order_stream(const OrderId& id) { return "order-" + id.value(); }

}  // namespace ordo

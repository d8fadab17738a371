#pragma once
// Commands: what a caller asks for. Already validated for shape at the edge; the domain
// decides whether the current state allows them.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/domain/types.hpp"

namespace ordo {

struct DefineProduct {
  Sku sku;
  SellerId seller_id;
  std::string name;
  AmountMinor price_minor;
  Currency currency;
  Quantity stock;
};

struct AdjustStock {
  Sku sku;
  Quantity delta;  // > 0 restock, < 0 shrink; never 0
  std::string reason;
};

struct OrderLineRequest {
  Sku sku;
  Quantity qty;
};

struct PlaceOrder {
  OrderId order_id;
  CustomerId customer_id;
  std::vector<OrderLineRequest> lines;
  std::string channel = "api";  // recorded on OrderPlaced (schema v2)
};

struct CancelOrder {
  OrderId order_id;
  std::string reason;
  std::optional<int64_t> expected_version;  // If-Match
};

// Issued by the partition's timer, never by a client: replay reads its events, not a clock.
struct ExpireReservation {
  OrderId order_id;
};

using Command = std::variant<DefineProduct, AdjustStock, PlaceOrder, CancelOrder, ExpireReservation>;

std::string_view command_name(const Command& c) noexcept;

// Everything decide needs from the outside world, passed in so decide stays pure.
struct DecideContext {
  TimestampMs now{0};
  DurationMs reservation_ttl{15 * 60 * 1000};
};

}  // namespace ordo

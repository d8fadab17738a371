#pragma once
// The state one partition holds: products of its sellers and the orders placed with them.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/domain/events.hpp"
#include "engine/domain/types.hpp"

namespace ordo {

struct Product {
  Sku sku;
  SellerId seller_id;
  std::string name;
  AmountMinor price_minor;
  Currency currency;
  Quantity on_hand{0};
  Quantity reserved{0};
  int64_t version = 0;  // stream version of `product-{sku}`: events applied so far

  Quantity available() const { return Quantity{on_hand.value() - reserved.value()}; }
};

enum class OrderStatus {
  reserved,
  payment_pending,
  paid,
  shipped,
  delivered,
  completed,
  cancelled,
  expired,
};

std::string_view to_string(OrderStatus s) noexcept;
bool parse_order_status(std::string_view s, OrderStatus& out) noexcept;

struct Order {
  OrderId order_id;
  CustomerId customer_id;
  SellerId seller_id;
  Currency currency;
  std::vector<PricedLine> lines;
  AmountMinor total_minor;
  TimestampMs placed_at;
  TimestampMs expires_at;
  OrderStatus status = OrderStatus::reserved;
  int64_t version = 0;
};

struct PartitionState {
  std::unordered_map<Sku, Product> products;
  std::unordered_map<OrderId, Order> orders;

  const Product* find_product(const Sku& sku) const {
    auto it = products.find(sku);
    return it == products.end() ? nullptr : &it->second;
  }
  const Order* find_order(const OrderId& id) const {
    auto it = orders.find(id);
    return it == orders.end() ? nullptr : &it->second;
  }
};

}  // namespace ordo

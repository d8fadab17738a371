#include <fmt/core.h>

#include "engine/domain/commands.hpp"
#include "engine/domain/events.hpp"
#include "engine/domain/state.hpp"

namespace ordo {
namespace {
template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;
}  // namespace

std::string_view command_name(const Command& c) noexcept {
  return std::visit(overloaded{
                        [](const DefineProduct&) { return std::string_view("DefineProduct"); },
                        [](const AdjustStock&) { return std::string_view("AdjustStock"); },
                        [](const PlaceOrder&) { return std::string_view("PlaceOrder"); },
                        [](const CancelOrder&) { return std::string_view("CancelOrder"); },
                        [](const ExpireReservation&) {
                          return std::string_view("ExpireReservation");
                        },
                    },
                    c);
}

std::string_view event_type(const Event& e) noexcept {
  return std::visit(overloaded{
                        [](const ProductDefined&) { return std::string_view("ProductDefined"); },
                        [](const StockAdjusted&) { return std::string_view("StockAdjusted"); },
                        [](const OrderPlaced&) { return std::string_view("OrderPlaced"); },
                        [](const StockReserved&) { return std::string_view("StockReserved"); },
                        [](const StockReleased&) { return std::string_view("StockReleased"); },
                        [](const OrderCancelled&) { return std::string_view("OrderCancelled"); },
                        [](const OrderExpired&) { return std::string_view("OrderExpired"); },
                    },
                    e);
}

std::string event_stream(const Event& e) {
  return std::visit(overloaded{
                        [](const ProductDefined& x) { return product_stream(x.sku); },
                        [](const StockAdjusted& x) { return product_stream(x.sku); },
                        [](const StockReserved& x) { return product_stream(x.sku); },
                        [](const StockReleased& x) { return product_stream(x.sku); },
                        [](const OrderPlaced& x) { return order_stream(x.order_id); },
                        [](const OrderCancelled& x) { return order_stream(x.order_id); },
                        [](const OrderExpired& x) { return order_stream(x.order_id); },
                    },
                    e);
}

std::string_view to_string(OrderStatus s) noexcept {
  switch (s) {
    case OrderStatus::reserved: return "reserved";
    case OrderStatus::payment_pending: return "payment_pending";
    case OrderStatus::paid: return "paid";
    case OrderStatus::shipped: return "shipped";
    case OrderStatus::delivered: return "delivered";
    case OrderStatus::completed: return "completed";
    case OrderStatus::cancelled: return "cancelled";
    case OrderStatus::expired: return "expired";
  }
  return "unknown";
}

bool parse_order_status(std::string_view s, OrderStatus& out) noexcept {
  for (auto st : {OrderStatus::reserved, OrderStatus::payment_pending, OrderStatus::paid,
                  OrderStatus::shipped, OrderStatus::delivered, OrderStatus::completed,
                  OrderStatus::cancelled, OrderStatus::expired}) {
    if (to_string(st) == s) {
      out = st;
      return true;
    }
  }
  return false;
}

}  // namespace ordo

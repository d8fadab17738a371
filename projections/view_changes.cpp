#include "projections/view_changes.hpp"

#include <fmt/core.h>

namespace ordo::projections {

std::string utc_day(int64_t ms) {
  // Days since the epoch → civil date (Howard Hinnant's algorithm), exact in integers.
  int64_t z = (ms >= 0 ? ms : ms - 86'399'999) / 86'400'000 + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

namespace {

// The order status a lifecycle event leads to; nullptr for events that are not an order's.
template <typename T>
constexpr const char* order_status_after() {
  if constexpr (std::is_same_v<T, OrderPaymentRequested>)
    return "payment_pending";
  else if constexpr (std::is_same_v<T, OrderPaid>)
    return "paid";
  else if constexpr (std::is_same_v<T, OrderPaymentFailed>)
    return "reserved";
  else if constexpr (std::is_same_v<T, OrderShipped>)
    return "shipped";
  else if constexpr (std::is_same_v<T, OrderDelivered>)
    return "delivered";
  else if constexpr (std::is_same_v<T, OrderCompleted>)
    return "completed";
  else if constexpr (std::is_same_v<T, OrderDisputed>)
    return "disputed";
  else if constexpr (std::is_same_v<T, OrderRefunded>)
    return "cancelled";
  else if constexpr (std::is_same_v<T, OrderPaymentReturned>)
    return "expired";  // only an expired order returns a late payment; it stays expired
  else
    return nullptr;
}

// Moves on hand by `delta`: onto the absolute when this batch knows it, else as a delta.
void move_on_hand(ProductChange& p, int64_t delta) {
  if (p.on_hand != kUnset)
    p.on_hand += delta;
  else
    p.on_hand_delta += delta;
}

}  // namespace

void ViewChanges::add(const Envelope& env, const Event& event) {
  events.push_back(&env);
  if (money.add(env, event)) return;
  const int64_t at = env.occurred_at.value();
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ProductDefined>) {
          auto& p = products[e.sku.value()];
          p.defined = true;
          p.seller_id = e.seller_id.value();
          p.name = e.name;
          p.currency = e.currency.value();
          p.price_minor = e.price_minor.value();
          p.on_hand = e.initial_stock.value();
          p.version = env.stream_version;
          p.updated_ms = at;
        } else if constexpr (std::is_same_v<T, StockAdjusted>) {
          auto& p = products[e.sku.value()];
          p.on_hand = e.on_hand_after.value();
          p.on_hand_delta = 0;  // the absolute already counts what came before
          p.version = env.stream_version;
          p.updated_ms = at;
        } else if constexpr (std::is_same_v<T, StockReserved> || std::is_same_v<T, StockReleased>) {
          auto& p = products[e.sku.value()];
          p.reserved_delta += std::is_same_v<T, StockReserved> ? e.qty.value() : -e.qty.value();
          p.version = env.stream_version;
          p.updated_ms = at;
        } else if constexpr (std::is_same_v<T, OrderPlaced>) {
          auto& o = orders[e.order_id.value()];
          o.placed = true;
          o.customer_id = e.customer_id.value();
          o.seller_id = e.seller_id.value();
          o.currency = e.currency.value();
          o.total_minor = e.total_minor.value();
          o.placed_ms = at;
          o.expires_ms = e.expires_at.value();
          o.lines = e.lines;
          o.status = "reserved";
          o.version = env.stream_version;
          o.updated_ms = at;
          o.partition = env.partition.value();
          o.last_offset = env.offset.value();
          int64_t units = 0;
          for (const auto& l : e.lines) units += l.qty.value();
          auto& s = sales[{utc_day(at), o.seller_id, o.currency}];
          s.orders += 1;
          s.units += units;
          s.gross_minor += e.total_minor.value();
        } else if constexpr (std::is_same_v<T, OrderCancelled> || std::is_same_v<T, OrderExpired>) {
          auto& o = orders[e.order_id.value()];
          o.status = std::is_same_v<T, OrderCancelled> ? "cancelled" : "expired";
          o.version = env.stream_version;
          o.updated_ms = at;
          o.partition = env.partition.value();
          o.last_offset = env.offset.value();
          closed.push_back(OrderClosed{e.order_id.value(), std::is_same_v<T, OrderExpired>});
        } else if constexpr (std::is_same_v<T, StockCommitted> ||
                             std::is_same_v<T, StockRestocked>) {
          auto& p = products[e.sku.value()];
          if constexpr (std::is_same_v<T, StockCommitted>) {
            move_on_hand(p, -e.qty.value());
            p.reserved_delta -= e.qty.value();
          } else {
            move_on_hand(p, e.qty.value());
          }
          p.version = env.stream_version;
          p.updated_ms = at;
        } else if constexpr (order_status_after<T>() != nullptr) {
          auto& o = orders[e.order_id.value()];
          o.status = order_status_after<T>();
          o.version = env.stream_version;
          o.updated_ms = at;
          o.partition = env.partition.value();
          o.last_offset = env.offset.value();
          // A refunded order ends cancelled: counted with the cancellations of its day.
          if constexpr (std::is_same_v<T, OrderRefunded>)
            closed.push_back(OrderClosed{e.order_id.value(), false});
        }
      },
      event);
}

std::string decimal_string(__int128 v) {
  const bool negative = v < 0;
  // Digits of the magnitude, least significant first; -(v % 10) is exact even for the minimum.
  std::string digits;
  do {
    const int d = static_cast<int>(v % 10);
    digits.push_back(static_cast<char>('0' + (d < 0 ? -d : d)));
    v /= 10;
  } while (v != 0);
  if (negative) digits.push_back('-');
  return {digits.rbegin(), digits.rend()};
}

}  // namespace ordo::projections

#include "replay/preconditions.hpp"

#include <fmt/core.h>

#include <unordered_set>

#include "engine/domain/decide.hpp"

namespace ordo::replay {
namespace {

using Why = std::optional<std::string>;

const PricedLine* line_of(const Order& o, const Sku& sku) {
  for (const auto& l : o.lines)
    if (l.sku == sku) return &l;
  return nullptr;
}

Why check(const PartitionState& s, const ProductDefined& e) {
  if (s.find_product(e.sku)) return fmt::format("product {} is defined twice", e.sku.value());
  if (e.initial_stock.value() < 0 || e.initial_stock.value() > kMaxStock)
    return fmt::format("product {}: initial stock {} out of range", e.sku.value(),
                       e.initial_stock.value());
  if (e.price_minor.value() < 0 || e.price_minor.value() > kMaxPriceMinor)
    return fmt::format("product {}: price {} out of range", e.sku.value(), e.price_minor.value());
  return std::nullopt;
}

Why check(const PartitionState& s, const StockAdjusted& e) {
  const Product* p = s.find_product(e.sku);
  if (!p) return fmt::format("stock adjusted for unknown product {}", e.sku.value());
  int64_t after = 0;
  if (__builtin_add_overflow(p->on_hand.value(), e.delta.value(), &after) ||
      after != e.on_hand_after.value())
    return fmt::format("product {}: on hand {} + delta {} is not the recorded {}", e.sku.value(),
                       p->on_hand.value(), e.delta.value(), e.on_hand_after.value());
  if (after < p->reserved.value())
    return fmt::format("product {}: on hand {} would fall below reserved {}", e.sku.value(), after,
                       p->reserved.value());
  return std::nullopt;
}

Why check(const PartitionState& s, const StockReserved& e) {
  const Product* p = s.find_product(e.sku);
  if (!p) return fmt::format("stock reserved for unknown product {}", e.sku.value());
  if (e.qty.value() <= 0)
    return fmt::format("product {}: reserved quantity {} is not positive", e.sku.value(),
                       e.qty.value());
  if (e.qty.value() > p->available().value())
    return fmt::format("product {}: reserves {} with only {} available (stock would go negative)",
                       e.sku.value(), e.qty.value(), p->available().value());
  const Order* o = s.find_order(e.order_id);
  if (!o)
    return fmt::format("product {}: reserved for unknown order {}", e.sku.value(),
                       e.order_id.value());
  const PricedLine* l = line_of(*o, e.sku);
  if (!l || l->qty != e.qty || o->status != OrderStatus::reserved)
    return fmt::format("product {}: reservation of {} does not match a line of reserved order {}",
                       e.sku.value(), e.qty.value(), e.order_id.value());
  return std::nullopt;
}

Why check(const PartitionState& s, const StockReleased& e) {
  const Product* p = s.find_product(e.sku);
  if (!p) return fmt::format("stock released for unknown product {}", e.sku.value());
  if (e.qty.value() <= 0 || e.qty.value() > p->reserved.value())
    return fmt::format("product {}: releases {} with {} reserved", e.sku.value(), e.qty.value(),
                       p->reserved.value());
  const Order* o = s.find_order(e.order_id);
  if (!o)
    return fmt::format("product {}: released for unknown order {}", e.sku.value(),
                       e.order_id.value());
  const PricedLine* l = line_of(*o, e.sku);
  // A release follows the cancel or expiry of its order, in the same command.
  if (!l || l->qty != e.qty ||
      (o->status != OrderStatus::cancelled && o->status != OrderStatus::expired))
    return fmt::format(
        "product {}: release of {} does not match a line of cancelled or expired order {}",
        e.sku.value(), e.qty.value(), e.order_id.value());
  return std::nullopt;
}

Why check(const PartitionState& s, const OrderPlaced& e) {
  if (s.find_order(e.order_id)) return fmt::format("order {} is placed twice", e.order_id.value());
  // As decide_place makes them: 1..kMaxOrderLines lines of distinct SKUs of one seller,
  // 1..kMaxLineQty each, priced from the catalogue in its currency. (The total's cap came
  // later than the others, so it is not asked of older logs; the sum must not overflow.)
  if (e.lines.empty() || e.lines.size() > kMaxOrderLines)
    return fmt::format("order {} has {} lines", e.order_id.value(), e.lines.size());
  std::unordered_set<Sku> seen;
  int64_t total = 0;
  for (const auto& l : e.lines) {
    const Product* p = s.find_product(l.sku);
    if (!p) return fmt::format("order {}: unknown product {}", e.order_id.value(), l.sku.value());
    if (p->seller_id != e.seller_id)
      return fmt::format("order {}: product {} belongs to another seller", e.order_id.value(),
                         l.sku.value());
    if (!seen.insert(l.sku).second)
      return fmt::format("order {}: product {} in more than one line", e.order_id.value(),
                         l.sku.value());
    if (l.unit_price_minor != p->price_minor || e.currency != p->currency)
      return fmt::format("order {}: product {} priced {} {}, not as the catalogue's {} {}",
                         e.order_id.value(), l.sku.value(), l.unit_price_minor.value(),
                         e.currency.value(), p->price_minor.value(), p->currency.value());
    int64_t line_total = 0;
    if (l.qty.value() <= 0 || l.qty.value() > kMaxLineQty ||
        __builtin_mul_overflow(l.unit_price_minor.value(), l.qty.value(), &line_total) ||
        __builtin_add_overflow(total, line_total, &total))
      return fmt::format("order {}: line {} out of range", e.order_id.value(), l.sku.value());
  }
  if (total != e.total_minor.value())
    return fmt::format("order {}: total {} is not the sum of its lines {}", e.order_id.value(),
                       e.total_minor.value(), total);
  return std::nullopt;
}

// As apply asserts: a cancel ends a reserved order; an expiry ends one that holds its
// reservation (reserved, or payment_pending whose payment timed out).
template <typename E>
Why check_end(const PartitionState& s, const E& e, std::string_view what,
              bool (*may_end)(OrderStatus)) {
  const Order* o = s.find_order(e.order_id);
  if (!o) return fmt::format("{} of unknown order {}", what, e.order_id.value());
  if (!may_end(o->status))
    return fmt::format("{} of order {} in status {}", what, e.order_id.value(),
                       to_string(o->status));
  return std::nullopt;
}

Why check(const PartitionState& s, const OrderCancelled& e) {
  return check_end(s, e, "cancel", [](OrderStatus st) { return st == OrderStatus::reserved; });
}
Why check(const PartitionState& s, const OrderExpired& e) {
  return check_end(s, e, "expiry", [](OrderStatus st) { return holds_reservation(st); });
}

// The lifecycle and ledger events: the domain states their preconditions itself (apply
// asserts the same ones), so the auditor's verify and the engine cannot disagree.
template <typename E>
Why check(const PartitionState& s, const E& e) {
  return money_precondition(s, Event{e});
}

}  // namespace

std::optional<std::string> precondition_violation(const PartitionState& state, const Event& event) {
  return std::visit([&](const auto& e) { return check(state, e); }, event);
}

}  // namespace ordo::replay

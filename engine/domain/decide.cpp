#include "engine/domain/decide.hpp"

#include <fmt/core.h>

#include <unordered_set>

#include "engine/domain/assert.hpp"
#include "engine/domain/decide_parts.hpp"

namespace ordo {
namespace {

using parts::reject;

Decision decide_define(const PartitionState& s, const DefineProduct& c) {
  if (!is_valid_id(c.sku.value()) || !is_valid_id(c.seller_id.value()) || c.name.empty() ||
      !is_text_within(c.name, kMaxNameLength) || !is_valid_currency(c.currency.value()) ||
      c.price_minor.value() < 0 || c.price_minor.value() > kMaxPriceMinor || c.stock.value() < 0 ||
      c.stock.value() > kMaxStock)
    return reject(RejectCode::invalid_command, "product fields out of range");
  if (s.find_product(c.sku))
    return reject(RejectCode::already_exists,
                  fmt::format("product {} already exists", c.sku.value()));
  return std::vector<Event>{
      ProductDefined{c.sku, c.seller_id, c.name, c.price_minor, c.currency, c.stock}};
}

Decision decide_adjust(const PartitionState& s, const AdjustStock& c) {
  if (c.delta.value() == 0 || c.delta.value() > kMaxStock || c.delta.value() < -kMaxStock ||
      !is_text_within(c.reason, kMaxReasonLength))
    return reject(RejectCode::invalid_command, "delta must be non-zero and within limits");
  const Product* p = s.find_product(c.sku);
  if (!p) return reject(RejectCode::not_found, fmt::format("product {} not found", c.sku.value()));
  int64_t after = p->on_hand.value() + c.delta.value();
  if (after < p->reserved.value())
    return reject(
        RejectCode::stock_below_reserved,
        fmt::format("on hand {} would fall below reserved {}", after, p->reserved.value()));
  if (after > kMaxStock)
    return reject(RejectCode::stock_limit,
                  fmt::format("on hand {} would exceed {}", after, kMaxStock));
  return std::vector<Event>{StockAdjusted{c.sku, c.delta, c.reason, Quantity{after}}};
}

Decision decide_place(const PartitionState& s, const PlaceOrder& c, const DecideContext& ctx) {
  if (!is_valid_id(c.order_id.value()) || !is_valid_id(c.customer_id.value()) || c.lines.empty() ||
      c.lines.size() > kMaxOrderLines)
    return reject(RejectCode::invalid_command, "order needs an id, a customer and 1..100 lines");
  if (s.find_order(c.order_id))
    return reject(RejectCode::already_exists,
                  fmt::format("order {} already exists", c.order_id.value()));

  std::unordered_set<Sku> seen;
  const Product* first = nullptr;
  std::vector<PricedLine> priced;
  priced.reserve(c.lines.size());
  int64_t total = 0;
  for (const auto& line : c.lines) {
    if (line.qty.value() <= 0 || line.qty.value() > kMaxLineQty)
      return reject(RejectCode::invalid_command, "line quantity must be 1..1000000");
    if (!seen.insert(line.sku).second)
      return reject(RejectCode::invalid_command,
                    fmt::format("sku {} appears in more than one line", line.sku.value()));
    const Product* p = s.find_product(line.sku);
    if (!p) return reject(RejectCode::unknown_sku, fmt::format("unknown sku {}", line.sku.value()));
    if (!first) first = p;
    if (p->seller_id != first->seller_id)
      return reject(RejectCode::mixed_sellers, "all lines of an order must have the same seller");
    if (p->currency != first->currency)
      return reject(RejectCode::mixed_currencies, "all lines of an order must share a currency");
    if (p->available().value() < line.qty.value())
      return reject(RejectCode::out_of_stock,
                    fmt::format("sku {}: requested {}, available {}", line.sku.value(),
                                line.qty.value(), p->available().value()));
    int64_t line_total = 0;
    if (__builtin_mul_overflow(p->price_minor.value(), line.qty.value(), &line_total) ||
        __builtin_add_overflow(total, line_total, &total))
      return reject(RejectCode::amount_overflow, "order total out of range");
    priced.push_back(PricedLine{line.sku, line.qty, p->price_minor});
  }
  // One payment moves at most kMaxAmountMinor, and the views sum order totals: a larger
  // order could never be paid and would only strain every sum it enters.
  if (total > kMaxAmountMinor)
    return reject(
        RejectCode::amount_overflow,
        fmt::format("order total {} is above the largest payment {}", total, kMaxAmountMinor));

  std::vector<Event> events;
  events.reserve(1 + priced.size());
  events.push_back(OrderPlaced{
      c.order_id, c.customer_id, first->seller_id, first->currency, priced, AmountMinor{total},
      TimestampMs{ctx.now.value() + ctx.reservation_ttl.value()}, c.channel});
  for (const auto& l : priced) events.push_back(StockReserved{l.sku, c.order_id, l.qty});
  return events;
}

std::vector<Event> release_lines(const Order& o, std::vector<Event> events) {
  for (const auto& l : o.lines) events.push_back(StockReleased{l.sku, o.order_id, l.qty});
  return events;
}

Decision decide_cancel(const PartitionState& s, const CancelOrder& c) {
  if (!is_text_within(c.reason, kMaxReasonLength))
    return reject(RejectCode::invalid_command, "reason must be UTF-8 of at most 200 characters");
  const Order* o = s.find_order(c.order_id);
  if (!o)
    return reject(RejectCode::not_found, fmt::format("order {} not found", c.order_id.value()));
  if (c.expected_version && *c.expected_version != o->version)
    return reject(RejectCode::version_conflict,
                  fmt::format("order is at version {}, not {}", o->version, *c.expected_version));
  // A paid order not yet shipped is refunded through escrow and its goods restocked.
  if (o->status == OrderStatus::paid) return parts::decide_paid_cancel(s, *o, c);
  if (o->status != OrderStatus::reserved)
    return reject(RejectCode::invalid_transition,
                  fmt::format("an order in status {} cannot be cancelled", to_string(o->status)));
  return release_lines(*o, {OrderCancelled{c.order_id, c.reason}});
}

Decision decide_expire(const PartitionState& s, const ExpireReservation& c,
                       const DecideContext& ctx) {
  const Order* o = s.find_order(c.order_id);
  if (!o)
    return reject(RejectCode::not_found, fmt::format("order {} not found", c.order_id.value()));
  // A reserved order when its reservation's time is up; one waiting for a card payment
  // that never answered when the payment timeout is up too (a capture that comes later
  // finds the order expired, which returns the payment: OrderPaymentReturned).
  const auto due = expiry_due(*o, ctx.payment_timeout);
  if (!due)
    return reject(RejectCode::invalid_transition,
                  o->status == OrderStatus::payment_pending
                      ? "the order waits for its payment"
                      : "only a reserved order (or one whose card payment timed out) can expire");
  if (ctx.now.value() < due->value())
    return reject(RejectCode::invalid_transition, "the order is not due to expire yet");
  return release_lines(*o, {OrderExpired{c.order_id}});
}

}  // namespace

std::optional<TimestampMs> expiry_due(const Order& o, DurationMs payment_timeout) {
  if (o.status == OrderStatus::reserved) return o.expires_at;
  // Card payments only: a wallet payment is the platform's own transfer, and a step of its
  // that is parked waits for an operator to retry it, which must still find the order.
  if (o.status != OrderStatus::payment_pending || o.payment_method != PaymentMethod::card ||
      payment_timeout.value() <= 0)
    return std::nullopt;
  int64_t at = 0;
  if (__builtin_add_overflow(o.expires_at.value(), payment_timeout.value(), &at))
    return std::nullopt;  // beyond any clock: never
  return TimestampMs{at};
}

Decision decide(const PartitionState& state, const Command& command, const DecideContext& ctx) {
  return std::visit(
      [&](const auto& c) -> Decision {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, DefineProduct>)
          return decide_define(state, c);
        else if constexpr (std::is_same_v<T, AdjustStock>)
          return decide_adjust(state, c);
        else if constexpr (std::is_same_v<T, PlaceOrder>)
          return decide_place(state, c, ctx);
        else if constexpr (std::is_same_v<T, CancelOrder>)
          return parts::within_ceilings(state, decide_cancel(state, c));  // may refund
        else if constexpr (std::is_same_v<T, ExpireReservation>)
          return decide_expire(state, c, ctx);
        else
          return parts::within_ceilings(state, parts::decide_cmd(state, c, ctx));
      },
      command);
}

namespace {

Product& product_of(PartitionState& s, const Sku& sku) {
  auto it = s.products.find(sku);
  ORDO_ASSERT(it != s.products.end(), "event for unknown product {}", sku.value());
  return it->second;
}

Order& order_of(PartitionState& s, const OrderId& id) {
  auto it = s.orders.find(id);
  ORDO_ASSERT(it != s.orders.end(), "event for unknown order {}", id.value());
  return it->second;
}

void check_product(const Product& p) {
  ORDO_ASSERT(p.reserved.value() >= 0 && p.reserved.value() <= p.on_hand.value(),
              "product {}: on_hand {} reserved {}", p.sku.value(), p.on_hand.value(),
              p.reserved.value());
}

}  // namespace

void apply(PartitionState& s, const Event& event, TimestampMs occurred_at) {
  if (parts::apply_lifecycle(s, event) || parts::apply_ledger(s, event)) return;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ProductDefined>) {
          ORDO_ASSERT(!s.products.contains(e.sku), "product {} defined twice", e.sku.value());
          s.products.emplace(e.sku, Product{e.sku, e.seller_id, e.name, e.price_minor, e.currency,
                                            e.initial_stock, Quantity{0}, 1});
        } else if constexpr (std::is_same_v<T, StockAdjusted>) {
          Product& p = product_of(s, e.sku);
          p.on_hand = Quantity{p.on_hand.value() + e.delta.value()};
          ORDO_ASSERT(p.on_hand == e.on_hand_after, "stock adjusted to a different on hand");
          ++p.version;
          check_product(p);
        } else if constexpr (std::is_same_v<T, StockReserved>) {
          Product& p = product_of(s, e.sku);
          p.reserved = Quantity{p.reserved.value() + e.qty.value()};
          ++p.version;
          check_product(p);
        } else if constexpr (std::is_same_v<T, StockReleased>) {
          Product& p = product_of(s, e.sku);
          p.reserved = Quantity{p.reserved.value() - e.qty.value()};
          ++p.version;
          check_product(p);
        } else if constexpr (std::is_same_v<T, OrderPlaced>) {
          ORDO_ASSERT(!s.orders.contains(e.order_id), "order {} placed twice", e.order_id.value());
          s.orders.emplace(e.order_id,
                           Order{e.order_id, e.customer_id, e.seller_id, e.currency, e.lines,
                                 e.total_minor, occurred_at, e.expires_at, OrderStatus::reserved, 1,
                                 PaymentId{}, PaymentMethod::wallet, TimestampMs{0}});
        } else if constexpr (std::is_same_v<T, OrderCancelled>) {
          Order& o = order_of(s, e.order_id);
          ORDO_ASSERT(o.status == OrderStatus::reserved, "cancel of a non-reserved order");
          o.status = OrderStatus::cancelled;
          ++o.version;
        } else if constexpr (std::is_same_v<T, OrderExpired>) {
          Order& o = order_of(s, e.order_id);
          ORDO_ASSERT(holds_reservation(o.status), "expiry of an order holding no reservation");
          o.status = OrderStatus::expired;
          ++o.version;
        }
      },
      event);
}

bool check_product_invariant(const Product& p, int64_t held_by_orders, std::string* why) {
  if (p.on_hand.value() < 0 || p.reserved.value() < 0 || p.available().value() < 0) {
    if (why)
      *why = fmt::format("product {}: on_hand {} reserved {}", p.sku.value(), p.on_hand.value(),
                         p.reserved.value());
    return false;
  }
  if (held_by_orders != p.reserved.value()) {
    if (why)
      *why = fmt::format("product {}: reserved {} but reserved orders hold {}", p.sku.value(),
                         p.reserved.value(), held_by_orders);
    return false;
  }
  return true;
}

bool check_ledger_invariants(const PartitionState& s, std::string* why) {
  return parts::check_ledger_invariants(s, why);
}

bool check_invariants(const PartitionState& s, std::string* why) {
  std::unordered_map<Sku, int64_t> reserved;
  for (const auto& [id, o] : s.orders) {
    if (!holds_reservation(o.status)) continue;
    for (const auto& l : o.lines) reserved[l.sku] += l.qty.value();
  }
  for (const auto& [sku, p] : s.products) {
    auto it = reserved.find(sku);
    if (!check_product_invariant(p, it == reserved.end() ? 0 : it->second, why)) return false;
  }
  return check_ledger_invariants(s, why);
}

std::optional<std::string> money_precondition(const PartitionState& state, const Event& event) {
  if (auto w = parts::check_lifecycle(state, event)) return w;
  return parts::check_ledger(state, event);
}

int64_t stream_version_after(const PartitionState& s, const Event& event) {
  auto must = [](const auto* x, std::string_view what) {
    ORDO_ASSERT(x, "{} missing after apply", what);
    return x->version;
  };
  return std::visit(
      [&](const auto& x) -> int64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (requires { x.sku; })
          return must(s.find_product(x.sku), "product");
        else if constexpr (std::is_same_v<T, WalletDeposited>)
          return must(s.find_wallet(x.owner, x.currency), "wallet");
        else if constexpr (std::is_same_v<T, PaymentInitiated> ||
                           std::is_same_v<T, PaymentCaptured> || std::is_same_v<T, PaymentFailed> ||
                           std::is_same_v<T, PaymentRefunded>)
          return must(s.find_payment(x.payment_id), "payment");
        else if constexpr (std::is_same_v<T, EscrowHeld> || std::is_same_v<T, EscrowReleased> ||
                           std::is_same_v<T, EscrowRefunded>)
          return must(s.find_escrow(x.order_id), "escrow");
        else if constexpr (requires { x.payout_id; })
          return must(s.find_payout(x.payout_id), "payout");
        else
          return must(s.find_order(x.order_id), "order");
      },
      event);
}

}  // namespace ordo

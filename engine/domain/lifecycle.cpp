// The order lifecycle after placement: pay → paid → shipped → delivered → completed, with
// dispute, refund and automatic completion. Pure: time comes in through DecideContext.
#include <fmt/core.h>

#include <algorithm>

#include "engine/domain/assert.hpp"
#include "engine/domain/decide_parts.hpp"

namespace ordo::parts {
namespace {

// The order a lifecycle command targets, or the rejection: not found, If-Match mismatch,
// or a status the command does not start from.
std::variant<const Order*, Rejection> target(const PartitionState& s, const OrderId& id,
                                             std::optional<int64_t> expected_version,
                                             std::initializer_list<OrderStatus> from,
                                             std::string_view what) {
  const Order* o = s.find_order(id);
  if (!o) return reject(RejectCode::not_found, fmt::format("order {} not found", id.value()));
  if (expected_version && *expected_version != o->version)
    return reject(RejectCode::version_conflict,
                  fmt::format("order is at version {}, not {}", o->version, *expected_version));
  for (auto st : from)
    if (o->status == st) return o;
  return reject(RejectCode::invalid_transition,
                fmt::format("an order in status {} cannot be {}", to_string(o->status), what));
}

bool reason_ok(const std::string& r) { return is_text_within(r, kMaxReasonLength); }

// A reason cut to the limit without splitting a UTF-8 character (the event must stay valid
// UTF-8 to survive its JSON encoding); a reason that is not free text at all is replaced.
std::string clip_reason(const std::string& r) {
  size_t n = std::min(r.size(), kMaxReasonLength);
  while (n > 0 && n < r.size() && (static_cast<unsigned char>(r[n]) & 0xC0) == 0x80)
    --n;  // r[n] continues a character
  std::string out = r.substr(0, n);
  return reason_ok(out) ? out : std::string("payment failed");
}

Order& order_of(PartitionState& s, const OrderId& id) {
  auto it = s.orders.find(id);
  ORDO_ASSERT(it != s.orders.end(), "event for unknown order {}", id.value());
  return it->second;
}

Product& product_of(PartitionState& s, const Sku& sku) {
  auto it = s.products.find(sku);
  ORDO_ASSERT(it != s.products.end(), "event for unknown product {}", sku.value());
  return it->second;
}

const PricedLine* line_of(const Order& o, const Sku& sku) {
  for (const auto& l : o.lines)
    if (l.sku == sku) return &l;
  return nullptr;
}

Why status_is(const PartitionState& s, const OrderId& id, std::initializer_list<OrderStatus> from,
              std::string_view what) {
  const Order* o = s.find_order(id);
  if (!o) return fmt::format("{} of unknown order {}", what, id.value());
  for (auto st : from)
    if (o->status == st) return std::nullopt;
  return fmt::format("{} of order {} in status {}", what, id.value(), to_string(o->status));
}

// Whether restocking `qty` of product `p` keeps it within the stock ceiling (apply asserts
// it for StockRestocked).
bool restock_fits(const Product* p, Quantity qty) {
  return p && p->on_hand.value() + qty.value() <= kMaxStock;
}

// The payment an expired order waited for (the payment timeout expired it) was captured.
bool captured_after_expiry(const Order& o, const PaymentId& payment) {
  return o.status == OrderStatus::expired && !o.payment_id.value().empty() &&
         o.payment_id == payment;
}

}  // namespace

Decision decide_cmd(const PartitionState& s, const PayOrder& c, const DecideContext& ctx) {
  if (!is_valid_id(c.payment_id.value()))
    return reject(RejectCode::invalid_command, "payment_id is not a valid id");
  auto t = target(s, c.order_id, c.expected_version, {OrderStatus::reserved}, "paid");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  if (ctx.now.value() >= o.expires_at.value())
    return reject(RejectCode::invalid_transition, "the order's reservation has expired");
  // The ledger takes one movement of at most kMaxAmountMinor. Orders above it are refused at
  // placement now, but logs written before that may hold some: say so rather than fail the
  // payment later.
  if (o.total_minor.value() > kMaxAmountMinor)
    return reject(RejectCode::amount_overflow,
                  fmt::format("order total {} is above the largest payment {}",
                              o.total_minor.value(), kMaxAmountMinor));
  return std::vector<Event>{OrderPaymentRequested{o.order_id, c.payment_id, c.method, o.customer_id,
                                                  o.seller_id, o.total_minor, o.currency}};
}

Decision decide_cmd(const PartitionState& s, const MarkOrderPaid& c, const DecideContext&) {
  // The payment the order waited for was captured after the payment timeout expired the
  // order: its stock is gone, so the money goes back (the flow refunds the escrow). A
  // capture of any other payment, or of an order in any other status, is refused below.
  if (const Order* o = s.find_order(c.order_id); o && captured_after_expiry(*o, c.payment_id))
    return std::vector<Event>{
        OrderPaymentReturned{o->order_id, c.payment_id, o->total_minor, o->currency}};
  auto t = target(s, c.order_id, std::nullopt, {OrderStatus::payment_pending}, "marked paid");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  if (o.payment_id != c.payment_id)
    return reject(RejectCode::invalid_transition,
                  fmt::format("order {} waits for payment {}, not {}", o.order_id.value(),
                              o.payment_id.value(), c.payment_id.value()));
  std::vector<Event> events{OrderPaid{o.order_id, c.payment_id}};
  for (const auto& l : o.lines) events.push_back(StockCommitted{l.sku, o.order_id, l.qty});
  return events;
}

Decision decide_cmd(const PartitionState& s, const MarkOrderPaymentFailed& c,
                    const DecideContext&) {
  auto t = target(s, c.order_id, std::nullopt, {OrderStatus::payment_pending}, "marked unpaid");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  if (o.payment_id != c.payment_id)
    return reject(RejectCode::invalid_transition, "the order waits for another payment");
  // Back to reserved: the reservation's timer expires it if its time has passed.
  return std::vector<Event>{OrderPaymentFailed{o.order_id, c.payment_id, clip_reason(c.reason)}};
}

Decision decide_cmd(const PartitionState& s, const MarkOrderRefunded& c, const DecideContext&) {
  // A completed order too: the provider's refund can overtake the completion (the escrow it
  // emptied then refuses the release), and the seller was never paid.
  auto t = target(s, c.order_id, std::nullopt,
                  {OrderStatus::paid, OrderStatus::shipped, OrderStatus::delivered,
                   OrderStatus::disputed, OrderStatus::completed},
                  "refunded by the card provider");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  std::vector<Event> events{OrderRefunded{o.order_id, o.payment_id, "refunded by the card provider",
                                          o.total_minor, o.currency}};
  // Goods not yet shipped go back on the shelf; shipped ones are the seller's to recover.
  // The refund is the provider's fact and cannot be refused, so a line that would take its
  // product past the stock ceiling stays off the shelf (apply asserts the ceiling; the seller
  // can adjust the stock), where a customer's cancel of a paid order is refused instead.
  if (o.status == OrderStatus::paid)
    for (const auto& l : o.lines)
      if (restock_fits(s.find_product(l.sku), l.qty))
        events.push_back(StockRestocked{l.sku, o.order_id, l.qty});
  return events;
}

Decision decide_cmd(const PartitionState& s, const ShipOrder& c, const DecideContext&) {
  auto t = target(s, c.order_id, c.expected_version, {OrderStatus::paid}, "shipped");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  return std::vector<Event>{OrderShipped{c.order_id}};
}

Decision decide_cmd(const PartitionState& s, const DeliverOrder& c, const DecideContext& ctx) {
  auto t = target(s, c.order_id, c.expected_version, {OrderStatus::shipped}, "delivered");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  return std::vector<Event>{
      OrderDelivered{c.order_id, TimestampMs{ctx.now.value() + ctx.auto_release_after.value()}}};
}

Decision decide_cmd(const PartitionState& s, const ConfirmOrder& c, const DecideContext&) {
  auto t = target(s, c.order_id, c.expected_version, {OrderStatus::delivered}, "confirmed");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  return std::vector<Event>{OrderCompleted{o.order_id, "confirmed", o.total_minor, o.currency}};
}

Decision decide_cmd(const PartitionState& s, const AutoCompleteOrder& c, const DecideContext& ctx) {
  auto t = target(s, c.order_id, std::nullopt, {OrderStatus::delivered}, "completed automatically");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  if (ctx.now.value() < o.release_at.value())
    return reject(RejectCode::invalid_transition, "the escrow's release time has not come");
  return std::vector<Event>{OrderCompleted{o.order_id, "auto", o.total_minor, o.currency}};
}

Decision decide_cmd(const PartitionState& s, const DisputeOrder& c, const DecideContext&) {
  if (!reason_ok(c.reason))
    return reject(RejectCode::invalid_command, "reason must be UTF-8 of at most 200 characters");
  auto t = target(s, c.order_id, c.expected_version, {OrderStatus::delivered}, "disputed");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  return std::vector<Event>{OrderDisputed{c.order_id, c.reason}};
}

Decision decide_cmd(const PartitionState& s, const ResolveDispute& c, const DecideContext&) {
  if (!reason_ok(c.reason))
    return reject(RejectCode::invalid_command, "reason must be UTF-8 of at most 200 characters");
  auto t =
      target(s, c.order_id, c.expected_version, {OrderStatus::delivered, OrderStatus::disputed},
             c.release ? "released" : "refunded");
  if (auto* r = std::get_if<Rejection>(&t)) return *r;
  const Order& o = *std::get<const Order*>(t);
  if (c.release)
    return std::vector<Event>{
        OrderCompleted{o.order_id, "admin_released", o.total_minor, o.currency}};
  // Delivered goods are not restocked: the buyer keeps them or returns them outside Ordo.
  return std::vector<Event>{
      OrderRefunded{o.order_id, o.payment_id, c.reason, o.total_minor, o.currency}};
}

Decision decide_paid_cancel(const PartitionState& s, const Order& o, const CancelOrder& c) {
  // The restock must not pass the stock ceiling (apply asserts it): refuse like AdjustStock.
  for (const auto& l : o.lines) {
    const Product* p = s.find_product(l.sku);
    if (p && !restock_fits(p, l.qty))
      return reject(RejectCode::stock_limit, fmt::format("restocking {} of {} would pass {}",
                                                         l.qty.value(), l.sku.value(), kMaxStock));
  }
  std::vector<Event> events{
      OrderRefunded{o.order_id, o.payment_id, c.reason, o.total_minor, o.currency}};
  for (const auto& l : o.lines) events.push_back(StockRestocked{l.sku, o.order_id, l.qty});
  return events;
}

Why check_lifecycle(const PartitionState& s, const Event& event) {
  return std::visit(
      [&](const auto& e) -> Why {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, OrderPaymentRequested>) {
          if (auto w = status_is(s, e.order_id, {OrderStatus::reserved}, "payment request"))
            return w;
          const Order* o = s.find_order(e.order_id);
          if (o->total_minor != e.amount_minor || o->currency != e.currency)
            return fmt::format("payment request of order {} for another amount",
                               e.order_id.value());
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, OrderPaid> ||
                             std::is_same_v<T, OrderPaymentFailed>) {
          if (auto w = status_is(s, e.order_id, {OrderStatus::payment_pending}, "payment outcome"))
            return w;
          if (s.find_order(e.order_id)->payment_id != e.payment_id)
            return fmt::format("payment outcome of order {} for another payment",
                               e.order_id.value());
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, StockCommitted> ||
                             std::is_same_v<T, StockRestocked>) {
          const Product* p = s.find_product(e.sku);
          const Order* o = s.find_order(e.order_id);
          if (!p || !o)
            return fmt::format("stock movement for unknown product {} or order {}", e.sku.value(),
                               e.order_id.value());
          const PricedLine* l = line_of(*o, e.sku);
          if (!l || l->qty != e.qty)
            return fmt::format("product {}: movement of {} matches no line of order {}",
                               e.sku.value(), e.qty.value(), e.order_id.value());
          if constexpr (std::is_same_v<T, StockCommitted>) {
            if (o->status != OrderStatus::paid || p->reserved.value() < e.qty.value() ||
                p->on_hand.value() < e.qty.value())
              return fmt::format(
                  "product {}: commit of {} with {} reserved for order {} in status {}",
                  e.sku.value(), e.qty.value(), p->reserved.value(), e.order_id.value(),
                  to_string(o->status));
          } else {
            if (o->status != OrderStatus::cancelled || !restock_fits(p, e.qty))
              return fmt::format("product {}: restock for order {} in status {}", e.sku.value(),
                                 e.order_id.value(), to_string(o->status));
          }
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, OrderShipped>) {
          return status_is(s, e.order_id, {OrderStatus::paid}, "shipping");
        } else if constexpr (std::is_same_v<T, OrderDelivered>) {
          return status_is(s, e.order_id, {OrderStatus::shipped}, "delivery");
        } else if constexpr (std::is_same_v<T, OrderDisputed>) {
          return status_is(s, e.order_id, {OrderStatus::delivered}, "dispute");
        } else if constexpr (std::is_same_v<T, OrderCompleted>) {
          return status_is(s, e.order_id, {OrderStatus::delivered, OrderStatus::disputed},
                           "completion");
        } else if constexpr (std::is_same_v<T, OrderRefunded>) {
          return status_is(s, e.order_id,
                           {OrderStatus::paid, OrderStatus::shipped, OrderStatus::delivered,
                            OrderStatus::disputed, OrderStatus::completed},
                           "refund");
        } else if constexpr (std::is_same_v<T, OrderPaymentReturned>) {
          if (auto why = status_is(s, e.order_id, {OrderStatus::expired}, "late payment return"))
            return why;
          const Order& o = *s.find_order(e.order_id);
          if (!captured_after_expiry(o, e.payment_id))
            return fmt::format("order {} returns payment {}, not its own", e.order_id.value(),
                               e.payment_id.value());
          if (e.amount_minor != o.total_minor || e.currency != o.currency)
            return fmt::format("order {} returns {} {}, not its total {} {}", e.order_id.value(),
                               e.amount_minor.value(), e.currency.value(), o.total_minor.value(),
                               o.currency.value());
          return std::nullopt;
        } else {
          return std::nullopt;
        }
      },
      event);
}

bool apply_lifecycle(PartitionState& s, const Event& event) {
  if (auto why = check_lifecycle(s, event)) ORDO_ASSERT(false, "{}", *why);
  return std::visit(
      [&](const auto& e) -> bool {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, StockCommitted>) {
          Product& p = product_of(s, e.sku);
          p.on_hand = Quantity{p.on_hand.value() - e.qty.value()};
          p.reserved = Quantity{p.reserved.value() - e.qty.value()};
          ++p.version;
          return true;
        } else if constexpr (std::is_same_v<T, StockRestocked>) {
          Product& p = product_of(s, e.sku);
          p.on_hand = Quantity{p.on_hand.value() + e.qty.value()};
          ++p.version;
          return true;
        } else if constexpr (std::is_same_v<T, OrderPaymentRequested> ||
                             std::is_same_v<T, OrderPaid> ||
                             std::is_same_v<T, OrderPaymentFailed> ||
                             std::is_same_v<T, OrderShipped> || std::is_same_v<T, OrderDelivered> ||
                             std::is_same_v<T, OrderCompleted> ||
                             std::is_same_v<T, OrderDisputed> || std::is_same_v<T, OrderRefunded> ||
                             std::is_same_v<T, OrderPaymentReturned>) {
          Order& o = order_of(s, e.order_id);
          if constexpr (std::is_same_v<T, OrderPaymentRequested>) {
            o.status = OrderStatus::payment_pending;
            o.payment_id = e.payment_id;
            o.payment_method = e.method;
          } else if constexpr (std::is_same_v<T, OrderPaid>) {
            o.status = OrderStatus::paid;
          } else if constexpr (std::is_same_v<T, OrderPaymentFailed>) {
            o.status = OrderStatus::reserved;
          } else if constexpr (std::is_same_v<T, OrderShipped>) {
            o.status = OrderStatus::shipped;
          } else if constexpr (std::is_same_v<T, OrderDelivered>) {
            o.status = OrderStatus::delivered;
            o.release_at = e.release_at;
          } else if constexpr (std::is_same_v<T, OrderCompleted>) {
            o.status = OrderStatus::completed;
          } else if constexpr (std::is_same_v<T, OrderDisputed>) {
            o.status = OrderStatus::disputed;
          } else if constexpr (std::is_same_v<T, OrderPaymentReturned>) {
            // Stays expired: the event is the order's record of the money sent back.
          } else {
            o.status = OrderStatus::cancelled;
          }
          ++o.version;
          return true;
        } else {
          return false;
        }
      },
      event);
}

}  // namespace ordo::parts

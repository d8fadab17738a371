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

// The names are the types' own, listed once here; a static_assert keeps the lists complete.
namespace {
constexpr std::string_view kCommandNames[] = {
    "DefineProduct",          "AdjustStock",       "PlaceOrder",        "CancelOrder",
    "ExpireReservation",      "PayOrder",          "ShipOrder",         "DeliverOrder",
    "ConfirmOrder",           "DisputeOrder",      "ResolveDispute",    "MarkOrderPaid",
    "MarkOrderPaymentFailed", "AutoCompleteOrder", "DepositToWallet",   "InitiatePayment",
    "ApplyProviderEvent",     "ReleaseEscrow",     "RefundEscrow",      "RequestPayout",
    "CompletePayout",         "RejectPayout",      "MarkOrderRefunded",
};
static_assert(std::size(kCommandNames) == std::variant_size_v<Command>);
constexpr std::string_view kEventNames[] = {
    "ProductDefined",
    "StockAdjusted",
    "OrderPlaced",
    "StockReserved",
    "StockReleased",
    "OrderCancelled",
    "OrderExpired",
    "OrderPaymentRequested",
    "OrderPaid",
    "StockCommitted",
    "OrderPaymentFailed",
    "OrderShipped",
    "OrderDelivered",
    "OrderCompleted",
    "OrderDisputed",
    "OrderRefunded",
    "StockRestocked",
    "WalletDeposited",
    "PaymentInitiated",
    "PaymentCaptured",
    "PaymentFailed",
    "PaymentRefunded",
    "EscrowHeld",
    "EscrowReleased",
    "EscrowRefunded",
    "PayoutRequested",
    "PayoutCompleted",
    "PayoutRejected",
    "OrderPaymentReturned",
};
static_assert(std::size(kEventNames) == std::variant_size_v<Event>);
}  // namespace

std::string_view command_name(const Command& c) noexcept { return kCommandNames[c.index()]; }

std::string_view event_type(const Event& e) noexcept { return kEventNames[e.index()]; }

std::string event_stream(const Event& e) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (requires { x.sku; })
          return product_stream(x.sku);
        else if constexpr (std::is_same_v<T, WalletDeposited>)
          return wallet_stream(x.owner, x.currency);
        else if constexpr (std::is_same_v<T, PaymentInitiated> ||
                           std::is_same_v<T, PaymentCaptured> || std::is_same_v<T, PaymentFailed> ||
                           std::is_same_v<T, PaymentRefunded>)
          return payment_stream(x.payment_id);
        else if constexpr (std::is_same_v<T, EscrowHeld> || std::is_same_v<T, EscrowReleased> ||
                           std::is_same_v<T, EscrowRefunded>)
          return escrow_stream(x.order_id);
        else if constexpr (requires { x.payout_id; })
          return payout_stream(x.payout_id);
        else
          return order_stream(x.order_id);
      },
      e);
}

std::string_view to_string(OrderStatus s) noexcept {
  switch (s) {
    case OrderStatus::reserved:
      return "reserved";
    case OrderStatus::payment_pending:
      return "payment_pending";
    case OrderStatus::paid:
      return "paid";
    case OrderStatus::shipped:
      return "shipped";
    case OrderStatus::delivered:
      return "delivered";
    case OrderStatus::completed:
      return "completed";
    case OrderStatus::cancelled:
      return "cancelled";
    case OrderStatus::expired:
      return "expired";
    case OrderStatus::disputed:
      return "disputed";
  }
  return "unknown";
}

bool parse_order_status(std::string_view s, OrderStatus& out) noexcept {
  for (auto st : {OrderStatus::reserved, OrderStatus::payment_pending, OrderStatus::paid,
                  OrderStatus::shipped, OrderStatus::delivered, OrderStatus::completed,
                  OrderStatus::cancelled, OrderStatus::expired, OrderStatus::disputed}) {
    if (to_string(st) == s) {
      out = st;
      return true;
    }
  }
  return false;
}

namespace {
template <typename E, size_t N>
bool parse_named(std::string_view s, E& out, const E (&all)[N]) noexcept {
  for (E v : all)
    if (to_string(v) == s) {
      out = v;
      return true;
    }
  return false;
}
}  // namespace

std::string_view to_string(PaymentMethod m) noexcept {
  return m == PaymentMethod::card ? "card" : "wallet";
}
bool parse_payment_method(std::string_view s, PaymentMethod& out) noexcept {
  constexpr PaymentMethod all[] = {PaymentMethod::wallet, PaymentMethod::card};
  return parse_named(s, out, all);
}

std::string_view to_string(ProviderEventKind k) noexcept {
  switch (k) {
    case ProviderEventKind::captured:
      return "captured";
    case ProviderEventKind::failed:
      return "failed";
    case ProviderEventKind::refunded:
      return "refunded";
  }
  return "unknown";
}
bool parse_provider_event_kind(std::string_view s, ProviderEventKind& out) noexcept {
  constexpr ProviderEventKind all[] = {ProviderEventKind::captured, ProviderEventKind::failed,
                                       ProviderEventKind::refunded};
  return parse_named(s, out, all);
}

std::string_view to_string(PaymentStatus s) noexcept {
  switch (s) {
    case PaymentStatus::pending:
      return "pending";
    case PaymentStatus::captured:
      return "captured";
    case PaymentStatus::failed:
      return "failed";
    case PaymentStatus::refunded:
      return "refunded";
  }
  return "unknown";
}
bool parse_payment_status(std::string_view s, PaymentStatus& out) noexcept {
  constexpr PaymentStatus all[] = {PaymentStatus::pending, PaymentStatus::captured,
                                   PaymentStatus::failed, PaymentStatus::refunded};
  return parse_named(s, out, all);
}

std::string_view to_string(EscrowStatus s) noexcept {
  switch (s) {
    case EscrowStatus::held:
      return "held";
    case EscrowStatus::released:
      return "released";
    case EscrowStatus::refunded:
      return "refunded";
  }
  return "unknown";
}
bool parse_escrow_status(std::string_view s, EscrowStatus& out) noexcept {
  constexpr EscrowStatus all[] = {EscrowStatus::held, EscrowStatus::released,
                                  EscrowStatus::refunded};
  return parse_named(s, out, all);
}

std::string_view to_string(PayoutStatus s) noexcept {
  switch (s) {
    case PayoutStatus::requested:
      return "requested";
    case PayoutStatus::completed:
      return "completed";
    case PayoutStatus::rejected:
      return "rejected";
  }
  return "unknown";
}
bool parse_payout_status(std::string_view s, PayoutStatus& out) noexcept {
  constexpr PayoutStatus all[] = {PayoutStatus::requested, PayoutStatus::completed,
                                  PayoutStatus::rejected};
  return parse_named(s, out, all);
}

}  // namespace ordo

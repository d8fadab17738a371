#pragma once
// Commands: what a caller asks for. Already validated for shape at the edge; the domain
// decides whether the current state allows them.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/domain/events.hpp"
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

// ---- Order lifecycle (the order's partition). `expected_version` is If-Match. ----

struct PayOrder {
  OrderId order_id;
  PaymentId payment_id;
  PaymentMethod method;
  std::optional<int64_t> expected_version;
};

struct ShipOrder {
  OrderId order_id;
  std::optional<int64_t> expected_version;
};

struct DeliverOrder {
  OrderId order_id;
  std::optional<int64_t> expected_version;
};

struct ConfirmOrder {
  OrderId order_id;
  std::optional<int64_t> expected_version;
};

struct DisputeOrder {
  OrderId order_id;
  std::string reason;
  std::optional<int64_t> expected_version;
};

// An admin settles a delivered or disputed order: release to the seller or refund the buyer
// (POST /v1/escrows/{order_id}/release|refund).
struct ResolveDispute {
  OrderId order_id;
  bool release = true;
  std::string reason;
  std::optional<int64_t> expected_version;
};

// From the payment process manager, after the ledger's outcome.
struct MarkOrderPaid {
  OrderId order_id;
  PaymentId payment_id;
};
struct MarkOrderPaymentFailed {
  OrderId order_id;
  PaymentId payment_id;
  std::string reason;
};

// From the settlement process manager when the card provider refunded a payment in full
// (the escrow resolved to external:card): the order is refunded too.
struct MarkOrderRefunded {
  OrderId order_id;
};

// Issued by the partition's timer a configured time after delivery.
struct AutoCompleteOrder {
  OrderId order_id;
};

// ---- Ledger (the currency's partition) ----

struct DepositToWallet {
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor;
  std::string reference;
};

// From the payment process manager on OrderPaymentRequested.
struct InitiatePayment {
  PaymentId payment_id;
  OrderId order_id;
  PaymentMethod method;
  CustomerId buyer;
  SellerId seller;
  AmountMinor amount_minor;
  Currency currency;
};

enum class ProviderEventKind { captured, failed, refunded };
std::string_view to_string(ProviderEventKind k) noexcept;
bool parse_provider_event_kind(std::string_view s, ProviderEventKind& out) noexcept;

// A card provider's webhook, already authenticated (HMAC) at the edge.
struct ApplyProviderEvent {
  std::string event_id;  // the provider's; a repeat changes nothing
  PaymentId payment_id;
  ProviderEventKind kind;
  AmountMinor amount_minor;
};

// From the settlement process manager on OrderCompleted / OrderRefunded.
struct ReleaseEscrow {
  OrderId order_id;
  Currency currency;
};
struct RefundEscrow {
  OrderId order_id;
  Currency currency;
};

struct RequestPayout {
  PayoutId payout_id;
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor;
  std::string destination;
};
struct CompletePayout {
  PayoutId payout_id;
};
struct RejectPayout {
  PayoutId payout_id;
  std::string reason;
};

using Command =
    std::variant<DefineProduct, AdjustStock, PlaceOrder, CancelOrder, ExpireReservation, PayOrder,
                 ShipOrder, DeliverOrder, ConfirmOrder, DisputeOrder, ResolveDispute, MarkOrderPaid,
                 MarkOrderPaymentFailed, AutoCompleteOrder, DepositToWallet, InitiatePayment,
                 ApplyProviderEvent, ReleaseEscrow, RefundEscrow, RequestPayout, CompletePayout,
                 RejectPayout, MarkOrderRefunded>;

std::string_view command_name(const Command& c) noexcept;

// Everything decide needs from the outside world, passed in so decide stays pure.
struct DecideContext {
  TimestampMs now{0};
  DurationMs reservation_ttl{15 * 60 * 1000};
  // Escrow is released automatically this long after delivery unless disputed.
  DurationMs auto_release_after{7LL * 24 * 3600 * 1000};
  // The platform's fee on a released escrow, in basis points, rounded down: the seller
  // gets the remainder of the division.
  int64_t platform_fee_bps = 500;
  // How long past its reservation's expiry an order waits in payment_pending for its card
  // payment's outcome (a provider's webhook that never comes) before it expires and its
  // stock is released. 0: it waits for ever. Wallet payments wait for ever: their steps
  // are the platform's own, and a parked one waits for an operator's retry.
  DurationMs payment_timeout{60 * 60 * 1000};
};

}  // namespace ordo

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

// ---- Order lifecycle after placement (stream order-{id}, stock in product-{sku}) ----

enum class PaymentMethod { wallet, card };
std::string_view to_string(PaymentMethod m) noexcept;
bool parse_payment_method(std::string_view s, PaymentMethod& out) noexcept;

// reserved → payment_pending; the payment process manager takes it to the ledger.
struct OrderPaymentRequested {
  OrderId order_id;
  PaymentId payment_id;
  PaymentMethod method;
  CustomerId customer_id;
  SellerId seller_id;
  AmountMinor amount_minor;
  Currency currency;
};

// payment_pending → paid, once the ledger captured the money into escrow.
struct OrderPaid {
  OrderId order_id;
  PaymentId payment_id;
};

// Payment commits a line's reservation: on_hand -= qty, reserved -= qty.
struct StockCommitted {
  Sku sku;
  OrderId order_id;
  Quantity qty;
};

// payment_pending → reserved: the ledger refused or the provider failed the payment.
struct OrderPaymentFailed {
  OrderId order_id;
  PaymentId payment_id;
  std::string reason;
};

struct OrderShipped {
  OrderId order_id;
};

// shipped → delivered; escrow is released automatically at `release_at` unless disputed.
struct OrderDelivered {
  OrderId order_id;
  TimestampMs release_at;
};

// delivered (or disputed, resolved for the seller) → completed; the ledger releases escrow.
struct OrderCompleted {
  OrderId order_id;
  std::string how;  // "confirmed", "auto" or "admin_released" (ResolveDispute)
  AmountMinor amount_minor;
  Currency currency;
};

struct OrderDisputed {
  OrderId order_id;
  std::string reason;
};

// paid (cancelled by customer, seller or admin) or disputed (resolved for the buyer) →
// cancelled; the ledger refunds the escrow to where the money came from.
struct OrderRefunded {
  OrderId order_id;
  PaymentId payment_id;
  std::string reason;
  AmountMinor amount_minor;
  Currency currency;
};

// A paid order cancelled before shipping puts its goods back: on_hand += qty.
struct StockRestocked {
  Sku sku;
  OrderId order_id;
  Quantity qty;
};

// ---- Ledger (keyed by currency). Every money movement names its accounts. ----

// external:bank → wallet:{owner} (stream wallet-{owner}.{currency})
struct WalletDeposited {
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor;
  std::string reference;
};

// stream payment-{id}
struct PaymentInitiated {
  PaymentId payment_id;
  OrderId order_id;
  PaymentMethod method;
  CustomerId buyer;
  SellerId seller;
  AmountMinor amount_minor;
  Currency currency;
};

// Status only; the money moves in EscrowHeld. `provider_event_id` is empty for wallets.
struct PaymentCaptured {
  PaymentId payment_id;
  OrderId order_id;
  AmountMinor amount_minor;
  std::string provider_event_id;
};

struct PaymentFailed {
  PaymentId payment_id;
  OrderId order_id;
  std::string reason;
  std::string provider_event_id;
};

// Status only; the money moves in the EscrowRefunded of the same command.
struct PaymentRefunded {
  PaymentId payment_id;
  OrderId order_id;
  AmountMinor amount_minor;
  std::string provider_event_id;
};

// wallet:{buyer} or external:card → escrow:{order_id} (stream escrow-{order_id})
struct EscrowHeld {
  OrderId order_id;
  PaymentId payment_id;
  std::string from_account;
  CustomerId buyer;
  SellerId seller;
  AmountMinor amount_minor;
  Currency currency;
};

// escrow:{order_id} → wallet:{seller} (amount - fee) and → platform:fees (fee)
struct EscrowReleased {
  OrderId order_id;
  SellerId seller;
  AmountMinor amount_minor;
  AmountMinor fee_minor;
  Currency currency;
};

// escrow:{order_id} → `to_account` (the buyer's wallet or external:card). A full refund
// resolves the escrow; a provider's partial refund leaves the rest held.
struct EscrowRefunded {
  OrderId order_id;
  std::string to_account;
  AmountMinor amount_minor;
  Currency currency;
  bool resolves = true;
};

// Holds `amount` in the wallet (stream payout-{id}).
struct PayoutRequested {
  PayoutId payout_id;
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor;
  std::string destination;
};

// wallet:{owner} → external:bank, releasing the hold.
struct PayoutCompleted {
  PayoutId payout_id;
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor;
};

struct PayoutRejected {
  PayoutId payout_id;
  std::string reason;
};

// expired → expired: the order's card payment was captured after the payment timeout had
// expired the order. The stock is gone; the ledger returns the money to where it came from
// (RefundEscrow), with no operator in the loop.
struct OrderPaymentReturned {
  OrderId order_id;
  PaymentId payment_id;
  AmountMinor amount_minor;
  Currency currency;
};

using Event =
    std::variant<ProductDefined, StockAdjusted, OrderPlaced, StockReserved, StockReleased,
                 OrderCancelled, OrderExpired, OrderPaymentRequested, OrderPaid, StockCommitted,
                 OrderPaymentFailed, OrderShipped, OrderDelivered, OrderCompleted, OrderDisputed,
                 OrderRefunded, StockRestocked, WalletDeposited, PaymentInitiated, PaymentCaptured,
                 PaymentFailed, PaymentRefunded, EscrowHeld, EscrowReleased, EscrowRefunded,
                 PayoutRequested, PayoutCompleted, PayoutRejected, OrderPaymentReturned>;

// The type name written to the log envelope, e.g. "OrderPlaced".
std::string_view event_type(const Event& e) noexcept;
// The stream the event belongs to, e.g. "order-o123".
std::string event_stream(const Event& e);

inline std::string product_stream(const Sku& sku) { return "product-" + sku.value(); }
inline std::string order_stream(const OrderId& id) { return "order-" + id.value(); }
// A wallet is per owner and currency; currencies may live in different partitions.
inline std::string wallet_stream(const OwnerId& o, const Currency& c) {
  return "wallet-" + o.value() + "." + c.value();
}
inline std::string payment_stream(const PaymentId& id) { return "payment-" + id.value(); }
inline std::string escrow_stream(const OrderId& id) { return "escrow-" + id.value(); }
inline std::string payout_stream(const PayoutId& id) { return "payout-" + id.value(); }

}  // namespace ordo

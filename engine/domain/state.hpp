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
  disputed,
};

std::string_view to_string(OrderStatus s) noexcept;
bool parse_order_status(std::string_view s, OrderStatus& out) noexcept;

// An order holds its lines' stock reserved from placement until payment commits it or a
// cancel or expiry releases it.
constexpr bool holds_reservation(OrderStatus s) noexcept {
  return s == OrderStatus::reserved || s == OrderStatus::payment_pending;
}

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
  // Set by the lifecycle after placement.
  PaymentId payment_id;  // of the current or last payment attempt
  PaymentMethod payment_method = PaymentMethod::wallet;
  TimestampMs release_at{0};  // automatic escrow release, once delivered
};

// ---- Ledger aggregates, held by the partition that owns their currency ----

struct WalletKey {
  OwnerId owner;
  Currency currency;
  friend auto operator<=>(const WalletKey&, const WalletKey&) = default;
  friend bool operator==(const WalletKey&, const WalletKey&) = default;
};

struct Wallet {
  OwnerId owner;
  Currency currency;
  AmountMinor balance_minor{0};
  AmountMinor held_minor{0};  // requested payouts not yet completed or rejected
  int64_t version = 0;        // of the stream wallet-{owner}.{currency} (deposits)
  AmountMinor available() const { return AmountMinor{balance_minor.value() - held_minor.value()}; }
};

enum class PaymentStatus { pending, captured, failed, refunded };
std::string_view to_string(PaymentStatus s) noexcept;
bool parse_payment_status(std::string_view s, PaymentStatus& out) noexcept;

struct Payment {
  PaymentId payment_id;
  OrderId order_id;
  PaymentMethod method = PaymentMethod::wallet;
  CustomerId buyer;
  SellerId seller;
  AmountMinor amount_minor{0};
  Currency currency;
  PaymentStatus status = PaymentStatus::pending;
  AmountMinor refunded_minor{0};
  int64_t version = 0;
};

enum class EscrowStatus { held, released, refunded };
std::string_view to_string(EscrowStatus s) noexcept;
bool parse_escrow_status(std::string_view s, EscrowStatus& out) noexcept;

struct Escrow {
  OrderId order_id;
  PaymentId payment_id;
  std::string source_account;  // where a refund goes back to
  CustomerId buyer;
  SellerId seller;
  Currency currency;
  AmountMinor amount_minor{0};  // what was held
  AmountMinor held_minor{0};    // what is still held (less partial refunds)
  EscrowStatus status = EscrowStatus::held;
  int64_t version = 0;
};

enum class PayoutStatus { requested, completed, rejected };
std::string_view to_string(PayoutStatus s) noexcept;
bool parse_payout_status(std::string_view s, PayoutStatus& out) noexcept;

struct Payout {
  PayoutId payout_id;
  OwnerId owner;
  Currency currency;
  AmountMinor amount_minor{0};
  std::string destination;
  PayoutStatus status = PayoutStatus::requested;
  int64_t version = 0;
};

struct WalletKeyHash {
  size_t operator()(const WalletKey& k) const noexcept {
    return std::hash<std::string>()(k.owner.value()) * 31 +
           std::hash<std::string>()(k.currency.value());
  }
};

struct PartitionState {
  // Orders are never removed, so their map only grows (a million and more in a long log),
  // and a command's first lookup of an order is a cache miss per node libstdc++'s chain
  // walks (the bucket points at the node before the bucket's first). At a quarter of the
  // default load factor most lookups of a new order find an empty bucket: 32 bytes of
  // buckets per order for a 10-20 % faster `ordo replay verify` over 1.25 M orders
  // (bench/RESULTS.md).
  static constexpr float kOrdersMaxLoadFactor = 0.25f;
  PartitionState() { orders.max_load_factor(kOrdersMaxLoadFactor); }

  std::unordered_map<Sku, Product> products;
  std::unordered_map<OrderId, Order> orders;
  std::unordered_map<WalletKey, Wallet, WalletKeyHash> wallets;
  std::unordered_map<PaymentId, Payment> payments;
  std::unordered_map<OrderId, Escrow> escrows;
  std::unordered_map<PayoutId, Payout> payouts;
  // Balances of the accounts that are neither wallets nor escrows (platform:fees,
  // external:bank, external:card), per currency: key "{account}/{currency}".
  std::unordered_map<std::string, int64_t> other_accounts;
  // Provider webhook event ids already applied (a repeat changes nothing).
  std::unordered_map<std::string, PaymentId> provider_events;

  const Wallet* find_wallet(const OwnerId& o, const Currency& c) const {
    auto it = wallets.find(WalletKey{o, c});
    return it == wallets.end() ? nullptr : &it->second;
  }
  const Payment* find_payment(const PaymentId& id) const {
    auto it = payments.find(id);
    return it == payments.end() ? nullptr : &it->second;
  }
  const Escrow* find_escrow(const OrderId& id) const {
    auto it = escrows.find(id);
    return it == escrows.end() ? nullptr : &it->second;
  }
  const Payout* find_payout(const PayoutId& id) const {
    auto it = payouts.find(id);
    return it == payouts.end() ? nullptr : &it->second;
  }

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

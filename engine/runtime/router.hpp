#pragma once
// Routing by consistency key (DESIGN §4): a seller's catalogue and the orders placed with
// that seller share a partition. The router keeps the indexes it needs (SKU → seller,
// order → partition and parties) from committed events, and claims new ids at routing time
// so that two partitions never create the same SKU or order.
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <variant>

#include "engine/domain/commands.hpp"
#include "engine/domain/decide.hpp"
#include "engine/domain/state.hpp"
#include "engine/log/position.hpp"

namespace ordo {

struct OrderRef {
  PartitionId partition;
  CustomerId customer_id;
  SellerId seller_id;
  bool committed = false;  // false while only claimed by an in-flight PlaceOrder
};

struct ProductRef {
  SellerId seller_id;
  bool committed = false;
  int claims = 0;  // in-flight DefineProducts of this seller holding the SKU
};

struct PayoutRef {
  PartitionId partition;
  OwnerId owner;
  bool committed = false;  // false while only claimed by an in-flight RequestPayout
};

// A payment id is claimed by the PayOrder that names it (in the order's partition) and
// located once its PaymentInitiated commits (in the ledger's): ids stay unique across
// partitions and currencies.
struct PaymentRef {
  PartitionId partition;
  bool committed = false;
};

struct Routed {
  PartitionId partition;
  // True when this command holds a claim on a new SKU or order id, which it must release
  // if it is rejected or fails. SKU claims are counted, so one release never frees a claim
  // another in-flight definition still holds.
  bool owns_claim = false;
};

using Route = std::variant<Routed, Rejection>;

class Router {
 public:
  explicit Router(uint32_t partitions) : partitions_(partitions) {}

  uint32_t partition_count() const { return partitions_; }
  // Stable across builds and runs (FNV-1a), unlike std::hash.
  PartitionId partition_for_seller(const SellerId& seller) const;
  // The ledger partition of a currency: wallets, payments, escrows and payouts in it.
  PartitionId partition_for_currency(const Currency& currency) const;

  // Chooses the partition of a client command, claiming new ids. A Rejection here means
  // the command can be refused without reaching a partition.
  Route route(const Command& c);
  // Releases a claim made by route() for a command that was then rejected.
  void release_claim(const Command& c);

  // Index maintenance from committed events and from recovered state.
  void on_committed(PartitionId p, const Event& e);
  void load(PartitionId p, const PartitionState& s);

  std::optional<SellerId> seller_of(const Sku& sku) const;
  std::optional<OrderRef> order(const OrderId& id) const;
  std::optional<PayoutRef> payout(const PayoutId& id) const;

 private:
  uint32_t partitions_;
  mutable std::shared_mutex mu_;
  std::unordered_map<Sku, ProductRef> products_;
  std::unordered_map<OrderId, OrderRef> orders_;
  std::unordered_map<PaymentId, PaymentRef> payments_;
  std::unordered_map<PayoutId, PayoutRef> payouts_;
};

}  // namespace ordo

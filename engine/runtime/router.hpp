#pragma once
// Routing by consistency key (DESIGN §4): a seller's catalogue and the orders placed with
// that seller share a partition. The router keeps the indexes it needs (SKU → seller,
// order → partition and parties) from committed events, and claims new ids at routing time
// so that two partitions never create the same SKU or order.
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
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

// The command would take, or refers to, an id whose claim is in doubt: an earlier write
// that claimed it failed with its outcome unknown, and its partition has not yet read back
// what the log holds. Refused as a failure to retry, not as a rejection: the id may be free,
// or may exist (a PayOrder for the order whose PlaceOrder is in doubt is not a 404).
struct ClaimInDoubt {
  std::string what;  // "order o-1", for the error message
};

using Route = std::variant<Routed, Rejection, ClaimInDoubt>;

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
  // Releases a claim made by route() for a command that was then rejected, or whose write
  // was never attempted or certainly failed.
  void release_claim(const Command& c);
  // A claim whose command's write failed with its outcome unknown (a Kafka commit that timed
  // out, an fsync that failed): the events may be in the log. Released at once, the id
  // could be taken by another partition (another seller's order with the same id) before
  // this one's recovery finds the events: two aggregates with one id. So the claim is held,
  // and route() answers ClaimInDoubt for it, until the partition has recovered from the log
  // and settles it: `landed` says whether the recovered state holds the command's effect.
  void hold_in_doubt(const Command& c);
  void settle_in_doubt(const Command& c, bool landed);
  // Whether an id of any kind (order, payment, payout, product) is in doubt: the HTTP layer
  // answers 503, not 404, for a path id it cannot find while it is.
  bool is_in_doubt(const std::string& id) const;

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
  // Claims in doubt, by "kind id" (`claim_name`), with how many failed writes hold each.
  std::unordered_map<std::string, int> in_doubt_;
  // `kind` "order", "payment", "payout" or "product", as claim_name writes it. Under mu_.
  std::optional<ClaimInDoubt> doubt_about(std::string_view kind, const std::string& id) const;
  void release_claim_locked(const Command& c);
};

}  // namespace ordo

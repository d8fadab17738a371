#pragma once
// The aggregates a partition changed since its last state snapshot. Events mark what they
// touch; a snapshot writes those records into the group commit's StateDelta.
#include <set>
#include <string>
#include <unordered_set>

#include "engine/domain/events.hpp"
#include "engine/domain/state.hpp"
#include "engine/log/position.hpp"
#include "engine/log/state_delta.hpp"

namespace ordo {

class DirtyAggregates {
 public:
  void mark(const Event& e);
  void write(StateDelta& delta, PartitionId p, const PartitionState& s) const;
  void clear();
  size_t size() const;
  bool empty() const { return size() == 0; }
  // Every aggregate of a state, for a replay that rebuilt it.
  void mark_all(const PartitionState& s);

 private:
  std::unordered_set<Sku> products_;
  std::unordered_set<OrderId> orders_;
  std::set<WalletKey> wallets_;
  std::unordered_set<PaymentId> payments_;
  std::unordered_set<OrderId> escrows_;
  std::unordered_set<PayoutId> payouts_;
  std::set<std::string> accounts_;
  std::set<std::string> provider_events_;
};

}  // namespace ordo

#include "engine/runtime/dirty_aggregates.hpp"

#include "engine/domain/ledger.hpp"
#include "engine/state/state_store.hpp"

namespace ordo {

void DirtyAggregates::mark(const Event& event) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (requires { e.sku; }) {
          products_.insert(e.sku);
        } else if constexpr (std::is_same_v<T, PaymentInitiated> ||
                             std::is_same_v<T, PaymentCaptured> ||
                             std::is_same_v<T, PaymentFailed> ||
                             std::is_same_v<T, PaymentRefunded>) {
          payments_.insert(e.payment_id);
          if constexpr (requires { e.provider_event_id; })
            if (!e.provider_event_id.empty()) provider_events_.insert(e.provider_event_id);
        } else if constexpr (std::is_same_v<T, EscrowHeld> || std::is_same_v<T, EscrowReleased> ||
                             std::is_same_v<T, EscrowRefunded>) {
          escrows_.insert(e.order_id);
        } else if constexpr (requires { e.payout_id; }) {
          payouts_.insert(e.payout_id);
        } else if constexpr (requires { e.order_id; }) {
          orders_.insert(e.order_id);
        }
        // WalletDeposited: its wallet is marked from the postings below.
      },
      event);
  // Money moves through postings: every wallet and other account they touch.
  for (const auto& p : postings(event)) {
    if (p.account.starts_with("wallet:"))
      wallets_.insert(WalletKey{OwnerId{p.account.substr(7)}, p.currency});
    else if (!p.account.starts_with("escrow:"))
      accounts_.insert(p.account + "/" + p.currency.value());
  }
}

void DirtyAggregates::write(StateDelta& d, PartitionId p, const PartitionState& s) const {
  for (const auto& k : products_) StateStore::put_product(d, p, s.products.at(k));
  for (const auto& k : orders_) StateStore::put_order(d, p, s.orders.at(k));
  for (const auto& k : wallets_) StateStore::put_wallet(d, p, s.wallets.at(k));
  for (const auto& k : payments_) StateStore::put_payment(d, p, s.payments.at(k));
  for (const auto& k : escrows_) StateStore::put_escrow(d, p, s.escrows.at(k));
  for (const auto& k : payouts_) {
    const Payout& x = s.payouts.at(k);
    StateStore::put_payout(d, p, x);
    // A payout's hold lives in its wallet: a completed or rejected payout changed it.
    StateStore::put_wallet(d, p, s.wallets.at(WalletKey{x.owner, x.currency}));
  }
  for (const auto& k : accounts_) StateStore::put_account(d, p, k, s.other_accounts.at(k));
  for (const auto& k : provider_events_)
    StateStore::put_provider_event(d, p, k, s.provider_events.at(k));
}

void DirtyAggregates::mark_all(const PartitionState& s) {
  for (const auto& [k, v] : s.products) products_.insert(k);
  for (const auto& [k, v] : s.orders) orders_.insert(k);
  for (const auto& [k, v] : s.wallets) wallets_.insert(k);
  for (const auto& [k, v] : s.payments) payments_.insert(k);
  for (const auto& [k, v] : s.escrows) escrows_.insert(k);
  for (const auto& [k, v] : s.payouts) payouts_.insert(k);
  for (const auto& [k, v] : s.other_accounts) accounts_.insert(k);
  for (const auto& [k, v] : s.provider_events) provider_events_.insert(k);
}

void DirtyAggregates::clear() {
  products_.clear();
  orders_.clear();
  wallets_.clear();
  payments_.clear();
  escrows_.clear();
  payouts_.clear();
  accounts_.clear();
  provider_events_.clear();
}

size_t DirtyAggregates::size() const {
  return products_.size() + orders_.size() + wallets_.size() + payments_.size() + escrows_.size() +
         payouts_.size() + accounts_.size() + provider_events_.size();
}

}  // namespace ordo

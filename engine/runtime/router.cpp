#include "engine/runtime/router.hpp"

#include <fmt/core.h>

#include <mutex>

#include "engine/domain/assert.hpp"

namespace ordo {

namespace {
uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// An id's key in the claims in doubt: its kind and the id ("order o-1").
std::string claim_key(std::string_view kind, const std::string& id) {
  return fmt::format("{} {}", kind, id);
}

// The key of the new id a command claims, if it claims one.
std::optional<std::string> claim_name(const Command& command) {
  if (const auto* c = std::get_if<PlaceOrder>(&command))
    return claim_key("order", c->order_id.value());
  if (const auto* y = std::get_if<PayOrder>(&command))
    return claim_key("payment", y->payment_id.value());
  if (const auto* u = std::get_if<RequestPayout>(&command))
    return claim_key("payout", u->payout_id.value());
  if (const auto* d = std::get_if<DefineProduct>(&command))
    return claim_key("product", d->sku.value());
  return std::nullopt;
}
}  // namespace

std::optional<ClaimInDoubt> Router::doubt_about(std::string_view kind,
                                                const std::string& id) const {
  if (in_doubt_.empty()) return std::nullopt;  // the usual case: nothing to build or look up
  std::string name = claim_key(kind, id);
  if (!in_doubt_.contains(name)) return std::nullopt;
  return ClaimInDoubt{std::move(name)};
}

PartitionId Router::partition_for_seller(const SellerId& seller) const {
  return PartitionId{static_cast<uint32_t>(fnv1a(seller.value()) % partitions_)};
}

PartitionId Router::partition_for_currency(const Currency& currency) const {
  return PartitionId{
      static_cast<uint32_t>(fnv1a(currency.value(), fnv1a("ledger:")) % partitions_)};
}

Route Router::route(const Command& command) {
  return std::visit(
      [&](const auto& c) -> Route {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, DefineProduct>) {
          std::unique_lock lock(mu_);
          if (auto d = doubt_about("product", c.sku.value())) return *d;
          auto [it, inserted] = products_.try_emplace(c.sku, ProductRef{c.seller_id, false, 0});
          if (!inserted && it->second.seller_id != c.seller_id)
            return Rejection{RejectCode::already_exists,
                             fmt::format("product {} already exists", c.sku.value())};
          ++it->second.claims;
          return Routed{partition_for_seller(c.seller_id), true};
        } else if constexpr (std::is_same_v<T, AdjustStock>) {
          std::shared_lock lock(mu_);
          auto it = products_.find(c.sku);
          if (it == products_.end() || !it->second.committed) {
            if (auto d = doubt_about("product", c.sku.value())) return *d;
            return Rejection{RejectCode::not_found,
                             fmt::format("product {} not found", c.sku.value())};
          }
          return Routed{partition_for_seller(it->second.seller_id), false};
        } else if constexpr (std::is_same_v<T, PlaceOrder>) {
          std::unique_lock lock(mu_);
          std::optional<SellerId> seller;
          for (const auto& l : c.lines) {
            auto it = products_.find(l.sku);
            if (it == products_.end() || !it->second.committed) {
              if (auto d = doubt_about("product", l.sku.value())) return *d;
              return Rejection{RejectCode::unknown_sku,
                               fmt::format("unknown sku {}", l.sku.value())};
            }
            if (seller && *seller != it->second.seller_id)
              return Rejection{RejectCode::mixed_sellers,
                               "all lines of an order must have the same seller"};
            seller = it->second.seller_id;
          }
          if (!seller) return Rejection{RejectCode::invalid_command, "an order needs lines"};
          if (auto d = doubt_about("order", c.order_id.value())) return *d;
          PartitionId p = partition_for_seller(*seller);
          auto [it, inserted] =
              orders_.try_emplace(c.order_id, OrderRef{p, c.customer_id, *seller, false});
          if (!inserted)
            return Rejection{RejectCode::already_exists,
                             fmt::format("order {} already exists", c.order_id.value())};
          return Routed{p, true};
        } else if constexpr (std::is_same_v<T, RequestPayout>) {
          std::unique_lock lock(mu_);
          if (auto d = doubt_about("payout", c.payout_id.value())) return *d;
          auto [it, inserted] = payouts_.try_emplace(
              c.payout_id, PayoutRef{partition_for_currency(c.currency), c.owner, false});
          if (!inserted)
            return Rejection{RejectCode::already_exists,
                             fmt::format("payout {} already exists", c.payout_id.value())};
          return Routed{it->second.partition, true};
        } else if constexpr (std::is_same_v<T, PayOrder>) {
          std::unique_lock lock(mu_);
          auto o = orders_.find(c.order_id);
          if (o == orders_.end() || !o->second.committed) {
            if (auto d = doubt_about("order", c.order_id.value())) return *d;
            return Rejection{RejectCode::not_found,
                             fmt::format("order {} not found", c.order_id.value())};
          }
          if (auto d = doubt_about("payment", c.payment_id.value())) return *d;
          auto [it, inserted] =
              payments_.try_emplace(c.payment_id, PaymentRef{PartitionId{0}, false});
          if (!inserted)
            return Rejection{RejectCode::already_exists,
                             fmt::format("payment {} already exists", c.payment_id.value())};
          return Routed{o->second.partition, true};
        } else if constexpr (std::is_same_v<T, DepositToWallet> ||
                             std::is_same_v<T, InitiatePayment> ||
                             std::is_same_v<T, ReleaseEscrow> || std::is_same_v<T, RefundEscrow>) {
          // The ledger is keyed by currency (DESIGN §4).
          return Routed{partition_for_currency(c.currency), false};
        } else if constexpr (std::is_same_v<T, ApplyProviderEvent>) {
          std::shared_lock lock(mu_);
          auto it = payments_.find(c.payment_id);
          if (it == payments_.end() || !it->second.committed) {
            if (auto d = doubt_about("payment", c.payment_id.value())) return *d;
            return Rejection{RejectCode::not_found,
                             fmt::format("payment {} not found", c.payment_id.value())};
          }
          return Routed{it->second.partition, false};
        } else if constexpr (std::is_same_v<T, CompletePayout> || std::is_same_v<T, RejectPayout>) {
          std::shared_lock lock(mu_);
          auto it = payouts_.find(c.payout_id);
          if (it == payouts_.end() || !it->second.committed) {
            if (auto d = doubt_about("payout", c.payout_id.value())) return *d;
            return Rejection{RejectCode::not_found,
                             fmt::format("payout {} not found", c.payout_id.value())};
          }
          return Routed{it->second.partition, false};
        } else {
          // Every other command targets an existing order: cancel, expiry and the lifecycle.
          std::shared_lock lock(mu_);
          auto it = orders_.find(c.order_id);
          if (it == orders_.end() || !it->second.committed) {
            if (auto d = doubt_about("order", c.order_id.value())) return *d;
            return Rejection{RejectCode::not_found,
                             fmt::format("order {} not found", c.order_id.value())};
          }
          return Routed{it->second.partition, false};
        }
      },
      command);
}

void Router::release_claim(const Command& command) {
  std::unique_lock lock(mu_);
  release_claim_locked(command);
}

bool Router::is_in_doubt(const std::string& id) const {
  std::shared_lock lock(mu_);
  for (std::string_view kind : {"order", "payment", "payout", "product"})
    if (doubt_about(kind, id)) return true;
  return false;
}

void Router::hold_in_doubt(const Command& command) {
  auto name = claim_name(command);
  if (!name) return;
  std::unique_lock lock(mu_);
  ++in_doubt_[*name];
}

void Router::settle_in_doubt(const Command& command, bool landed) {
  auto name = claim_name(command);
  if (!name) return;
  std::unique_lock lock(mu_);
  auto it = in_doubt_.find(*name);
  ORDO_ASSERT(it != in_doubt_.end() && it->second > 0, "settling {}, which is not in doubt", *name);
  if (--it->second == 0) in_doubt_.erase(it);
  // A landed command's id is committed in the router since the recovery loaded the state (a
  // product's claim count restarted there), and a landed PayOrder's payment id stays claimed
  // until its PaymentInitiated commits: only an id that did not land is let go.
  if (!landed) release_claim_locked(command);
}

void Router::release_claim_locked(const Command& command) {
  if (const auto* c = std::get_if<PlaceOrder>(&command)) {
    auto it = orders_.find(c->order_id);
    if (it != orders_.end() && !it->second.committed) orders_.erase(it);
  } else if (const auto* y = std::get_if<PayOrder>(&command)) {
    auto it = payments_.find(y->payment_id);
    if (it != payments_.end() && !it->second.committed) payments_.erase(it);
  } else if (const auto* u = std::get_if<RequestPayout>(&command)) {
    auto it = payouts_.find(u->payout_id);
    if (it != payouts_.end() && !it->second.committed) payouts_.erase(it);
  } else if (const auto* d = std::get_if<DefineProduct>(&command)) {
    auto it = products_.find(d->sku);
    if (it != products_.end() && --it->second.claims <= 0 && !it->second.committed)
      products_.erase(it);
  }
}

void Router::on_committed(PartitionId p, const Event& e) {
  if (const auto* d = std::get_if<ProductDefined>(&e)) {
    std::unique_lock lock(mu_);
    auto& ref = products_[d->sku];
    ref.seller_id = d->seller_id;
    ref.committed = true;
  } else if (const auto* o = std::get_if<OrderPlaced>(&e)) {
    std::unique_lock lock(mu_);
    // Usually claimed by route() with these very ids: marked committed in place, not
    // assigned again (two string copies per order, on the committer).
    auto it = orders_.find(o->order_id);
    if (it == orders_.end()) {
      orders_.emplace(o->order_id, OrderRef{p, o->customer_id, o->seller_id, true});
    } else {
      OrderRef& ref = it->second;
      ref.partition = p;
      ref.committed = true;
      if (ref.customer_id != o->customer_id) ref.customer_id = o->customer_id;
      if (ref.seller_id != o->seller_id) ref.seller_id = o->seller_id;
    }
  } else if (const auto* y = std::get_if<PaymentInitiated>(&e)) {
    std::unique_lock lock(mu_);
    payments_[y->payment_id] = PaymentRef{p, true};
  } else if (const auto* u = std::get_if<PayoutRequested>(&e)) {
    std::unique_lock lock(mu_);
    payouts_[u->payout_id] = PayoutRef{p, u->owner, true};
  }
}

void Router::load(PartitionId p, const PartitionState& s) {
  std::unique_lock lock(mu_);
  for (const auto& [sku, prod] : s.products) products_[sku] = ProductRef{prod.seller_id, true, 0};
  for (const auto& [id, o] : s.orders) orders_[id] = OrderRef{p, o.customer_id, o.seller_id, true};
  // An order's payment id stays claimed even before its ledger partition knows it.
  for (const auto& [id, o] : s.orders)
    if (!o.payment_id.value().empty())
      payments_.try_emplace(o.payment_id, PaymentRef{PartitionId{0}, false});
  for (const auto& [id, y] : s.payments) payments_[id] = PaymentRef{p, true};
  for (const auto& [id, u] : s.payouts) payouts_[id] = PayoutRef{p, u.owner, true};
}

std::optional<PayoutRef> Router::payout(const PayoutId& id) const {
  std::shared_lock lock(mu_);
  auto it = payouts_.find(id);
  if (it == payouts_.end()) return std::nullopt;
  return it->second;
}

std::optional<SellerId> Router::seller_of(const Sku& sku) const {
  std::shared_lock lock(mu_);
  auto it = products_.find(sku);
  if (it == products_.end() || !it->second.committed) return std::nullopt;
  return it->second.seller_id;
}

std::optional<OrderRef> Router::order(const OrderId& id) const {
  std::shared_lock lock(mu_);
  auto it = orders_.find(id);
  if (it == orders_.end() || !it->second.committed) return std::nullopt;
  return it->second;
}

}  // namespace ordo

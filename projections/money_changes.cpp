#include "projections/money_changes.hpp"

#include "engine/domain/ledger.hpp"

namespace ordo::projections {
namespace {

constexpr std::string_view kWalletPrefix = "wallet:";
constexpr std::string_view kEscrowPrefix = "escrow:";

template <typename Change>
void touch(Change& c, const Envelope& env) {
  c.version = std::max(c.version, env.stream_version);
  c.updated_ms = std::max(c.updated_ms, env.occurred_at.value());
}

}  // namespace

bool MoneyChanges::add(const Envelope& env, const Event& event) {
  const int64_t at = env.occurred_at.value();
  // The postings first: every leg is a ledger row, and moves a wallet or an escrow.
  const std::vector<Posting> legs = postings(event);
  for (size_t i = 0; i < legs.size(); ++i) {
    const Posting& p = legs[i];
    EntryRow row{env.partition.value(),
                 env.offset.value(),
                 static_cast<int64_t>(i),
                 p.account,
                 p.currency.value(),
                 p.amount_minor,
                 env.type,
                 std::nullopt,
                 at};
    std::visit(
        [&](const auto& e) {
          if constexpr (requires { e.order_id; }) row.order_id = e.order_id.value();
        },
        event);
    entries.push_back(std::move(row));
    if (p.account.starts_with(kWalletPrefix)) {
      auto& w = wallets[{p.account.substr(kWalletPrefix.size()), p.currency.value()}];
      w.balance_delta += p.amount_minor;
      w.updated_ms = std::max(w.updated_ms, at);
    } else if (p.account.starts_with(kEscrowPrefix)) {
      escrows[p.account.substr(kEscrowPrefix.size())].held_delta += p.amount_minor;
    }
  }

  return std::visit(
      [&](const auto& e) -> bool {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, WalletDeposited>) {
          touch(wallets[{e.owner.value(), e.currency.value()}], env);
        } else if constexpr (std::is_same_v<T, PaymentInitiated>) {
          auto& p = payments[e.payment_id.value()];
          p.initiated = true;
          p.order_id = e.order_id.value();
          p.method = std::string(to_string(e.method));
          p.buyer = e.buyer.value();
          p.seller = e.seller.value();
          p.currency = e.currency.value();
          p.amount_minor = e.amount_minor.value();
          p.status = "pending";
          touch(p, env);
        } else if constexpr (std::is_same_v<T, PaymentCaptured> ||
                             std::is_same_v<T, PaymentFailed>) {
          auto& p = payments[e.payment_id.value()];
          p.status = std::is_same_v<T, PaymentCaptured> ? "captured" : "failed";
          if constexpr (std::is_same_v<T, PaymentFailed>) p.reason = e.reason;
          touch(p, env);
        } else if constexpr (std::is_same_v<T, PaymentRefunded>) {
          auto& p = payments[e.payment_id.value()];
          p.refunded_delta += e.amount_minor.value();
          // Known here only when the payment began in this batch; otherwise the writer
          // compares with the stored row.
          if (p.initiated && p.refunded_delta == p.amount_minor) p.status = "refunded";
          touch(p, env);
        } else if constexpr (std::is_same_v<T, EscrowHeld>) {
          auto& x = escrows[e.order_id.value()];
          x.held = true;
          x.payment_id = e.payment_id.value();
          x.buyer = e.buyer.value();
          x.seller = e.seller.value();
          x.currency = e.currency.value();
          x.amount_minor = e.amount_minor.value();
          x.status = "held";
          touch(x, env);
        } else if constexpr (std::is_same_v<T, EscrowReleased>) {
          auto& x = escrows[e.order_id.value()];
          x.status = "released";
          x.fee_minor = e.fee_minor.value();
          touch(x, env);
        } else if constexpr (std::is_same_v<T, EscrowRefunded>) {
          auto& x = escrows[e.order_id.value()];
          if (e.resolves) x.status = "refunded";
          touch(x, env);
        } else if constexpr (std::is_same_v<T, PayoutRequested>) {
          auto& p = payouts[e.payout_id.value()];
          p.requested = true;
          p.owner = e.owner.value();
          p.currency = e.currency.value();
          p.destination = e.destination;
          p.amount_minor = e.amount_minor.value();
          p.status = "requested";
          touch(p, env);
          auto& w = wallets[{e.owner.value(), e.currency.value()}];
          w.held_delta += e.amount_minor.value();
          w.updated_ms = std::max(w.updated_ms, at);
        } else if constexpr (std::is_same_v<T, PayoutCompleted>) {
          auto& p = payouts[e.payout_id.value()];
          p.status = "completed";
          touch(p, env);
          auto& w = wallets[{e.owner.value(), e.currency.value()}];
          w.held_delta -= e.amount_minor.value();  // the hold becomes the debit
          w.updated_ms = std::max(w.updated_ms, at);
        } else if constexpr (std::is_same_v<T, PayoutRejected>) {
          auto& p = payouts[e.payout_id.value()];
          p.status = "rejected";
          p.reason = e.reason;
          touch(p, env);
          released_holds.push_back(PayoutRelease{e.payout_id.value(), at});
        } else {
          return !legs.empty();
        }
        return true;
      },
      event);
}

}  // namespace ordo::projections

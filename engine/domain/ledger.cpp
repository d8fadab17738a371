// The ledger: wallets, payments, escrow and payouts as double-entry transfers. Pure.
#include "engine/domain/ledger.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>

#include "engine/domain/assert.hpp"
#include "engine/domain/decide_parts.hpp"

namespace ordo {

int64_t platform_fee_minor(int64_t amount_minor, int64_t fee_bps) noexcept {
  // amount ≤ 10^15 and bps ≤ 10^4 fit in 128 bits; integer division rounds down.
  return static_cast<int64_t>(static_cast<__int128>(amount_minor) * fee_bps / kMaxFeeBps);
}

std::vector<Posting> postings(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::vector<Posting> {
        using T = std::decay_t<decltype(e)>;
        const int64_t a = [&] {
          if constexpr (requires { e.amount_minor; })
            return e.amount_minor.value();
          else
            return int64_t{0};
        }();
        if constexpr (std::is_same_v<T, WalletDeposited>) {
          return {{std::string(kExternalBank), e.currency, -a},
                  {wallet_account(e.owner), e.currency, a}};
        } else if constexpr (std::is_same_v<T, EscrowHeld>) {
          return {{e.from_account, e.currency, -a}, {escrow_account(e.order_id), e.currency, a}};
        } else if constexpr (std::is_same_v<T, EscrowReleased>) {
          const int64_t fee = e.fee_minor.value();
          std::vector<Posting> out{
              {escrow_account(e.order_id), e.currency, -a},
              {wallet_account(OwnerId{e.seller.value()}), e.currency, a - fee}};
          if (fee) out.push_back({std::string(kPlatformFees), e.currency, fee});
          return out;
        } else if constexpr (std::is_same_v<T, EscrowRefunded>) {
          return {{escrow_account(e.order_id), e.currency, -a}, {e.to_account, e.currency, a}};
        } else if constexpr (std::is_same_v<T, PayoutCompleted>) {
          return {{wallet_account(e.owner), e.currency, -a},
                  {std::string(kExternalBank), e.currency, a}};
        } else {
          return {};
        }
      },
      event);
}

namespace parts {
namespace {

bool amount_ok(AmountMinor a) { return a.value() > 0 && a.value() <= kMaxAmountMinor; }
bool text_ok(const std::string& t) { return is_text_within(t, kMaxReasonLength); }
// A wallet's balance stays far below int64's limit so that sums never overflow.
constexpr int64_t kMaxWalletMinor = kMaxAmountMinor * 1000;
// The platform's own accounts (the bank, the card scheme, the fees) add up every movement
// ever made through them: they stay within ±4·10^18, so no sum can leave int64.
constexpr int64_t kMaxAccountMinor = kMaxAmountMinor * 4000;

std::string_view wallet_owner_of(std::string_view account) {
  return account.starts_with("wallet:") ? account.substr(7) : std::string_view{};
}

// Adds a posting to the balance it belongs to. Wallets and escrows keep theirs in the
// aggregate; other accounts in `other_accounts`.
void post(PartitionState& s, const Posting& p) {
  if (auto owner = wallet_owner_of(p.account); !owner.empty()) {
    WalletKey k{OwnerId{std::string(owner)}, p.currency};
    auto [it, inserted] = s.wallets.try_emplace(k, Wallet{k.owner, k.currency});
    it->second.balance_minor = AmountMinor{it->second.balance_minor.value() + p.amount_minor};
    ORDO_ASSERT(it->second.available().value() >= 0, "wallet {} {} would go negative", owner,
                p.currency.value());
  } else if (p.account.starts_with("escrow:")) {
    auto it = s.escrows.find(OrderId{p.account.substr(7)});
    ORDO_ASSERT(it != s.escrows.end(), "posting to unknown {}", p.account);
    it->second.held_minor = AmountMinor{it->second.held_minor.value() + p.amount_minor};
    ORDO_ASSERT(it->second.held_minor.value() >= 0, "{} would go negative", p.account);
  } else {
    s.other_accounts[p.account + "/" + p.currency.value()] += p.amount_minor;
  }
}

// Where an escrow's money can come from and go back to: the card scheme or a wallet. An
// escrow refunded into itself would still hold what it claims to have resolved.
bool is_payer_account(std::string_view account) {
  return account == kExternalCard ||
         (account.starts_with("wallet:") && is_valid_id(wallet_owner_of(account)));
}

int64_t balance_of(const PartitionState& s, const Posting& p) {
  if (auto owner = wallet_owner_of(p.account); !owner.empty()) {
    const Wallet* w = s.find_wallet(OwnerId{std::string(owner)}, p.currency);
    return w ? w->balance_minor.value() : 0;
  }
  auto it = s.other_accounts.find(p.account + "/" + p.currency.value());
  return it == s.other_accounts.end() ? 0 : it->second;
}

void note_provider_event(PartitionState& s, const std::string& id, const PaymentId& payment) {
  if (!id.empty()) s.provider_events.emplace(id, payment);
}

}  // namespace

Decision within_ceilings(const PartitionState& s, Decision decision) {
  const auto* events = std::get_if<std::vector<Event>>(&decision);
  if (!events) return decision;
  // What the decision moves on each account, over all its events (escrows are bounded by
  // what they hold, so only wallets and the platform's accounts are counted).
  std::vector<Posting> moved;
  for (const Event& e : *events)
    for (const Posting& p : postings(e)) {
      if (p.account.starts_with("escrow:")) continue;
      auto it = std::find_if(moved.begin(), moved.end(), [&](const Posting& m) {
        return m.account == p.account && m.currency == p.currency;
      });
      if (it == moved.end())
        moved.push_back(p);
      else
        it->amount_minor += p.amount_minor;  // each ≤ kMaxAmountMinor: no overflow
    }
  for (const Posting& m : moved) {
    const int64_t before = balance_of(s, m);
    const int64_t after = before + m.amount_minor;  // |before| ≤ 4·10^18: no overflow
    if (!wallet_owner_of(m.account).empty()) {
      if (m.amount_minor > 0 && after > kMaxWalletMinor)
        return reject(RejectCode::amount_overflow,
                      fmt::format("{} {}: the balance would pass its ceiling of {}", m.account,
                                  m.currency.value(), kMaxWalletMinor));
    } else if ((after > kMaxAccountMinor || after < -kMaxAccountMinor) &&
               std::abs(after) > std::abs(before)) {
      return reject(RejectCode::amount_overflow,
                    fmt::format("{} {}: the balance would pass its ceiling of ±{}", m.account,
                                m.currency.value(), kMaxAccountMinor));
    }
  }
  return decision;
}

Decision decide_cmd(const PartitionState&, const DepositToWallet& c, const DecideContext&) {
  if (!is_valid_id(c.owner.value()) || !is_valid_currency(c.currency.value()) ||
      !amount_ok(c.amount_minor) || !text_ok(c.reference))
    return reject(RejectCode::invalid_command, "deposit fields out of range");
  // The wallet's ceiling is checked with every other credit, in within_ceilings.
  return std::vector<Event>{WalletDeposited{c.owner, c.currency, c.amount_minor, c.reference}};
}

Decision decide_cmd(const PartitionState& s, const InitiatePayment& c, const DecideContext&) {
  // A free order (total 0) is paid too: its payment settles at once, whatever the method.
  if (!is_valid_id(c.payment_id.value()) || c.amount_minor.value() < 0 ||
      c.amount_minor.value() > kMaxAmountMinor || !is_valid_currency(c.currency.value()))
    return reject(RejectCode::invalid_command, "payment fields out of range");
  if (s.find_payment(c.payment_id))
    return reject(RejectCode::already_exists,
                  fmt::format("payment {} already exists", c.payment_id.value()));
  if (s.find_escrow(c.order_id))
    return reject(RejectCode::already_exists,
                  fmt::format("order {} is already paid", c.order_id.value()));
  std::vector<Event> events{PaymentInitiated{c.payment_id, c.order_id, c.method, c.buyer, c.seller,
                                             c.amount_minor, c.currency}};
  if (c.method == PaymentMethod::card && c.amount_minor.value() > 0)
    return events;  // the provider's webhook settles it
  const Wallet* w = s.find_wallet(OwnerId{c.buyer.value()}, c.currency);
  const int64_t available = w ? w->available().value() : 0;
  if (available < c.amount_minor.value()) {
    events.push_back(PaymentFailed{c.payment_id, c.order_id,
                                   fmt::format("insufficient_funds: available {}, needed {}",
                                               available, c.amount_minor.value()),
                                   ""});
    return events;
  }
  const std::string from = c.method == PaymentMethod::card
                               ? std::string(kExternalCard)
                               : wallet_account(OwnerId{c.buyer.value()});
  events.push_back(
      EscrowHeld{c.order_id, c.payment_id, from, c.buyer, c.seller, c.amount_minor, c.currency});
  events.push_back(PaymentCaptured{c.payment_id, c.order_id, c.amount_minor, ""});
  return events;
}

Decision decide_cmd(const PartitionState& s, const ApplyProviderEvent& c, const DecideContext&) {
  if (c.event_id.empty() || c.event_id.size() > kMaxIdLength || !is_valid_id(c.event_id))
    return reject(RejectCode::invalid_command, "event_id is not a valid id");
  if (s.provider_events.contains(c.event_id))
    return std::vector<Event>{};  // a repeat: nothing to do
  const Payment* p = s.find_payment(c.payment_id);
  if (!p)
    return reject(RejectCode::not_found, fmt::format("payment {} not found", c.payment_id.value()));
  if (p->method != PaymentMethod::card)
    return reject(RejectCode::invalid_transition, "only card payments are settled by the provider");
  switch (c.kind) {
    case ProviderEventKind::captured:
      if (p->status != PaymentStatus::pending)
        return reject(RejectCode::invalid_transition,
                      fmt::format("payment is {}, not pending", to_string(p->status)));
      if (c.amount_minor != p->amount_minor)
        return reject(RejectCode::amount_mismatch,
                      fmt::format("captured {} of a payment of {}", c.amount_minor.value(),
                                  p->amount_minor.value()));
      // One escrow per order: a second payment's capture could not be held (apply asserts
      // it). The order lets one payment wait at a time, so this is a guard, not a path.
      if (s.find_escrow(p->order_id))
        return reject(RejectCode::invalid_transition,
                      fmt::format("order {} is already paid", p->order_id.value()));
      return std::vector<Event>{
          EscrowHeld{p->order_id, p->payment_id, std::string(kExternalCard), p->buyer, p->seller,
                     p->amount_minor, p->currency},
          PaymentCaptured{p->payment_id, p->order_id, p->amount_minor, c.event_id}};
    case ProviderEventKind::failed:
      if (p->status != PaymentStatus::pending)
        return reject(RejectCode::invalid_transition,
                      fmt::format("payment is {}, not pending", to_string(p->status)));
      return std::vector<Event>{
          PaymentFailed{p->payment_id, p->order_id, "card payment failed", c.event_id}};
    case ProviderEventKind::refunded: {
      if (!amount_ok(c.amount_minor))
        return reject(RejectCode::invalid_command, "amount_minor must be positive");
      if (p->status != PaymentStatus::captured)
        return reject(RejectCode::invalid_transition,
                      fmt::format("payment is {}, not captured", to_string(p->status)));
      if (p->refunded_minor.value() + c.amount_minor.value() > p->amount_minor.value())
        return reject(RejectCode::refund_exceeds_capture,
                      fmt::format("refunds would reach {} of a capture of {}",
                                  p->refunded_minor.value() + c.amount_minor.value(),
                                  p->amount_minor.value()));
      const Escrow* e = s.find_escrow(p->order_id);
      if (!e || e->status != EscrowStatus::held || e->held_minor.value() < c.amount_minor.value())
        return reject(RejectCode::refund_exceeds_capture, "the escrow no longer holds that much");
      const bool all = e->held_minor == c.amount_minor;
      return std::vector<Event>{
          EscrowRefunded{p->order_id, std::string(kExternalCard), c.amount_minor, p->currency, all},
          PaymentRefunded{p->payment_id, p->order_id, c.amount_minor, c.event_id}};
    }
  }
  return reject(RejectCode::invalid_command, "unknown provider event");
}

Decision decide_cmd(const PartitionState& s, const ReleaseEscrow& c, const DecideContext& ctx) {
  const Escrow* e = s.find_escrow(c.order_id);
  if (!e)
    return reject(RejectCode::not_found, fmt::format("escrow {} not found", c.order_id.value()));
  if (e->status != EscrowStatus::held)
    return reject(RejectCode::invalid_transition,
                  fmt::format("escrow {} is already {}", c.order_id.value(), to_string(e->status)));
  const int64_t fee = platform_fee_minor(e->held_minor.value(), ctx.platform_fee_bps);
  return std::vector<Event>{
      EscrowReleased{e->order_id, e->seller, e->held_minor, AmountMinor{fee}, e->currency}};
}

Decision decide_cmd(const PartitionState& s, const RefundEscrow& c, const DecideContext&) {
  const Escrow* e = s.find_escrow(c.order_id);
  if (!e)
    return reject(RejectCode::not_found, fmt::format("escrow {} not found", c.order_id.value()));
  if (e->status != EscrowStatus::held)
    return reject(RejectCode::invalid_transition,
                  fmt::format("escrow {} is already {}", c.order_id.value(), to_string(e->status)));
  std::vector<Event> events{
      EscrowRefunded{e->order_id, e->source_account, e->held_minor, e->currency, true}};
  if (e->held_minor.value() > 0)
    events.push_back(PaymentRefunded{e->payment_id, e->order_id, e->held_minor, ""});
  return events;
}

Decision decide_cmd(const PartitionState& s, const RequestPayout& c, const DecideContext&) {
  if (!is_valid_id(c.payout_id.value()) || !is_valid_id(c.owner.value()) ||
      !is_valid_currency(c.currency.value()) || !amount_ok(c.amount_minor) ||
      c.destination.empty() || !text_ok(c.destination))
    return reject(RejectCode::invalid_command, "payout fields out of range");
  if (s.find_payout(c.payout_id))
    return reject(RejectCode::already_exists,
                  fmt::format("payout {} already exists", c.payout_id.value()));
  const Wallet* w = s.find_wallet(c.owner, c.currency);
  const int64_t available = w ? w->available().value() : 0;
  if (available < c.amount_minor.value())
    return reject(RejectCode::insufficient_funds,
                  fmt::format("available {}, requested {}", available, c.amount_minor.value()));
  return std::vector<Event>{
      PayoutRequested{c.payout_id, c.owner, c.currency, c.amount_minor, c.destination}};
}

Decision decide_cmd(const PartitionState& s, const CompletePayout& c, const DecideContext&) {
  const Payout* p = s.find_payout(c.payout_id);
  if (!p)
    return reject(RejectCode::not_found, fmt::format("payout {} not found", c.payout_id.value()));
  if (p->status != PayoutStatus::requested)
    return reject(RejectCode::invalid_transition,
                  fmt::format("payout is already {}", to_string(p->status)));
  return std::vector<Event>{PayoutCompleted{p->payout_id, p->owner, p->currency, p->amount_minor}};
}

Decision decide_cmd(const PartitionState& s, const RejectPayout& c, const DecideContext&) {
  if (!text_ok(c.reason))
    return reject(RejectCode::invalid_command, "reason must be UTF-8 of at most 200 characters");
  const Payout* p = s.find_payout(c.payout_id);
  if (!p)
    return reject(RejectCode::not_found, fmt::format("payout {} not found", c.payout_id.value()));
  if (p->status != PayoutStatus::requested)
    return reject(RejectCode::invalid_transition,
                  fmt::format("payout is already {}", to_string(p->status)));
  return std::vector<Event>{PayoutRejected{p->payout_id, c.reason}};
}

Why check_ledger(const PartitionState& s, const Event& event) {
  // Every posting must land where post() can take it, counting the event's earlier postings
  // to the same account: a wallet's available balance stays non-negative (a completed
  // payout's debit is covered by its hold, checked below) and its balance within int64; an
  // escrow account names an escrow (for EscrowHeld, the one it creates) whose held amount
  // stays non-negative. The engine's own events always do; a forged log must not stop the
  // auditor's fold on post()'s assertions.
  const bool covered_by_hold = std::holds_alternative<PayoutCompleted>(event);
  const OrderId* new_escrow = nullptr;
  if (const auto* h = std::get_if<EscrowHeld>(&event)) new_escrow = &h->order_id;
  const std::vector<Posting> legs = postings(event);
  for (size_t i = 0; i < legs.size(); ++i) {
    const Posting& p = legs[i];
    // "wallet:" with no owner would be filed as an ordinary account and the wallet not found.
    if (p.account.starts_with("wallet:") && !is_valid_id(wallet_owner_of(p.account)))
      return fmt::format("posting to {}, which names no owner", p.account);
    // What this event moves on p's account up to and including p (an event has a few legs).
    __int128 delta = 0;
    for (size_t j = 0; j <= i; ++j)
      if (legs[j].account == p.account && legs[j].currency == p.currency)
        delta += legs[j].amount_minor;
    if (auto owner = wallet_owner_of(p.account); !owner.empty()) {
      const Wallet* w = s.find_wallet(OwnerId{std::string(owner)}, p.currency);
      const __int128 balance = w ? w->balance_minor.value() : 0;
      const __int128 available = w ? w->available().value() : 0;
      if (!covered_by_hold && available + delta < 0)
        return fmt::format("{} {}: {} would take the available balance below zero", p.account,
                           p.currency.value(), p.amount_minor);
      if (balance + delta > std::numeric_limits<int64_t>::max())
        return fmt::format("{} {}: {} would take the balance past its range", p.account,
                           p.currency.value(), p.amount_minor);
    } else if (!p.account.starts_with("escrow:")) {
      const __int128 balance = balance_of(s, p);
      if (balance + delta > std::numeric_limits<int64_t>::max() ||
          balance + delta < std::numeric_limits<int64_t>::min())
        return fmt::format("{} {}: {} would take the balance past its range", p.account,
                           p.currency.value(), p.amount_minor);
    } else {
      const OrderId id{p.account.substr(7)};
      const Escrow* x = s.find_escrow(id);
      if (!x && !(new_escrow && *new_escrow == id))
        return fmt::format("posting to {}, which is not an escrow", p.account);
      if ((x ? x->held_minor.value() : 0) + delta < 0)
        return fmt::format("{}: {} would take what it holds below zero", p.account, p.amount_minor);
    }
  }
  return std::visit(
      [&](const auto& e) -> Why {
        using T = std::decay_t<decltype(e)>;
        if constexpr (requires { e.amount_minor; }) {
          if (e.amount_minor.value() < 0 || e.amount_minor.value() > kMaxAmountMinor)
            return fmt::format("{}: amount {} out of range", event_type(event),
                               e.amount_minor.value());
        }
        if constexpr (std::is_same_v<T, PaymentInitiated>) {
          if (s.find_payment(e.payment_id))
            return fmt::format("payment {} initiated twice", e.payment_id.value());
        } else if constexpr (std::is_same_v<T, PaymentCaptured> ||
                             std::is_same_v<T, PaymentFailed>) {
          const Payment* p = s.find_payment(e.payment_id);
          if (!p || p->status != PaymentStatus::pending)
            return fmt::format("payment {}: outcome of a payment that is not pending",
                               e.payment_id.value());
          if constexpr (std::is_same_v<T, PaymentCaptured>) {
            const Escrow* x = s.find_escrow(p->order_id);
            if (!x || x->payment_id != e.payment_id || e.amount_minor != p->amount_minor)
              return fmt::format("payment {}: captured without its escrow", e.payment_id.value());
          }
        } else if constexpr (std::is_same_v<T, PaymentRefunded>) {
          const Payment* p = s.find_payment(e.payment_id);
          if (!p || p->status != PaymentStatus::captured ||
              p->refunded_minor.value() + e.amount_minor.value() > p->amount_minor.value())
            return fmt::format("payment {}: refund of {} exceeds the capture", e.payment_id.value(),
                               e.amount_minor.value());
        } else if constexpr (std::is_same_v<T, EscrowHeld>) {
          if (!is_payer_account(e.from_account))
            return fmt::format("escrow {}: held from {}, which pays no one", e.order_id.value(),
                               e.from_account);
          if (s.find_escrow(e.order_id))
            return fmt::format("escrow {} held twice", e.order_id.value());
          const Payment* p = s.find_payment(e.payment_id);
          if (!p || p->status != PaymentStatus::pending || p->amount_minor != e.amount_minor)
            return fmt::format("escrow {}: held for payment {} that is not pending",
                               e.order_id.value(), e.payment_id.value());
        } else if constexpr (std::is_same_v<T, EscrowReleased> ||
                             std::is_same_v<T, EscrowRefunded>) {
          const Escrow* x = s.find_escrow(e.order_id);
          if (!x || x->status != EscrowStatus::held)
            return fmt::format("escrow {} resolved twice or never held", e.order_id.value());
          if (e.amount_minor.value() > x->held_minor.value())
            return fmt::format("escrow {}: moves {} out of {} held", e.order_id.value(),
                               e.amount_minor.value(), x->held_minor.value());
          if constexpr (std::is_same_v<T, EscrowReleased>) {
            if (e.amount_minor != x->held_minor || e.fee_minor.value() < 0 ||
                e.fee_minor.value() > e.amount_minor.value())
              return fmt::format("escrow {}: release of {} with fee {} from {} held",
                                 e.order_id.value(), e.amount_minor.value(), e.fee_minor.value(),
                                 x->held_minor.value());
          } else {
            if (!is_payer_account(e.to_account))
              return fmt::format("escrow {}: refunded to {}, which paid no one", e.order_id.value(),
                                 e.to_account);
            if (e.resolves != (e.amount_minor == x->held_minor))
              return fmt::format("escrow {}: refund that does not match what it resolves",
                                 e.order_id.value());
          }
        } else if constexpr (std::is_same_v<T, PayoutRequested>) {
          if (s.find_payout(e.payout_id))
            return fmt::format("payout {} requested twice", e.payout_id.value());
          const Wallet* w = s.find_wallet(e.owner, e.currency);
          if (!w || w->available().value() < e.amount_minor.value())
            return fmt::format("payout {}: holds {} with less available", e.payout_id.value(),
                               e.amount_minor.value());
        } else if constexpr (std::is_same_v<T, PayoutCompleted> ||
                             std::is_same_v<T, PayoutRejected>) {
          const Payout* p = s.find_payout(e.payout_id);
          if (!p || p->status != PayoutStatus::requested)
            return fmt::format("payout {} resolved twice or never requested", e.payout_id.value());
        }
        return std::nullopt;
      },
      event);
}

bool apply_ledger(PartitionState& s, const Event& event) {
  if (auto why = check_ledger(s, event)) ORDO_ASSERT(false, "{}", *why);
  return std::visit(
      [&](const auto& e) -> bool {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, WalletDeposited>) {
          for (const auto& p : postings(event)) post(s, p);
          ++s.wallets.at(WalletKey{e.owner, e.currency}).version;
        } else if constexpr (std::is_same_v<T, PaymentInitiated>) {
          s.payments.emplace(e.payment_id, Payment{e.payment_id, e.order_id, e.method, e.buyer,
                                                   e.seller, e.amount_minor, e.currency,
                                                   PaymentStatus::pending, AmountMinor{0}, 1});
        } else if constexpr (std::is_same_v<T, PaymentCaptured>) {
          Payment& p = s.payments.at(e.payment_id);
          p.status = PaymentStatus::captured;
          ++p.version;
          note_provider_event(s, e.provider_event_id, e.payment_id);
        } else if constexpr (std::is_same_v<T, PaymentFailed>) {
          Payment& p = s.payments.at(e.payment_id);
          p.status = PaymentStatus::failed;
          ++p.version;
          note_provider_event(s, e.provider_event_id, e.payment_id);
        } else if constexpr (std::is_same_v<T, PaymentRefunded>) {
          Payment& p = s.payments.at(e.payment_id);
          p.refunded_minor = AmountMinor{p.refunded_minor.value() + e.amount_minor.value()};
          if (p.refunded_minor == p.amount_minor) p.status = PaymentStatus::refunded;
          ++p.version;
          note_provider_event(s, e.provider_event_id, e.payment_id);
        } else if constexpr (std::is_same_v<T, EscrowHeld>) {
          s.escrows.emplace(e.order_id, Escrow{e.order_id, e.payment_id, e.from_account, e.buyer,
                                               e.seller, e.currency, e.amount_minor, AmountMinor{0},
                                               EscrowStatus::held, 1});
          for (const auto& p : postings(event)) post(s, p);
        } else if constexpr (std::is_same_v<T, EscrowReleased>) {
          for (const auto& p : postings(event)) post(s, p);
          Escrow& x = s.escrows.at(e.order_id);
          ORDO_ASSERT(x.held_minor.value() == 0, "escrow {} released with {} left",
                      e.order_id.value(), x.held_minor.value());
          x.status = EscrowStatus::released;
          ++x.version;
        } else if constexpr (std::is_same_v<T, EscrowRefunded>) {
          for (const auto& p : postings(event)) post(s, p);
          Escrow& x = s.escrows.at(e.order_id);
          if (e.resolves) x.status = EscrowStatus::refunded;
          ORDO_ASSERT(!e.resolves || x.held_minor.value() == 0, "escrow {} refunded with {} left",
                      e.order_id.value(), x.held_minor.value());
          ++x.version;
        } else if constexpr (std::is_same_v<T, PayoutRequested>) {
          Wallet& w = s.wallets.at(WalletKey{e.owner, e.currency});
          w.held_minor = AmountMinor{w.held_minor.value() + e.amount_minor.value()};
          ORDO_ASSERT(w.available().value() >= 0, "payout hold beyond the available balance");
          s.payouts.emplace(e.payout_id, Payout{e.payout_id, e.owner, e.currency, e.amount_minor,
                                                e.destination, PayoutStatus::requested, 1});
        } else if constexpr (std::is_same_v<T, PayoutCompleted>) {
          Payout& p = s.payouts.at(e.payout_id);
          Wallet& w = s.wallets.at(WalletKey{p.owner, p.currency});
          w.held_minor = AmountMinor{w.held_minor.value() -
                                     p.amount_minor.value()};  // the hold becomes the debit
          for (const auto& x : postings(event)) post(s, x);
          p.status = PayoutStatus::completed;
          ++p.version;
        } else if constexpr (std::is_same_v<T, PayoutRejected>) {
          Payout& p = s.payouts.at(e.payout_id);
          Wallet& w = s.wallets.at(WalletKey{p.owner, p.currency});
          w.held_minor = AmountMinor{w.held_minor.value() - p.amount_minor.value()};
          p.status = PayoutStatus::rejected;
          ++p.version;
        } else {
          return false;
        }
        return true;
      },
      event);
}

bool check_ledger_invariants(const PartitionState& s, std::string* why) {
  auto fail = [&](std::string w) {
    if (why) *why = std::move(w);
    return false;
  };
  for (const auto& [k, w] : s.wallets)
    if (w.held_minor.value() < 0 || w.available().value() < 0)
      return fail(fmt::format("wallet {} {}: balance {} held {}", k.owner.value(),
                              k.currency.value(), w.balance_minor.value(), w.held_minor.value()));
  for (const auto& [id, e] : s.escrows)
    if (e.held_minor.value() < 0 || (e.status != EscrowStatus::held && e.held_minor.value() != 0))
      return fail(fmt::format("escrow {}: {} with {} held", id.value(), to_string(e.status),
                              e.held_minor.value()));
  std::map<std::string, __int128, std::less<>> sum;  // per currency: every account's balance
  for_each_account(s, [&](std::string_view currency, std::string_view, int64_t balance_minor) {
    auto it = sum.find(currency);
    if (it == sum.end()) it = sum.emplace(std::string(currency), 0).first;
    it->second += balance_minor;
  });
  for (const auto& [cur, total] : sum)
    if (total != 0)
      return fail(
          fmt::format("the accounts in {} sum to {}, not zero", cur, static_cast<int64_t>(total)));
  for (const auto& [id, p] : s.payments)
    if (p.refunded_minor.value() < 0 || p.refunded_minor.value() > p.amount_minor.value())
      return fail(fmt::format("payment {}: refunded {} of {}", id.value(), p.refunded_minor.value(),
                              p.amount_minor.value()));
  return true;
}

}  // namespace parts

void for_each_account(const PartitionState& s,
                      const std::function<void(std::string_view currency, std::string_view account,
                                               int64_t balance_minor)>& visit) {
  for (const auto& [k, w] : s.wallets)
    visit(k.currency.value(), wallet_account(k.owner), w.balance_minor.value());
  for (const auto& [id, e] : s.escrows)
    visit(e.currency.value(), escrow_account(id), e.held_minor.value());
  // Keys are "{account}/{currency}"; account names hold no '/', currencies are not checked.
  for (const auto& [k, v] : s.other_accounts) {
    const size_t slash = k.find('/');
    visit(std::string_view(k).substr(slash + 1), std::string_view(k).substr(0, slash), v);
  }
}

}  // namespace ordo

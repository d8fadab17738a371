// The money side of the pure domain: the order lifecycle after placement (pay, ship,
// deliver, confirm, dispute, resolve, auto-complete, cancel with refund), the double-entry
// ledger (deposits, payments, provider webhooks, escrow with the platform fee, payouts) and
// the process managers' rules. Every command against every state it can meet; after every
// accepted command the events are folded in with apply() and the invariants checked, and
// every event's postings sum to zero.
#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/domain/decide.hpp"
#include "engine/domain/flows.hpp"
#include "engine/domain/ledger.hpp"

using namespace ordo;

namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kTtl = 15 * 60 * 1000;
constexpr int64_t kReleaseAfter = 7LL * 24 * 3600 * 1000;
const Currency kUsd{"USD"};

template <typename T>
const T& as(const Event& e) {
  REQUIRE_MESSAGE(std::holds_alternative<T>(e), "event is ", event_type(e));
  return std::get<T>(e);
}

std::vector<std::string> types_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.emplace_back(event_type(e));
  return out;
}

// Every event's postings sum to zero per currency, and only money events post.
void check_postings(const Event& e) {
  std::map<std::string, int64_t> sum;
  for (const auto& p : postings(e)) {
    CHECK_FALSE(p.account.empty());
    sum[p.currency.value()] += p.amount_minor;
  }
  for (const auto& [cur, total] : sum)
    CHECK_MESSAGE(total == 0, event_type(e), " posts ", total, " ", cur);
  const bool moves_money =
      std::holds_alternative<WalletDeposited>(e) || std::holds_alternative<EscrowHeld>(e) ||
      std::holds_alternative<EscrowReleased>(e) || std::holds_alternative<EscrowRefunded>(e) ||
      std::holds_alternative<PayoutCompleted>(e);
  if (!moves_money) CHECK_MESSAGE(postings(e).empty(), event_type(e), " should post nothing");
}

// One partition that holds the orders and the ledger, driven through decide and apply.
struct Rig {
  PartitionState state;
  int64_t now = kT0;
  int64_t fee_bps = 500;
  DurationMs payment_timeout = DecideContext{}.payment_timeout;
  // Follow-ups refused while running flows, with the reason.
  std::vector<std::pair<Command, Rejection>> refused;

  DecideContext ctx() const {
    DecideContext c;
    c.now = TimestampMs{now};
    c.reservation_ttl = DurationMs{kTtl};
    c.auto_release_after = DurationMs{kReleaseAfter};
    c.platform_fee_bps = fee_bps;
    c.payment_timeout = payment_timeout;
    return c;
  }
  Decision run(const Command& c) const { return decide(state, c, ctx()); }

  void fold(const std::vector<Event>& events) {
    for (const auto& e : events) {
      auto why = money_precondition(state, e);
      REQUIRE_MESSAGE(!why, event_type(e), ": ", why.value_or(""));
      check_postings(e);
      apply(state, e, TimestampMs{now});
      CHECK(stream_version_after(state, e) >= 1);
    }
    std::string why;
    REQUIRE_MESSAGE(check_invariants(state, &why), why);
  }

  std::vector<Event> accept(const Command& c) {
    Decision d = run(c);
    const auto* r = std::get_if<Rejection>(&d);
    REQUIRE_MESSAGE(r == nullptr, command_name(c),
                    " rejected: ", r ? to_string(r->code) : std::string_view(), " ",
                    r ? r->detail : std::string());
    auto events = std::get<std::vector<Event>>(d);
    fold(events);
    return events;
  }

  Rejection reject(const Command& c, RejectCode expected) const {
    Decision d = run(c);
    REQUIRE_MESSAGE(std::holds_alternative<Rejection>(d), command_name(c),
                    " was accepted, expected ", to_string(expected));
    Rejection r = std::get<Rejection>(d);
    CHECK_MESSAGE(r.code == expected, command_name(c), ": expected ", to_string(expected), ", got ",
                  to_string(r.code), " (", r.detail, ")");
    CHECK_FALSE(r.detail.empty());
    return r;
  }

  // Accepts `c` and runs the process managers to quiescence in this one partition: every
  // event's follow-up is decided and folded; a refused follow-up goes through on_refused.
  // Returns every event, the command's and the follow-ups'.
  std::vector<Event> flow(const Command& c) {
    std::vector<Event> all = accept(c);
    for (size_t i = 0; i < all.size(); ++i) {
      std::optional<Command> next = react(all[i]);
      while (next) {
        Decision d = run(*next);
        if (auto* r = std::get_if<Rejection>(&d)) {
          refused.emplace_back(*next, *r);
          next = on_refused(*next, *r);
          continue;
        }
        auto events = std::get<std::vector<Event>>(d);
        fold(events);
        all.insert(all.end(), events.begin(), events.end());
        next.reset();
      }
    }
    return all;
  }

  // Balances in USD: wallet:{x}, escrow:{order}, or another account.
  int64_t balance(const std::string& account) const {
    if (account.starts_with("wallet:")) {
      const Wallet* w = state.find_wallet(OwnerId{account.substr(7)}, kUsd);
      return w ? w->balance_minor.value() : 0;
    }
    if (account.starts_with("escrow:")) {
      const Escrow* e = state.find_escrow(OrderId{account.substr(7)});
      return e ? e->held_minor.value() : 0;
    }
    auto it = state.other_accounts.find(account + "/USD");
    return it == state.other_accounts.end() ? 0 : it->second;
  }
  int64_t held(const std::string& owner) const {
    const Wallet* w = state.find_wallet(OwnerId{owner}, kUsd);
    return w ? w->held_minor.value() : 0;
  }
  int64_t available(const std::string& owner) const {
    const Wallet* w = state.find_wallet(OwnerId{owner}, kUsd);
    return w ? w->available().value() : 0;
  }
  // Every balance, for "nothing moved" checks.
  std::map<std::string, int64_t> balances() const {
    std::map<std::string, int64_t> out;
    for (const auto& [k, w] : state.wallets) {
      out["wallet:" + k.owner.value() + "/" + k.currency.value()] = w.balance_minor.value();
      out["held:" + k.owner.value() + "/" + k.currency.value()] = w.held_minor.value();
    }
    for (const auto& [id, e] : state.escrows) out["escrow:" + id.value()] = e.held_minor.value();
    for (const auto& [k, v] : state.other_accounts) out[k] = v;
    for (auto it = out.begin(); it != out.end();)
      it = it->second == 0 ? out.erase(it) : std::next(it);
    return out;
  }

  const Order& order(const std::string& id = "o1") const {
    const Order* o = state.find_order(OrderId{id});
    REQUIRE_MESSAGE(o != nullptr, "no order ", id);
    return *o;
  }
  const Product& product(const std::string& sku) const {
    const Product* p = state.find_product(Sku{sku});
    REQUIRE_MESSAGE(p != nullptr, "no product ", sku);
    return *p;
  }
  const Payment& payment(const std::string& id) const {
    const Payment* p = state.find_payment(PaymentId{id});
    REQUIRE_MESSAGE(p != nullptr, "no payment ", id);
    return *p;
  }
  const Escrow& escrow(const std::string& id = "o1") const {
    const Escrow* e = state.find_escrow(OrderId{id});
    REQUIRE_MESSAGE(e != nullptr, "no escrow ", id);
    return *e;
  }
  const Payout& payout(const std::string& id) const {
    const Payout* p = state.find_payout(PayoutId{id});
    REQUIRE_MESSAGE(p != nullptr, "no payout ", id);
    return *p;
  }
  void check_stock(const std::string& sku, int64_t on_hand, int64_t reserved) const {
    CHECK(product(sku).on_hand.value() == on_hand);
    CHECK(product(sku).reserved.value() == reserved);
  }
};

// ---- commands ----

DefineProduct define(const std::string& sku, int64_t stock, int64_t price,
                     const std::string& seller = "seller-1") {
  return DefineProduct{Sku{sku}, SellerId{seller}, "Item " + sku, AmountMinor{price},
                       kUsd,     Quantity{stock}};
}
PlaceOrder place(const std::string& id, std::vector<std::pair<std::string, int64_t>> lines,
                 const std::string& customer = "cust-1") {
  PlaceOrder c{OrderId{id}, CustomerId{customer}, {}};
  for (const auto& [sku, qty] : lines) c.lines.push_back(OrderLineRequest{Sku{sku}, Quantity{qty}});
  return c;
}
DepositToWallet deposit(const std::string& owner, int64_t amount,
                        const std::string& currency = "USD") {
  return DepositToWallet{OwnerId{owner}, Currency{currency}, AmountMinor{amount}, "ref-1"};
}
PayOrder pay(const std::string& order, const std::string& payment,
             PaymentMethod m = PaymentMethod::wallet, std::optional<int64_t> v = std::nullopt) {
  return PayOrder{OrderId{order}, PaymentId{payment}, m, v};
}
ApplyProviderEvent provider(const std::string& event_id, const std::string& payment,
                            ProviderEventKind k, int64_t amount) {
  return ApplyProviderEvent{event_id, PaymentId{payment}, k, AmountMinor{amount}};
}
InitiatePayment initiate(const std::string& payment, const std::string& order, PaymentMethod m,
                         int64_t amount, const std::string& buyer = "cust-1",
                         const std::string& seller = "seller-1") {
  return InitiatePayment{PaymentId{payment}, OrderId{order},      m,   CustomerId{buyer},
                         SellerId{seller},   AmountMinor{amount}, kUsd};
}
RequestPayout request_payout(const std::string& id, const std::string& owner, int64_t amount) {
  return RequestPayout{PayoutId{id}, OwnerId{owner}, kUsd, AmountMinor{amount}, "iban:DE00"};
}
ShipOrder ship(const std::string& id = "o1") { return ShipOrder{OrderId{id}, std::nullopt}; }
DeliverOrder deliver(const std::string& id = "o1") {
  return DeliverOrder{OrderId{id}, std::nullopt};
}
ConfirmOrder confirm(const std::string& id = "o1") {
  return ConfirmOrder{OrderId{id}, std::nullopt};
}
DisputeOrder dispute(const std::string& id = "o1") {
  return DisputeOrder{OrderId{id}, "broken", std::nullopt};
}
ResolveDispute resolve(bool release, const std::string& id = "o1") {
  return ResolveDispute{OrderId{id}, release, "admin", std::nullopt};
}
CancelOrder cancel(const std::string& id = "o1", std::optional<int64_t> v = std::nullopt) {
  return CancelOrder{OrderId{id}, "changed my mind", v};
}

// Products "a" (9.99, 10 in stock) and "b" (0.01, 5 in stock) of seller-1 in USD; the
// customer cust-1 has 1000.00 in the wallet.
Rig shop() {
  Rig r;
  r.accept(define("a", 10, 999));
  r.accept(define("b", 5, 1));
  r.accept(deposit("cust-1", 100'000));
  return r;
}

// Order o1 (2 × a + 1 × b = 19.99) of cust-1 in the state named, paid from the wallet with
// payment p1 where it got that far.
constexpr int64_t kTotal = 1999;
constexpr int64_t kFee = 99;  // floor(1999 * 500 / 10000)

enum class Scenario {
  reserved,
  payment_pending,
  paid,
  shipped,
  delivered,
  disputed,
  completed,
  cancelled,
  refunded,
  expired
};
const char* name(Scenario s) {
  switch (s) {
    case Scenario::reserved:
      return "reserved";
    case Scenario::payment_pending:
      return "payment_pending";
    case Scenario::paid:
      return "paid";
    case Scenario::shipped:
      return "shipped";
    case Scenario::delivered:
      return "delivered";
    case Scenario::disputed:
      return "disputed";
    case Scenario::completed:
      return "completed";
    case Scenario::cancelled:
      return "cancelled";
    case Scenario::refunded:
      return "cancelled after payment";
    case Scenario::expired:
      return "expired";
  }
  return "?";
}
constexpr Scenario kScenarios[] = {
    Scenario::reserved,  Scenario::payment_pending, Scenario::paid,      Scenario::shipped,
    Scenario::delivered, Scenario::disputed,        Scenario::completed, Scenario::cancelled,
    Scenario::refunded,  Scenario::expired};

Rig order_in(Scenario s) {
  Rig r = shop();
  r.accept(place("o1", {{"a", 2}, {"b", 1}}));
  switch (s) {
    case Scenario::reserved:
      return r;
    case Scenario::payment_pending:
      r.accept(pay("o1", "p1"));
      return r;
    case Scenario::cancelled:
      r.accept(cancel());
      return r;
    case Scenario::expired:
      r.now += kTtl;
      r.accept(ExpireReservation{OrderId{"o1"}});
      return r;
    default:
      break;
  }
  r.flow(pay("o1", "p1"));
  REQUIRE(r.order().status == OrderStatus::paid);
  if (s == Scenario::paid) return r;
  if (s == Scenario::refunded) {
    r.flow(cancel());
    return r;
  }
  r.accept(ship());
  if (s == Scenario::shipped) return r;
  r.accept(deliver());
  if (s == Scenario::delivered) return r;
  if (s == Scenario::disputed) {
    r.accept(dispute());
    return r;
  }
  r.flow(confirm());
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The lifecycle matrix: every lifecycle command against every status.
// ---------------------------------------------------------------------------------------

TEST_CASE("money: every lifecycle command against every order status") {
  struct Cmd {
    const char* what;
    std::function<Command(const Rig&)> make;
    std::set<Scenario> accepted_in;
    OrderStatus to;
  };
  using S = Scenario;
  const std::vector<Cmd> cmds = {
      {"pay (card: stays pending)",
       [](const Rig&) { return Command{pay("o1", "p2", PaymentMethod::card)}; },
       {S::reserved},
       OrderStatus::payment_pending},
      {"ship", [](const Rig&) { return Command{ship()}; }, {S::paid}, OrderStatus::shipped},
      {"deliver",
       [](const Rig&) { return Command{deliver()}; },
       {S::shipped},
       OrderStatus::delivered},
      {"confirm",
       [](const Rig&) { return Command{confirm()}; },
       {S::delivered},
       OrderStatus::completed},
      {"dispute",
       [](const Rig&) { return Command{dispute()}; },
       {S::delivered},
       OrderStatus::disputed},
      {"resolve: release",
       [](const Rig&) { return Command{resolve(true)}; },
       {S::delivered, S::disputed},
       OrderStatus::completed},
      {"resolve: refund",
       [](const Rig&) { return Command{resolve(false)}; },
       {S::delivered, S::disputed},
       OrderStatus::cancelled},
      {"auto-complete",
       [](const Rig&) { return Command{AutoCompleteOrder{OrderId{"o1"}}}; },
       {S::delivered},
       OrderStatus::completed},
      {"cancel",
       [](const Rig&) { return Command{cancel()}; },
       {S::reserved, S::paid},
       OrderStatus::cancelled},
      {"mark paid",
       [](const Rig& r) {
         return Command{MarkOrderPaid{OrderId{"o1"}, r.order().payment_id}};
       },
       {S::payment_pending},
       OrderStatus::paid},
      {"mark payment failed",
       [](const Rig& r) {
         return Command{MarkOrderPaymentFailed{OrderId{"o1"}, r.order().payment_id, "declined"}};
       },
       {S::payment_pending},
       OrderStatus::reserved},
      {"mark refunded (by the card provider)",
       [](const Rig&) { return Command{MarkOrderRefunded{OrderId{"o1"}}}; },
       {S::paid, S::shipped, S::delivered, S::disputed, S::completed},
       OrderStatus::cancelled},
  };
  for (Scenario s : kScenarios) {
    const Rig base = order_in(s);
    for (const auto& c : cmds) {
      CAPTURE(name(s));
      CAPTURE(c.what);
      Rig r = base;
      r.now = kT0 + kReleaseAfter + kTtl;     // past any auto-release time
      if (s == S::reserved) r.now = kT0 + 1;  // the reservation has not expired
      Command cmd = c.make(r);
      if (c.accepted_in.contains(s)) {
        const int64_t v = r.order().version;
        r.flow(cmd);
        CHECK(r.order().status == c.to);
        CHECK(r.order().version > v);
        if (s == S::completed && std::holds_alternative<MarkOrderRefunded>(cmd)) {
          // Here the escrow was released; in a real flow the provider's refund emptied it
          // first (it cannot refund a released one), so its own refund finds nothing.
          REQUIRE(r.refused.size() == 1u);
          CHECK(std::holds_alternative<RefundEscrow>(r.refused[0].first));
        } else {
          CHECK(r.refused.empty());
        }
      } else {
        r.reject(cmd, RejectCode::invalid_transition);
      }
    }
  }
}

TEST_CASE("money: the reservation's expiry against every order status, long past any due") {
  // Only a reserved order expires (a wallet payment's pending order never does; the card
  // case, with its payment timeout, is tested below); every other status refuses.
  for (Scenario s : kScenarios) {
    CAPTURE(name(s));
    Rig r = order_in(s);
    r.now += 1000 * (kTtl + r.payment_timeout.value());
    const Command expire = ExpireReservation{OrderId{"o1"}};
    if (s == Scenario::reserved) {
      const int64_t v = r.order().version;
      auto events = r.accept(expire);
      CHECK(r.order().status == OrderStatus::expired);
      CHECK(r.order().version > v);
      REQUIRE(events.size() == 3u);  // OrderExpired, then a StockReleased per line
      CHECK(std::holds_alternative<OrderExpired>(events[0]));
    } else {
      const OrderStatus before = r.order().status;
      r.reject(expire, RejectCode::invalid_transition);
      CHECK(r.order().status == before);
    }
  }
}

TEST_CASE("money: lifecycle commands on an unknown order are not_found") {
  Rig r = shop();
  const std::vector<Command> cmds = {pay("nope", "p1"),
                                     ship("nope"),
                                     deliver("nope"),
                                     confirm("nope"),
                                     dispute("nope"),
                                     resolve(true, "nope"),
                                     resolve(false, "nope"),
                                     AutoCompleteOrder{OrderId{"nope"}},
                                     cancel("nope"),
                                     MarkOrderPaid{OrderId{"nope"}, PaymentId{"p1"}},
                                     MarkOrderPaymentFailed{OrderId{"nope"}, PaymentId{"p1"}, "x"}};
  for (const auto& c : cmds) {
    CAPTURE(command_name(c));
    r.reject(c, RejectCode::not_found);
  }
}

TEST_CASE("money: If-Match on lifecycle commands") {
  SUBCASE("pay") {
    Rig r = order_in(Scenario::reserved);
    const int64_t v = r.order().version;
    r.reject(pay("o1", "p1", PaymentMethod::wallet, v + 1), RejectCode::version_conflict);
    r.reject(pay("o1", "p1", PaymentMethod::wallet, v - 1), RejectCode::version_conflict);
    r.accept(pay("o1", "p1", PaymentMethod::wallet, v));
  }
  SUBCASE("ship, deliver, confirm") {
    Rig r = order_in(Scenario::paid);
    int64_t v = r.order().version;
    r.reject(ShipOrder{OrderId{"o1"}, v - 1}, RejectCode::version_conflict);
    r.accept(ShipOrder{OrderId{"o1"}, v});
    v = r.order().version;
    r.reject(DeliverOrder{OrderId{"o1"}, v + 1}, RejectCode::version_conflict);
    r.accept(DeliverOrder{OrderId{"o1"}, v});
    v = r.order().version;
    r.reject(DisputeOrder{OrderId{"o1"}, "x", v - 1}, RejectCode::version_conflict);
    r.reject(ConfirmOrder{OrderId{"o1"}, v - 1}, RejectCode::version_conflict);
    r.flow(ConfirmOrder{OrderId{"o1"}, v});
    CHECK(r.order().status == OrderStatus::completed);
  }
  SUBCASE("an admin's release or refund of a disputed order") {
    for (bool release : {true, false}) {
      CAPTURE(release);
      Rig r = order_in(Scenario::disputed);
      const int64_t v = r.order().version;
      r.reject(ResolveDispute{OrderId{"o1"}, release, "admin", v - 1},
               RejectCode::version_conflict);
      r.reject(ResolveDispute{OrderId{"o1"}, release, "admin", v + 1},
               RejectCode::version_conflict);
      CHECK(r.order().status == OrderStatus::disputed);
      r.flow(ResolveDispute{OrderId{"o1"}, release, "admin", v});
      CHECK(r.order().status == (release ? OrderStatus::completed : OrderStatus::cancelled));
    }
  }
  SUBCASE("a version conflict wins over a wrong status") {
    Rig r = order_in(Scenario::completed);
    r.reject(ShipOrder{OrderId{"o1"}, 0}, RejectCode::version_conflict);
    r.reject(ShipOrder{OrderId{"o1"}, r.order().version}, RejectCode::invalid_transition);
  }
  SUBCASE("cancel of a paid order") {
    Rig r = order_in(Scenario::paid);
    r.reject(cancel("o1", r.order().version + 1), RejectCode::version_conflict);
    r.flow(cancel("o1", r.order().version));
    CHECK(r.order().status == OrderStatus::cancelled);
  }
}

TEST_CASE("money: PayOrder requests the payment and keeps the reservation") {
  Rig r = order_in(Scenario::reserved);
  auto events = r.accept(pay("o1", "p1", PaymentMethod::card));
  REQUIRE(events.size() == 1u);
  const auto& e = as<OrderPaymentRequested>(events[0]);
  CHECK(e.order_id.value() == "o1");
  CHECK(e.payment_id.value() == "p1");
  CHECK(e.method == PaymentMethod::card);
  CHECK(e.customer_id.value() == "cust-1");
  CHECK(e.seller_id.value() == "seller-1");
  CHECK(e.amount_minor.value() == kTotal);
  CHECK(e.currency == kUsd);
  CHECK(event_stream(events[0]) == "order-o1");
  CHECK(r.order().status == OrderStatus::payment_pending);
  CHECK(r.order().payment_id.value() == "p1");
  CHECK(r.order().payment_method == PaymentMethod::card);
  r.check_stock("a", 10, 2);
  r.check_stock("b", 5, 1);
  // While the payment is pending the order can neither be paid again nor cancelled nor expire.
  r.reject(pay("o1", "p2"), RejectCode::invalid_transition);
  r.reject(cancel(), RejectCode::invalid_transition);
  r.now += kTtl;
  r.reject(ExpireReservation{OrderId{"o1"}}, RejectCode::invalid_transition);
}

TEST_CASE("money: an order whose payment never answers expires; a late capture is refunded") {
  Rig r = order_in(Scenario::reserved);
  r.flow(pay("o1", "p1", PaymentMethod::card));
  REQUIRE(r.order().status == OrderStatus::payment_pending);
  const int64_t deadline = r.order().expires_at.value() + r.payment_timeout.value();
  r.now = deadline - 1;
  r.reject(ExpireReservation{OrderId{"o1"}}, RejectCode::invalid_transition);
  r.now = deadline;
  auto expired = r.accept(ExpireReservation{OrderId{"o1"}});
  REQUIRE(expired.size() == 3u);  // the order, and each line's stock released
  CHECK(std::holds_alternative<OrderExpired>(expired[0]));
  CHECK(r.order().status == OrderStatus::expired);
  r.check_stock("a", 10, 0);
  r.check_stock("b", 5, 0);
  CHECK(r.balance("escrow:o1") == 0);

  // The provider captures after all: the expired order returns the payment (no operator in
  // the loop), and its flow refunds the escrow to the card.
  const int64_t card_before = r.balance("external:card");
  const int64_t version_before = r.order().version;
  r.refused.clear();
  auto late = r.flow(provider("evt-late", "p1", ProviderEventKind::captured, kTotal));
  const auto returned = std::find_if(late.begin(), late.end(), [](const Event& e) {
    return std::holds_alternative<OrderPaymentReturned>(e);
  });
  REQUIRE(returned != late.end());
  const auto& back = std::get<OrderPaymentReturned>(*returned);
  CHECK(back.payment_id == PaymentId{"p1"});
  CHECK(back.amount_minor.value() == kTotal);
  CHECK(std::any_of(late.begin(), late.end(), [](const Event& e) {
    const auto* x = std::get_if<EscrowRefunded>(&e);
    return x && x->to_account == kExternalCard && x->resolves;
  }));
  CHECK(r.balance("escrow:o1") == 0);
  CHECK(r.balance("external:card") == card_before);  // the capture took it, the refund gave it
  CHECK(r.order().status == OrderStatus::expired);
  CHECK(r.order().version == version_before + 1);
  r.check_stock("a", 10, 0);
  // The only refusal on the way is the card refund's news reaching an expired order: benign.
  for (const auto& [sent, why] : r.refused) {
    CHECK(std::holds_alternative<MarkOrderRefunded>(sent));
    CHECK(refusal_is_benign(sent, why));
  }
  // Marked paid again (a second capture of the same payment): it is returned again, and
  // the escrow, resolved once, stays resolved (a benign refusal of the second refund).
  r.accept(MarkOrderPaid{OrderId{"o1"}, PaymentId{"p1"}});
  const Rejection again =
      r.reject(RefundEscrow{OrderId{"o1"}, kUsd}, RejectCode::invalid_transition);
  CHECK(refusal_is_benign(RefundEscrow{OrderId{"o1"}, kUsd}, again));
  // Another payment's capture is refused as before.
  r.reject(MarkOrderPaid{OrderId{"o1"}, PaymentId{"p2"}}, RejectCode::invalid_transition);
}

TEST_CASE("money: an order waiting for a wallet payment does not time out") {
  Rig r = order_in(Scenario::reserved);
  r.accept(pay("o1", "p1", PaymentMethod::wallet));  // its InitiatePayment step never runs
  REQUIRE(r.order().status == OrderStatus::payment_pending);
  r.now = r.order().expires_at.value() + 1000 * r.payment_timeout.value();
  r.reject(ExpireReservation{OrderId{"o1"}}, RejectCode::invalid_transition);
  CHECK(r.order().status == OrderStatus::payment_pending);
  r.check_stock("a", 10, 2);
}

TEST_CASE("money: with a payment timeout of 0 an order waits for its payment for ever") {
  Rig r = order_in(Scenario::reserved);
  r.payment_timeout = DurationMs{0};
  r.flow(pay("o1", "p1", PaymentMethod::card));
  r.now += 1000 * kTtl;
  r.reject(ExpireReservation{OrderId{"o1"}}, RejectCode::invalid_transition);
  CHECK(r.order().status == OrderStatus::payment_pending);
}

TEST_CASE("money: PayOrder of an expired reservation is refused") {
  Rig r = order_in(Scenario::reserved);
  const int64_t expires = r.order().expires_at.value();
  r.now = expires;
  r.reject(pay("o1", "p1"), RejectCode::invalid_transition);
  r.now = expires + 1;
  r.reject(pay("o1", "p1"), RejectCode::invalid_transition);
  r.now = expires - 1;
  r.accept(pay("o1", "p1"));
}

TEST_CASE("money: PayOrder with a bad payment id is invalid_command") {
  Rig r = order_in(Scenario::reserved);
  r.reject(pay("o1", ""), RejectCode::invalid_command);
  r.reject(pay("o1", "bad id"), RejectCode::invalid_command);
  r.reject(pay("o1", std::string(kMaxIdLength + 1, 'p')), RejectCode::invalid_command);
}

TEST_CASE("money: MarkOrderPaid commits the stock; a wrong payment id changes nothing") {
  Rig r = order_in(Scenario::payment_pending);
  r.reject(MarkOrderPaid{OrderId{"o1"}, PaymentId{"p-other"}}, RejectCode::invalid_transition);
  r.reject(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p-other"}, "x"},
           RejectCode::invalid_transition);
  auto events = r.accept(MarkOrderPaid{OrderId{"o1"}, PaymentId{"p1"}});
  CHECK(types_of(events) ==
        std::vector<std::string>{"OrderPaid", "StockCommitted", "StockCommitted"});
  CHECK(as<OrderPaid>(events[0]).payment_id.value() == "p1");
  CHECK(as<StockCommitted>(events[1]).qty.value() == 2);
  CHECK(r.order().status == OrderStatus::paid);
  r.check_stock("a", 8, 0);
  r.check_stock("b", 4, 0);
  // A repeat is refused and changes nothing.
  r.reject(MarkOrderPaid{OrderId{"o1"}, PaymentId{"p1"}}, RejectCode::invalid_transition);
  r.check_stock("a", 8, 0);
}

TEST_CASE("money: MarkOrderPaymentFailed returns the order to reserved; it can be paid again") {
  Rig r = order_in(Scenario::payment_pending);
  auto events = r.accept(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, "declined"});
  REQUIRE(events.size() == 1u);
  CHECK(as<OrderPaymentFailed>(events[0]).reason == "declined");
  CHECK(r.order().status == OrderStatus::reserved);
  r.check_stock("a", 10, 2);
  r.reject(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, "declined"},
           RejectCode::invalid_transition);
  r.flow(pay("o1", "p2"));
  CHECK(r.order().status == OrderStatus::paid);
  CHECK(r.order().payment_id.value() == "p2");
}

TEST_CASE("money: MarkOrderPaymentFailed keeps a long reason valid UTF-8") {
  Rig r = order_in(Scenario::payment_pending);
  // 199 ASCII bytes and a two-byte character: cutting at 200 bytes would split it.
  std::string reason = std::string(kMaxReasonLength - 1, 'x') + "\xc3\xa9" + "tail";
  auto events = r.accept(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, reason});
  const auto& e = as<OrderPaymentFailed>(events[0]);
  CHECK(e.reason.size() <= kMaxReasonLength);
  CHECK(is_valid_utf8(e.reason));
  CHECK(e.reason.starts_with(std::string(kMaxReasonLength - 1, 'x')));
}

TEST_CASE("money: free text never holds U+0000 (PostgreSQL's text and jsonb cannot)") {
  const std::string nul("bad\0card", 8);
  CHECK_FALSE(is_text_within(nul, kMaxReasonLength));
  CHECK(is_text_within("bad card", kMaxReasonLength));
  Rig r = order_in(Scenario::reserved);
  r.reject(CancelOrder{OrderId{"o1"}, nul, std::nullopt}, RejectCode::invalid_command);
  // A provider's reason cannot be refused: it is replaced.
  Rig p = order_in(Scenario::payment_pending);
  auto events = p.accept(MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, nul});
  CHECK(as<OrderPaymentFailed>(events[0]).reason == "payment failed");
}

TEST_CASE("money: ship, deliver and the auto-release time") {
  Rig r = order_in(Scenario::paid);
  auto shipped = r.accept(ship());
  CHECK(types_of(shipped) == std::vector<std::string>{"OrderShipped"});
  r.now += 5000;
  auto delivered = r.accept(deliver());
  REQUIRE(delivered.size() == 1u);
  CHECK(as<OrderDelivered>(delivered[0]).release_at.value() == r.now + kReleaseAfter);
  CHECK(r.order().release_at.value() == r.now + kReleaseAfter);
  CHECK(r.escrow().status == EscrowStatus::held);
}

TEST_CASE("money: AutoCompleteOrder before and after release_at") {
  Rig r = order_in(Scenario::delivered);
  const int64_t release_at = r.order().release_at.value();
  r.now = release_at - 1;
  r.reject(AutoCompleteOrder{OrderId{"o1"}}, RejectCode::invalid_transition);
  CHECK(r.order().status == OrderStatus::delivered);
  r.now = release_at;
  auto events = r.flow(AutoCompleteOrder{OrderId{"o1"}});
  CHECK(types_of(events) == std::vector<std::string>{"OrderCompleted", "EscrowReleased"});
  CHECK(as<OrderCompleted>(events[0]).how == "auto");
  CHECK(as<OrderCompleted>(events[0]).amount_minor.value() == kTotal);
  CHECK(r.balance("wallet:seller-1") == kTotal - kFee);
  CHECK(r.balance("platform:fees") == kFee);
  CHECK(r.escrow().status == EscrowStatus::released);
  r.reject(AutoCompleteOrder{OrderId{"o1"}}, RejectCode::invalid_transition);
}

TEST_CASE("money: a disputed order is not auto-completed; resolve releases or refunds") {
  SUBCASE("release") {
    Rig r = order_in(Scenario::disputed);
    r.now = r.order().release_at.value() + 1;
    r.reject(AutoCompleteOrder{OrderId{"o1"}}, RejectCode::invalid_transition);
    r.reject(confirm(), RejectCode::invalid_transition);
    auto events = r.flow(resolve(true));
    CHECK(types_of(events) == std::vector<std::string>{"OrderCompleted", "EscrowReleased"});
    CHECK(r.balance("wallet:seller-1") == kTotal - kFee);
    CHECK(r.balance("platform:fees") == kFee);
    CHECK(r.balance("wallet:cust-1") == 100'000 - kTotal);
  }
  SUBCASE("refund: the buyer gets it all back, delivered goods are not restocked") {
    Rig r = order_in(Scenario::disputed);
    auto events = r.flow(resolve(false));
    CHECK(types_of(events) ==
          std::vector<std::string>{"OrderRefunded", "EscrowRefunded", "PaymentRefunded"});
    CHECK(as<OrderRefunded>(events[0]).amount_minor.value() == kTotal);
    CHECK(as<EscrowRefunded>(events[1]).to_account == "wallet:cust-1");
    CHECK(r.balance("wallet:cust-1") == 100'000);
    CHECK(r.balance("wallet:seller-1") == 0);
    CHECK(r.balance("platform:fees") == 0);
    CHECK(r.escrow().status == EscrowStatus::refunded);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
    r.check_stock("a", 8, 0);
  }
  SUBCASE("bad reason") {
    Rig r = order_in(Scenario::disputed);
    r.reject(ResolveDispute{OrderId{"o1"}, true, std::string(kMaxReasonLength + 1, 'x'), {}},
             RejectCode::invalid_command);
    r.reject(ResolveDispute{OrderId{"o1"}, true, "\xff", {}}, RejectCode::invalid_command);
    Rig d = order_in(Scenario::delivered);
    d.reject(DisputeOrder{OrderId{"o1"}, "\xc3", std::nullopt}, RejectCode::invalid_command);
  }
}

TEST_CASE("money: cancel a reserved order releases the stock, a paid one refunds and restocks") {
  SUBCASE("reserved") {
    Rig r = order_in(Scenario::reserved);
    auto events = r.flow(cancel());
    CHECK(types_of(events) ==
          std::vector<std::string>{"OrderCancelled", "StockReleased", "StockReleased"});
    r.check_stock("a", 10, 0);
    r.check_stock("b", 5, 0);
    CHECK(r.state.escrows.empty());
  }
  SUBCASE("paid from the wallet") {
    Rig r = order_in(Scenario::paid);
    r.check_stock("a", 8, 0);
    CHECK(r.balance("wallet:cust-1") == 100'000 - kTotal);
    CHECK(r.balance("escrow:o1") == kTotal);
    auto events = r.flow(cancel());
    CHECK(types_of(events) == std::vector<std::string>{"OrderRefunded", "StockRestocked",
                                                       "StockRestocked", "EscrowRefunded",
                                                       "PaymentRefunded"});
    const auto& refund = as<OrderRefunded>(events[0]);
    CHECK(refund.payment_id.value() == "p1");
    CHECK(refund.amount_minor.value() == kTotal);
    CHECK(as<EscrowRefunded>(events[3]).to_account == "wallet:cust-1");
    CHECK(as<EscrowRefunded>(events[3]).resolves);
    r.check_stock("a", 10, 0);
    r.check_stock("b", 5, 0);
    CHECK(r.balance("wallet:cust-1") == 100'000);
    CHECK(r.balance("escrow:o1") == 0);
    CHECK(r.escrow().status == EscrowStatus::refunded);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
    CHECK(r.payment("p1").refunded_minor.value() == kTotal);
  }
  SUBCASE("paid by card: the refund goes back to the card") {
    Rig r = order_in(Scenario::reserved);
    r.flow(pay("o1", "p1", PaymentMethod::card));
    r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
    REQUIRE(r.order().status == OrderStatus::paid);
    CHECK(r.balance("external:card") == -kTotal);
    auto events = r.flow(cancel());
    CHECK(as<EscrowRefunded>(events[3]).to_account == "external:card");
    CHECK(r.balance("external:card") == 0);
    CHECK(r.balance("wallet:cust-1") == 100'000);
  }
  SUBCASE("shipped, delivered or later cannot be cancelled") {
    for (Scenario s :
         {Scenario::shipped, Scenario::delivered, Scenario::disputed, Scenario::completed,
          Scenario::refunded, Scenario::cancelled, Scenario::expired, Scenario::payment_pending}) {
      CAPTURE(name(s));
      order_in(s).reject(cancel(), RejectCode::invalid_transition);
    }
  }
  SUBCASE("a restock that would pass the stock ceiling is refused, not a crash") {
    Rig r = order_in(Scenario::paid);
    r.accept(AdjustStock{Sku{"a"}, Quantity{kMaxStock - 8}, "fill"});
    r.check_stock("a", kMaxStock, 0);
    r.reject(cancel(), RejectCode::stock_limit);
    CHECK(r.order().status == OrderStatus::paid);
  }
  SUBCASE("a provider's refund is recorded; a line past the stock ceiling stays off the shelf") {
    // The refund has happened at the provider, so it cannot be refused like a cancel; apply
    // asserts the ceiling, so the line that would pass it is not restocked.
    Rig r = order_in(Scenario::paid);
    r.accept(AdjustStock{Sku{"a"}, Quantity{kMaxStock - 8}, "fill"});
    const int64_t b_on_hand = r.product("b").on_hand.value();
    auto events = r.accept(MarkOrderRefunded{OrderId{"o1"}});
    CHECK(types_of(events) == std::vector<std::string>{"OrderRefunded", "StockRestocked"});
    CHECK(as<StockRestocked>(events.at(1)).sku == Sku{"b"});
    r.check_stock("a", kMaxStock, 0);
    r.check_stock("b", b_on_hand + 1, 0);
    CHECK(r.order().status == OrderStatus::cancelled);
  }
}

// ---------------------------------------------------------------------------------------
// The ledger.
// ---------------------------------------------------------------------------------------

TEST_CASE("money: DepositToWallet moves money in from the bank") {
  Rig r;
  auto events = r.accept(deposit("w1", 500));
  REQUIRE(events.size() == 1u);
  const auto& e = as<WalletDeposited>(events[0]);
  CHECK(e.amount_minor.value() == 500);
  CHECK(e.reference == "ref-1");
  CHECK(event_stream(events[0]) == "wallet-w1.USD");
  CHECK(postings(events[0]) ==
        std::vector<Posting>{{"external:bank", kUsd, -500}, {"wallet:w1", kUsd, 500}});
  CHECK(r.balance("wallet:w1") == 500);
  CHECK(r.balance("external:bank") == -500);
  CHECK(r.state.find_wallet(OwnerId{"w1"}, kUsd)->version == 1);
  r.accept(deposit("w1", 1));
  CHECK(r.state.find_wallet(OwnerId{"w1"}, kUsd)->version == 2);
  // Another currency is another wallet.
  r.accept(deposit("w1", 7, "EUR"));
  CHECK(r.state.find_wallet(OwnerId{"w1"}, Currency{"EUR"})->balance_minor.value() == 7);
  CHECK(r.balance("wallet:w1") == 501);
}

TEST_CASE("money: DepositToWallet bounds") {
  Rig r;
  r.reject(deposit("w1", 0), RejectCode::invalid_command);
  r.reject(deposit("w1", -1), RejectCode::invalid_command);
  r.reject(deposit("w1", kMaxAmountMinor + 1), RejectCode::invalid_command);
  r.reject(deposit("bad owner", 1), RejectCode::invalid_command);
  r.reject(deposit("", 1), RejectCode::invalid_command);
  r.reject(deposit("w1", 1, "usd"), RejectCode::invalid_command);
  r.reject(
      DepositToWallet{OwnerId{"w1"}, kUsd, AmountMinor{1}, std::string(kMaxReasonLength + 1, 'r')},
      RejectCode::invalid_command);
  r.reject(DepositToWallet{OwnerId{"w1"}, kUsd, AmountMinor{1}, "\xff"},
           RejectCode::invalid_command);
  CHECK(r.state.wallets.empty());
  r.accept(deposit("w1", kMaxAmountMinor));
  r.accept(deposit("w1", 1));
}

TEST_CASE("money: DepositToWallet stops at the wallet's ceiling (amount_overflow)") {
  Rig r;
  // The ceiling is 1000 deposits of the largest amount: 10^18 minor units.
  for (int i = 0; i < 1000; ++i) {
    Decision d = r.run(deposit("w1", kMaxAmountMinor));
    REQUIRE(std::holds_alternative<std::vector<Event>>(d));
    for (const auto& e : std::get<std::vector<Event>>(d)) apply(r.state, e, TimestampMs{r.now});
  }
  std::string why;
  REQUIRE_MESSAGE(check_invariants(r.state, &why), why);
  CHECK(r.balance("wallet:w1") == 1000 * kMaxAmountMinor);
  r.reject(deposit("w1", 1), RejectCode::amount_overflow);
  r.accept(deposit("w2", 1));  // another wallet is not affected
}

TEST_CASE("money: a credit past a ceiling is refused, never wrapped or asserted") {
  // Fills a wallet to the ceiling (10^18) with the largest deposits.
  auto fill = [](Rig& r, const std::string& owner) {
    for (int i = 0; i < 1000; ++i) r.accept(deposit(owner, kMaxAmountMinor));
  };
  SUBCASE("an escrow released into a full wallet stays held") {
    Rig r;
    r.fee_bps = 0;
    fill(r, "seller");
    r.accept(deposit("buyer", 5000));
    r.accept(initiate("p1", "o1", PaymentMethod::wallet, 999, "buyer", "seller"));
    r.reject(ReleaseEscrow{OrderId{"o1"}, kUsd}, RejectCode::amount_overflow);
    CHECK(r.escrow().status == EscrowStatus::held);
    // Once the seller has paid some out, the release goes through.
    r.accept(RequestPayout{PayoutId{"po1"}, OwnerId{"seller"}, kUsd, AmountMinor{999}, "iban"});
    r.accept(CompletePayout{PayoutId{"po1"}});
    r.accept(ReleaseEscrow{OrderId{"o1"}, kUsd});
    CHECK(r.balance("wallet:seller") == 1000 * kMaxAmountMinor);
  }
  SUBCASE("a refund into a full wallet stays held") {
    Rig r;
    r.accept(deposit("buyer", 5000));
    r.accept(initiate("p1", "o1", PaymentMethod::wallet, 999, "buyer", "seller"));
    for (int i = 0; i < 999; ++i) r.accept(deposit("buyer", kMaxAmountMinor));
    r.accept(deposit("buyer", kMaxAmountMinor - 4001));  // the balance is at the ceiling
    CHECK(r.balance("wallet:buyer") == 1000 * kMaxAmountMinor);
    r.reject(RefundEscrow{OrderId{"o1"}, kUsd}, RejectCode::amount_overflow);
    CHECK(r.escrow().status == EscrowStatus::held);
  }
  SUBCASE("the bank's account stops at -4·10^18; moving it back towards zero is allowed") {
    Rig r;
    for (int w = 0; w < 4; ++w) fill(r, "w" + std::to_string(w));
    CHECK(r.balance("external:bank") == -4000 * kMaxAmountMinor);
    r.reject(deposit("w4", 1), RejectCode::amount_overflow);
    r.accept(RequestPayout{PayoutId{"po1"}, OwnerId{"w0"}, kUsd, AmountMinor{7}, "iban"});
    r.accept(CompletePayout{PayoutId{"po1"}});
    r.accept(deposit("w4", 7));
    r.reject(deposit("w4", 1), RejectCode::amount_overflow);
    std::string why;
    CHECK_MESSAGE(check_invariants(r.state, &why), why);
  }
  SUBCASE("a forged log that would wrap an account is refused by the precondition") {
    Rig r;
    r.state.other_accounts["external:bank/USD"] = std::numeric_limits<int64_t>::min() + 5;
    const Event e = WalletDeposited{OwnerId{"w1"}, kUsd, AmountMinor{10}, "ref"};
    CHECK(money_precondition(r.state, e).value_or("").find("past its range") != std::string::npos);
  }
}

TEST_CASE("money: a second card payment of one order cannot be captured into its escrow") {
  Rig r;
  r.accept(initiate("p1", "o1", PaymentMethod::card, 999, "buyer", "seller"));
  r.accept(initiate("p2", "o1", PaymentMethod::card, 999, "buyer", "seller"));
  r.accept(provider("ev-1", "p1", ProviderEventKind::captured, 999));
  r.reject(provider("ev-2", "p2", ProviderEventKind::captured, 999),
           RejectCode::invalid_transition);
  CHECK(r.escrow().payment_id == PaymentId{"p1"});
  CHECK(r.payment("p2").status == PaymentStatus::pending);
}

TEST_CASE("money: forged ledger events the fold cannot take are named, not asserted") {
  Rig r;
  r.accept(deposit("buyer", 5000));
  r.accept(initiate("p1", "o1", PaymentMethod::wallet, 999, "buyer", "seller"));
  // A deposit to "wallet:" (no owner): post() would file it as an ordinary account.
  CHECK(money_precondition(r.state, WalletDeposited{OwnerId{""}, kUsd, AmountMinor{1}, "r"})
            .value_or("")
            .find("names no owner") != std::string::npos);
  // An escrow refunded into itself would still hold what it claims to have resolved.
  CHECK(money_precondition(r.state,
                           EscrowRefunded{OrderId{"o1"}, "escrow:o1", AmountMinor{999}, kUsd, true})
            .value_or("")
            .find("paid no one") != std::string::npos);
  CHECK(money_precondition(
            r.state, EscrowRefunded{OrderId{"o1"}, "platform:fees", AmountMinor{999}, kUsd, true})
            .has_value());
  CHECK_FALSE(money_precondition(
      r.state, EscrowRefunded{OrderId{"o1"}, "wallet:buyer", AmountMinor{999}, kUsd, true}));
  CHECK(money_precondition(
            r.state, EscrowHeld{OrderId{"o2"}, PaymentId{"p1"}, "escrow:o1", CustomerId{"buyer"},
                                SellerId{"seller"}, AmountMinor{999}, kUsd})
            .has_value());
}

TEST_CASE("money: InitiatePayment from a wallet with enough funds holds escrow") {
  Rig r = shop();
  auto events = r.accept(initiate("p1", "o9", PaymentMethod::wallet, 600));
  CHECK(types_of(events) ==
        std::vector<std::string>{"PaymentInitiated", "EscrowHeld", "PaymentCaptured"});
  const auto& held = as<EscrowHeld>(events[1]);
  CHECK(held.from_account == "wallet:cust-1");
  CHECK(held.amount_minor.value() == 600);
  CHECK(event_stream(events[0]) == "payment-p1");
  CHECK(event_stream(events[1]) == "escrow-o9");
  CHECK(as<PaymentCaptured>(events[2]).provider_event_id.empty());
  CHECK(r.balance("wallet:cust-1") == 100'000 - 600);
  CHECK(r.balance("escrow:o9") == 600);
  CHECK(r.payment("p1").status == PaymentStatus::captured);
  CHECK(r.escrow("o9").status == EscrowStatus::held);
  CHECK(r.escrow("o9").source_account == "wallet:cust-1");
  // Exactly the available balance is enough.
  r.accept(initiate("p2", "o10", PaymentMethod::wallet, 100'000 - 600));
  CHECK(r.available("cust-1") == 0);
}

TEST_CASE("money: InitiatePayment from a wallet without enough funds fails, nothing moves") {
  Rig r = shop();
  const auto before = r.balances();
  SUBCASE("one short") {
    auto events = r.accept(initiate("p1", "o9", PaymentMethod::wallet, 100'001));
    CHECK(types_of(events) == std::vector<std::string>{"PaymentInitiated", "PaymentFailed"});
    CHECK(as<PaymentFailed>(events[1]).reason.starts_with("insufficient_funds"));
    CHECK(r.balances() == before);
    CHECK(r.payment("p1").status == PaymentStatus::failed);
    CHECK(r.state.escrows.empty());
  }
  SUBCASE("no wallet at all") {
    r.accept(initiate("p1", "o9", PaymentMethod::wallet, 1, "stranger"));
    CHECK(r.payment("p1").status == PaymentStatus::failed);
    CHECK(r.balances() == before);
    CHECK(r.state.find_wallet(OwnerId{"stranger"}, kUsd) == nullptr);
  }
  SUBCASE("a payout hold reduces what is available") {
    r.accept(request_payout("po1", "cust-1", 99'000));
    const auto held = r.balances();
    r.accept(initiate("p1", "o9", PaymentMethod::wallet, 1001));
    CHECK(r.payment("p1").status == PaymentStatus::failed);
    CHECK(r.balances() == held);
    r.accept(initiate("p2", "o10", PaymentMethod::wallet, 1000));
    CHECK(r.payment("p2").status == PaymentStatus::captured);
    CHECK(r.available("cust-1") == 0);
  }
}

TEST_CASE("money: InitiatePayment by card waits for the provider") {
  Rig r = shop();
  const auto before = r.balances();
  auto events =
      r.accept(initiate("p1", "o9", PaymentMethod::card, 700'000));  // more than the wallet holds
  CHECK(types_of(events) == std::vector<std::string>{"PaymentInitiated"});
  CHECK(r.payment("p1").status == PaymentStatus::pending);
  CHECK(r.payment("p1").method == PaymentMethod::card);
  CHECK(r.state.escrows.empty());
  CHECK(r.balances() == before);
}

TEST_CASE("money: InitiatePayment refusals") {
  Rig r = shop();
  r.accept(initiate("p1", "o9", PaymentMethod::card, 500));
  SUBCASE("a reused payment id") {
    r.reject(initiate("p1", "o9", PaymentMethod::card, 500), RejectCode::already_exists);
    r.reject(initiate("p1", "o10", PaymentMethod::wallet, 5), RejectCode::already_exists);
  }
  SUBCASE("a second payment of an order already in escrow") {
    r.accept(initiate("p2", "o10", PaymentMethod::wallet, 5));
    r.reject(initiate("p3", "o10", PaymentMethod::wallet, 5), RejectCode::already_exists);
  }
  SUBCASE("bad fields") {
    r.reject(initiate("bad id", "o9", PaymentMethod::card, 500), RejectCode::invalid_command);
    r.reject(initiate("p9", "o9", PaymentMethod::card, -1), RejectCode::invalid_command);
    r.reject(initiate("p9", "o9", PaymentMethod::card, kMaxAmountMinor + 1),
             RejectCode::invalid_command);
    InitiatePayment c = initiate("p9", "o9", PaymentMethod::card, 5);
    c.currency = Currency{"usd"};
    r.reject(c, RejectCode::invalid_command);
  }
}

TEST_CASE("money: a free order (total 0) can be paid and completed") {
  Rig r = shop();
  r.accept(define("free", 3, 0));
  r.accept(place("o1", {{"free", 2}}, "nobody"));  // a buyer without a wallet
  CHECK(r.order().total_minor.value() == 0);
  SUBCASE("wallet") {
    r.flow(pay("o1", "p1"));
    CHECK(r.refused.empty());
    REQUIRE(r.order().status == OrderStatus::paid);
    r.accept(ship());
    r.accept(deliver());
    r.flow(confirm());
    CHECK(r.escrow().status == EscrowStatus::released);
    CHECK(r.balance("wallet:seller-1") == 0);
  }
  SUBCASE("card") {
    r.flow(pay("o1", "p1", PaymentMethod::card));
    CHECK(r.refused.empty());
    REQUIRE(r.order().status == OrderStatus::paid);
    r.flow(cancel());
    CHECK(r.escrow().status == EscrowStatus::refunded);
    r.check_stock("free", 3, 0);
  }
}

TEST_CASE("money: an order above the largest payment is refused (amount_overflow)") {
  Rig r = shop();
  r.accept(define("dear", kMaxLineQty, kMaxPriceMinor));
  r.reject(place("o1", {{"dear", 1001}}), RejectCode::amount_overflow);  // 1.001 × 10^15
  // One placed before placement refused such totals (an old log) still cannot be paid.
  r.fold({OrderPlaced{OrderId{"o1"},
                      CustomerId{"cust-1"},
                      r.product("dear").seller_id,
                      r.product("dear").currency,
                      {PricedLine{Sku{"dear"}, Quantity{1001}, AmountMinor{kMaxPriceMinor}}},
                      AmountMinor{1001 * kMaxPriceMinor},
                      TimestampMs{r.now + kTtl},
                      "api"},
          StockReserved{Sku{"dear"}, OrderId{"o1"}, Quantity{1001}}});
  r.reject(pay("o1", "p1"), RejectCode::amount_overflow);
  CHECK(r.order().status == OrderStatus::reserved);
  r.accept(place("o2", {{"dear", 1000}}));  // exactly 10^15
  r.flow(pay("o2", "p2", PaymentMethod::card));
  CHECK(r.order("o2").status == OrderStatus::payment_pending);
}

TEST_CASE("money: provider events settle a card payment") {
  Rig r = order_in(Scenario::reserved);
  r.flow(pay("o1", "p1", PaymentMethod::card));
  REQUIRE(r.payment("p1").status == PaymentStatus::pending);
  REQUIRE(r.order().status == OrderStatus::payment_pending);
  const auto before = r.balances();

  SUBCASE("captured with the wrong amount is amount_mismatch") {
    r.reject(provider("ev-1", "p1", ProviderEventKind::captured, kTotal - 1),
             RejectCode::amount_mismatch);
    r.reject(provider("ev-1", "p1", ProviderEventKind::captured, kTotal + 1),
             RejectCode::amount_mismatch);
    CHECK(r.balances() == before);
    // The refused event id is not spent: the right one under the same id goes through.
    r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
    CHECK(r.order().status == OrderStatus::paid);
  }
  SUBCASE("captured") {
    auto events = r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
    CHECK(types_of(events) == std::vector<std::string>{"EscrowHeld", "PaymentCaptured", "OrderPaid",
                                                       "StockCommitted", "StockCommitted"});
    CHECK(as<EscrowHeld>(events[0]).from_account == "external:card");
    CHECK(as<PaymentCaptured>(events[1]).provider_event_id == "ev-1");
    CHECK(r.balance("external:card") == -kTotal);
    CHECK(r.balance("escrow:o1") == kTotal);
    CHECK(r.payment("p1").status == PaymentStatus::captured);
    r.check_stock("a", 8, 0);
    // Repeats under the same id change nothing; a new id is a second capture and refused.
    const auto after = r.balances();
    for (auto k :
         {ProviderEventKind::captured, ProviderEventKind::failed, ProviderEventKind::refunded}) {
      auto again = r.accept(provider("ev-1", "p1", k, kTotal));
      CHECK(again.empty());
    }
    CHECK(r.balances() == after);
    r.reject(provider("ev-2", "p1", ProviderEventKind::captured, kTotal),
             RejectCode::invalid_transition);
    r.reject(provider("ev-2", "p1", ProviderEventKind::failed, 0), RejectCode::invalid_transition);
  }
  SUBCASE("failed") {
    auto events = r.flow(provider("ev-1", "p1", ProviderEventKind::failed, 0));
    CHECK(types_of(events) == std::vector<std::string>{"PaymentFailed", "OrderPaymentFailed"});
    CHECK(r.payment("p1").status == PaymentStatus::failed);
    CHECK(r.order().status == OrderStatus::reserved);
    CHECK(r.balances() == before);
    r.check_stock("a", 10, 2);
    CHECK(r.accept(provider("ev-1", "p1", ProviderEventKind::failed, 0)).empty());
    r.reject(provider("ev-2", "p1", ProviderEventKind::captured, kTotal),
             RejectCode::invalid_transition);
    r.reject(provider("ev-2", "p1", ProviderEventKind::refunded, 1),
             RejectCode::invalid_transition);
    // Paying again with the same payment id is refused by the ledger and fails the order again.
    r.flow(pay("o1", "p1", PaymentMethod::card));
    REQUIRE(r.refused.size() == 1u);
    CHECK(r.refused[0].second.code == RejectCode::already_exists);
    CHECK(r.order().status == OrderStatus::reserved);
    // With a fresh id it works.
    r.flow(pay("o1", "p2"));
    CHECK(r.order().status == OrderStatus::paid);
  }
  SUBCASE("a refund before capture is invalid_transition") {
    r.reject(provider("ev-1", "p1", ProviderEventKind::refunded, 10),
             RejectCode::invalid_transition);
  }
  SUBCASE("unknown payment, wallet payment, bad event id") {
    r.reject(provider("ev-1", "p-none", ProviderEventKind::captured, kTotal),
             RejectCode::not_found);
    r.accept(initiate("pw", "o9", PaymentMethod::wallet, 10));
    r.reject(provider("ev-1", "pw", ProviderEventKind::refunded, 10),
             RejectCode::invalid_transition);
    r.reject(provider("", "p1", ProviderEventKind::captured, kTotal), RejectCode::invalid_command);
    r.reject(provider("bad id", "p1", ProviderEventKind::captured, kTotal),
             RejectCode::invalid_command);
    r.reject(
        provider(std::string(kMaxIdLength + 1, 'e'), "p1", ProviderEventKind::captured, kTotal),
        RejectCode::invalid_command);
  }
}

TEST_CASE("money: provider refunds, partial and full, never above the capture") {
  Rig r = order_in(Scenario::reserved);
  r.flow(pay("o1", "p1", PaymentMethod::card));
  r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
  REQUIRE(r.order().status == OrderStatus::paid);

  SUBCASE("partial, then the rest") {
    auto events = r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, 300));
    CHECK(types_of(events) == std::vector<std::string>{"EscrowRefunded", "PaymentRefunded"});
    const auto& er = as<EscrowRefunded>(events[0]);
    CHECK_FALSE(er.resolves);
    CHECK(er.to_account == "external:card");
    CHECK(r.escrow().status == EscrowStatus::held);
    CHECK(r.escrow().held_minor.value() == kTotal - 300);
    CHECK(r.payment("p1").status == PaymentStatus::captured);
    CHECK(r.payment("p1").refunded_minor.value() == 300);
    CHECK(r.balance("external:card") == -kTotal + 300);
    // The same event again: nothing.
    CHECK(r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, 300)).empty());
    // Above what is left.
    r.reject(provider("ev-3", "p1", ProviderEventKind::refunded, kTotal - 300 + 1),
             RejectCode::refund_exceeds_capture);
    r.reject(provider("ev-3", "p1", ProviderEventKind::refunded, 0), RejectCode::invalid_command);
    r.reject(provider("ev-3", "p1", ProviderEventKind::refunded, -5), RejectCode::invalid_command);
    auto rest = r.accept(provider("ev-3", "p1", ProviderEventKind::refunded, kTotal - 300));
    CHECK(as<EscrowRefunded>(rest[0]).resolves);
    CHECK(r.escrow().status == EscrowStatus::refunded);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
    CHECK(r.balance("external:card") == 0);
    r.reject(provider("ev-4", "p1", ProviderEventKind::refunded, 1),
             RejectCode::invalid_transition);
    // The order's own flows find the escrow resolved: a benign refusal.
    r.accept(ship());
    r.accept(deliver());
    r.flow(confirm());
    REQUIRE(r.refused.size() == 1u);
    CHECK(std::holds_alternative<ReleaseEscrow>(r.refused[0].first));
    CHECK(refusal_is_benign(r.refused[0].first, r.refused[0].second));
    CHECK(r.balance("wallet:seller-1") == 0);
  }
  SUBCASE("full at once") {
    r.reject(provider("ev-2", "p1", ProviderEventKind::refunded, kTotal + 1),
             RejectCode::refund_exceeds_capture);
    auto events = r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, kTotal));
    CHECK(as<EscrowRefunded>(events[0]).resolves);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
    // A cancel afterwards: the order is refunded, the escrow refund finds nothing to do.
    r.flow(cancel());
    REQUIRE(r.refused.size() == 1u);
    CHECK(std::holds_alternative<RefundEscrow>(r.refused[0].first));
    CHECK(r.refused[0].second.code == RejectCode::invalid_transition);
    CHECK(refusal_is_benign(r.refused[0].first, r.refused[0].second));
    CHECK(r.balance("external:card") == 0);
  }
  SUBCASE("partial, then the order is cancelled: the rest is refunded") {
    r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, 999));
    r.flow(cancel());
    // The escrow's refund to the card tells the order, already cancelled: a benign no-op.
    REQUIRE(r.refused.size() == 1u);
    CHECK(std::holds_alternative<MarkOrderRefunded>(r.refused[0].first));
    CHECK(refusal_is_benign(r.refused[0].first, r.refused[0].second));
    CHECK(r.escrow().status == EscrowStatus::refunded);
    CHECK(r.payment("p1").refunded_minor.value() == kTotal);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
    CHECK(r.balance("external:card") == 0);
  }
  SUBCASE("partial, then completed: the seller gets the rest minus the fee on it") {
    r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, 999));
    r.accept(ship());
    r.accept(deliver());
    auto events = r.flow(confirm());
    const auto& rel = as<EscrowReleased>(events.back());
    CHECK(rel.amount_minor.value() == 1000);
    CHECK(rel.fee_minor.value() == 50);
    CHECK(r.balance("wallet:seller-1") == 950);
    CHECK(r.balance("platform:fees") == 50);
    // After the release the provider cannot refund from the escrow.
    r.reject(provider("ev-3", "p1", ProviderEventKind::refunded, 1),
             RejectCode::refund_exceeds_capture);
  }
}

TEST_CASE(
    "money flows: a full refund by the card provider cancels the order and restocks unshipped "
    "goods") {
  Rig r = order_in(Scenario::reserved);
  r.flow(pay("o1", "p1", PaymentMethod::card));
  r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
  REQUIRE(r.order().status == OrderStatus::paid);
  r.check_stock("a", 8, 0);
  SUBCASE("a partial refund leaves the order as it is") {
    r.flow(provider("ev-2", "p1", ProviderEventKind::refunded, 300));
    CHECK(r.order().status == OrderStatus::paid);
    CHECK(r.refused.empty());
  }
  SUBCASE("all of it, before shipping: cancelled and restocked") {
    auto events = r.flow(provider("ev-2", "p1", ProviderEventKind::refunded, kTotal));
    CHECK(r.order().status == OrderStatus::cancelled);
    r.check_stock("a", 10, 0);
    CHECK(r.escrow().status == EscrowStatus::refunded);
    CHECK(r.balance("external:card") == 0);
    // The order's own refund flow then finds the escrow resolved: benign, not parked.
    REQUIRE(r.refused.size() == 1u);
    CHECK(std::holds_alternative<RefundEscrow>(r.refused[0].first));
    CHECK(refusal_is_benign(r.refused[0].first, r.refused[0].second));
  }
  SUBCASE("all of it, after shipping: cancelled, nothing restocked") {
    r.accept(ship());
    r.flow(provider("ev-2", "p1", ProviderEventKind::refunded, kTotal));
    CHECK(r.order().status == OrderStatus::cancelled);
    r.check_stock("a", 8, 0);
  }
  SUBCASE("the platform's own refund does not refund the order twice") {
    r.flow(cancel());
    CHECK(r.order().status == OrderStatus::cancelled);
    r.check_stock("a", 10, 0);
    CHECK(r.balance("external:card") == 0);
    // EscrowRefunded to the card → MarkOrderRefunded, refused as already cancelled: benign.
    for (const auto& [c, why] : r.refused) CHECK(refusal_is_benign(c, why));
  }
}

TEST_CASE("money flows: a provider's full refund that reaches the order after completion") {
  Rig r = order_in(Scenario::reserved);
  r.flow(pay("o1", "p1", PaymentMethod::card));
  r.flow(provider("ev-1", "p1", ProviderEventKind::captured, kTotal));
  r.accept(ship());
  r.accept(deliver());
  // The refund lands on the ledger; its MarkOrderRefunded has not reached the order yet.
  auto refund = r.accept(provider("ev-2", "p1", ProviderEventKind::refunded, kTotal));
  auto tell_order = react(refund.at(0));
  REQUIRE(tell_order);
  REQUIRE(std::holds_alternative<MarkOrderRefunded>(*tell_order));
  // The customer confirms first: the release finds the escrow refunded.
  r.flow(confirm());
  CHECK(r.order().status == OrderStatus::completed);
  REQUIRE(r.refused.size() == 1u);
  CHECK(std::holds_alternative<ReleaseEscrow>(r.refused[0].first));
  // Then the refund reaches the order: it ends refunded, not completed with nobody paid.
  auto events = r.accept(*tell_order);
  CHECK(types_of(events) == std::vector<std::string>{"OrderRefunded"});
  CHECK(r.order().status == OrderStatus::cancelled);
  CHECK(r.balance("wallet:seller-1") == 0);
  CHECK(r.balance("external:card") == 0);
  r.reject(*tell_order, RejectCode::invalid_transition);  // once
}

TEST_CASE("money: the platform fee rounds down and the seller keeps the remainder") {
  CHECK(platform_fee_minor(999, 500) == 49);
  CHECK(platform_fee_minor(1999, 500) == 99);
  CHECK(platform_fee_minor(19, 500) == 0);
  CHECK(platform_fee_minor(20, 500) == 1);
  CHECK(platform_fee_minor(1, 10'000) == 1);
  CHECK(platform_fee_minor(12345, 0) == 0);
  CHECK(platform_fee_minor(kMaxAmountMinor, kMaxFeeBps) == kMaxAmountMinor);
  CHECK(platform_fee_minor(kMaxAmountMinor, 1) == kMaxAmountMinor / 10'000);
  CHECK(platform_fee_minor(kMaxAmountMinor - 1, 9'999) ==
        (kMaxAmountMinor - 1) / 10'000 * 9'999 + ((kMaxAmountMinor - 1) % 10'000) * 9'999 / 10'000);

  struct Case {
    int64_t amount, bps, fee;
  };
  for (const Case c : {Case{999, 500, 49}, Case{1, 500, 0}, Case{100, 0, 0}, Case{100, 10'000, 100},
                       Case{kMaxAmountMinor, 250, kMaxAmountMinor / 40}}) {
    CAPTURE(c.amount);
    CAPTURE(c.bps);
    Rig r;
    r.fee_bps = c.bps;
    r.accept(deposit("buyer", c.amount));
    r.accept(initiate("p1", "o1", PaymentMethod::wallet, c.amount, "buyer", "seller"));
    auto events = r.accept(ReleaseEscrow{OrderId{"o1"}, kUsd});
    REQUIRE(events.size() == 1u);
    const auto& e = as<EscrowReleased>(events[0]);
    CHECK(e.amount_minor.value() == c.amount);
    CHECK(e.fee_minor.value() == c.fee);
    CHECK(e.seller.value() == "seller");
    CHECK(r.balance("wallet:seller") == c.amount - c.fee);
    CHECK(r.balance("platform:fees") == c.fee);
    CHECK(r.balance("escrow:o1") == 0);
    CHECK(r.escrow().status == EscrowStatus::released);
    // No zero posting to the platform when there is no fee.
    CHECK(postings(events[0]).size() == (c.fee ? 3u : 2u));
  }
}

TEST_CASE("money: an escrow resolves at most once") {
  auto held = [] {
    Rig r;
    r.accept(deposit("buyer", 5000));
    r.accept(initiate("p1", "o1", PaymentMethod::wallet, 999, "buyer", "seller"));
    return r;
  };
  SUBCASE("double release") {
    Rig r = held();
    r.accept(ReleaseEscrow{OrderId{"o1"}, kUsd});
    r.reject(ReleaseEscrow{OrderId{"o1"}, kUsd}, RejectCode::invalid_transition);
    r.reject(RefundEscrow{OrderId{"o1"}, kUsd}, RejectCode::invalid_transition);
    CHECK(r.balance("wallet:seller") == 950);
    CHECK(r.balance("platform:fees") == 49);
  }
  SUBCASE("release after refund, refund after refund") {
    Rig r = held();
    auto events = r.accept(RefundEscrow{OrderId{"o1"}, kUsd});
    CHECK(types_of(events) == std::vector<std::string>{"EscrowRefunded", "PaymentRefunded"});
    CHECK(as<EscrowRefunded>(events[0]).to_account == "wallet:buyer");
    CHECK(as<PaymentRefunded>(events[1]).provider_event_id.empty());
    CHECK(r.balance("wallet:buyer") == 5000);
    r.reject(ReleaseEscrow{OrderId{"o1"}, kUsd}, RejectCode::invalid_transition);
    r.reject(RefundEscrow{OrderId{"o1"}, kUsd}, RejectCode::invalid_transition);
    CHECK(r.payment("p1").status == PaymentStatus::refunded);
  }
  SUBCASE("unknown escrow") {
    Rig r = held();
    r.reject(ReleaseEscrow{OrderId{"o2"}, kUsd}, RejectCode::not_found);
    r.reject(RefundEscrow{OrderId{"o2"}, kUsd}, RejectCode::not_found);
  }
  SUBCASE("a card escrow refunds to external:card") {
    Rig r;
    r.accept(initiate("p1", "o1", PaymentMethod::card, 999, "buyer", "seller"));
    r.accept(provider("ev-1", "p1", ProviderEventKind::captured, 999));
    auto events = r.accept(RefundEscrow{OrderId{"o1"}, kUsd});
    CHECK(as<EscrowRefunded>(events[0]).to_account == "external:card");
    CHECK(r.balance("external:card") == 0);
    CHECK(r.state.find_wallet(OwnerId{"buyer"}, kUsd) == nullptr);
  }
}

TEST_CASE("money: payouts hold, complete and reject") {
  Rig r;
  r.reject(request_payout("po1", "seller", 1), RejectCode::insufficient_funds);  // no wallet
  r.accept(deposit("seller", 1000));
  r.reject(request_payout("po1", "seller", 1001), RejectCode::insufficient_funds);
  auto events = r.accept(request_payout("po1", "seller", 600));
  CHECK(types_of(events) == std::vector<std::string>{"PayoutRequested"});
  CHECK(event_stream(events[0]) == "payout-po1");
  CHECK(r.balance("wallet:seller") == 1000);
  CHECK(r.held("seller") == 600);
  CHECK(r.available("seller") == 400);
  r.reject(request_payout("po1", "seller", 1), RejectCode::already_exists);
  // The hold reduces what a second payout can take.
  r.reject(request_payout("po2", "seller", 401), RejectCode::insufficient_funds);
  r.accept(request_payout("po2", "seller", 400));
  CHECK(r.available("seller") == 0);
  r.reject(request_payout("po3", "seller", 1), RejectCode::insufficient_funds);

  auto done = r.accept(CompletePayout{PayoutId{"po1"}});
  CHECK(types_of(done) == std::vector<std::string>{"PayoutCompleted"});
  CHECK(postings(done[0]) ==
        std::vector<Posting>{{"wallet:seller", kUsd, -600}, {"external:bank", kUsd, 600}});
  CHECK(r.balance("wallet:seller") == 400);
  CHECK(r.held("seller") == 400);
  CHECK(r.balance("external:bank") == -1000 + 600);
  CHECK(r.payout("po1").status == PayoutStatus::completed);
  r.reject(CompletePayout{PayoutId{"po1"}}, RejectCode::invalid_transition);
  r.reject(RejectPayout{PayoutId{"po1"}, "late"}, RejectCode::invalid_transition);

  auto rejected = r.accept(RejectPayout{PayoutId{"po2"}, "bank said no"});
  CHECK(types_of(rejected) == std::vector<std::string>{"PayoutRejected"});
  CHECK(r.balance("wallet:seller") == 400);
  CHECK(r.held("seller") == 0);
  CHECK(r.available("seller") == 400);
  CHECK(r.payout("po2").status == PayoutStatus::rejected);
  r.reject(RejectPayout{PayoutId{"po2"}, "again"}, RejectCode::invalid_transition);
  r.reject(CompletePayout{PayoutId{"po2"}}, RejectCode::invalid_transition);

  r.reject(CompletePayout{PayoutId{"nope"}}, RejectCode::not_found);
  r.reject(RejectPayout{PayoutId{"nope"}, "x"}, RejectCode::not_found);
  r.accept(request_payout("po3", "seller", 400));
  CHECK(r.available("seller") == 0);
}

TEST_CASE("money: payout bad fields are invalid_command") {
  Rig r;
  r.accept(deposit("seller", 1000));
  r.reject(request_payout("bad id", "seller", 1), RejectCode::invalid_command);
  r.reject(request_payout("po1", "bad owner", 1), RejectCode::invalid_command);
  r.reject(request_payout("po1", "seller", 0), RejectCode::invalid_command);
  r.reject(request_payout("po1", "seller", -1), RejectCode::invalid_command);
  r.reject(request_payout("po1", "seller", kMaxAmountMinor + 1), RejectCode::invalid_command);
  RequestPayout no_dest = request_payout("po1", "seller", 1);
  no_dest.destination.clear();
  r.reject(no_dest, RejectCode::invalid_command);
  RequestPayout bad_cur = request_payout("po1", "seller", 1);
  bad_cur.currency = Currency{"US"};
  r.reject(bad_cur, RejectCode::invalid_command);
  r.accept(request_payout("po1", "seller", 1));
  r.reject(RejectPayout{PayoutId{"po1"}, std::string(kMaxReasonLength + 1, 'x')},
           RejectCode::invalid_command);
}

TEST_CASE("money: a whole wallet-paid order to completion and the payout of the proceeds") {
  Rig r = order_in(Scenario::completed);
  CHECK(r.balance("wallet:cust-1") == 100'000 - kTotal);
  CHECK(r.balance("wallet:seller-1") == kTotal - kFee);
  CHECK(r.balance("platform:fees") == kFee);
  CHECK(r.balance("escrow:o1") == 0);
  CHECK(r.balance("external:bank") == -100'000);
  r.accept(request_payout("po1", "seller-1", kTotal - kFee));
  r.accept(CompletePayout{PayoutId{"po1"}});
  CHECK(r.balance("wallet:seller-1") == 0);
  CHECK(r.balance("external:bank") == -100'000 + kTotal - kFee);
}

TEST_CASE("money: check_invariants catches broken ledgers") {
  Rig r = order_in(Scenario::paid);
  std::string why;
  REQUIRE(check_invariants(r.state, &why));
  SUBCASE("money from nowhere") {
    r.state.wallets.at(WalletKey{OwnerId{"cust-1"}, kUsd}).balance_minor = AmountMinor{1'000'000};
    CHECK_FALSE(check_invariants(r.state, &why));
    CHECK(why.find("sum") != std::string::npos);
  }
  SUBCASE("a hold beyond the balance") {
    r.state.wallets.at(WalletKey{OwnerId{"cust-1"}, kUsd}).held_minor = AmountMinor{1'000'000};
    CHECK_FALSE(check_invariants(r.state, &why));
  }
  SUBCASE("a resolved escrow that still holds money") {
    r.state.escrows.at(OrderId{"o1"}).status = EscrowStatus::released;
    CHECK_FALSE(check_invariants(r.state, &why));
  }
  SUBCASE("a refund beyond the capture") {
    r.state.payments.at(PaymentId{"p1"}).refunded_minor = AmountMinor{kTotal + 1};
    CHECK_FALSE(check_invariants(r.state, &why));
  }
}

TEST_CASE("money: for_each_account lists each account once with its balance") {
  Rig r = order_in(Scenario::paid);
  std::map<std::pair<std::string, std::string>, int64_t> seen;
  for_each_account(r.state, [&](std::string_view currency, std::string_view account,
                                int64_t balance_minor) {
    CHECK(
        seen.emplace(std::pair{std::string(currency), std::string(account)}, balance_minor).second);
  });
  int64_t total = 0;
  for (const auto& [key, balance] : seen) {
    CAPTURE(key.second);
    CHECK(key.first == "USD");
    CHECK(balance == r.balance(key.second));
    total += balance;
  }
  CHECK(total == 0);
  // The wallet that paid, the escrow that holds it, and where the money came from.
  CHECK(seen.contains({"USD", "wallet:cust-1"}));
  CHECK(seen.at({"USD", "escrow:o1"}) == kTotal);
  CHECK(seen.size() == 3u);
}

TEST_CASE("money: money_precondition refuses events that cannot follow the state") {
  Rig r = order_in(Scenario::paid);
  CHECK(money_precondition(
      r.state, EscrowHeld{OrderId{"o1"}, PaymentId{"p1"}, "wallet:cust-1", CustomerId{"cust-1"},
                          SellerId{"seller-1"}, AmountMinor{kTotal}, kUsd}));
  CHECK(money_precondition(r.state, EscrowReleased{OrderId{"o1"}, SellerId{"seller-1"},
                                                   AmountMinor{kTotal - 1}, AmountMinor{0}, kUsd}));
  CHECK(money_precondition(r.state,
                           EscrowReleased{OrderId{"o1"}, SellerId{"seller-1"}, AmountMinor{kTotal},
                                          AmountMinor{kTotal + 1}, kUsd}));
  CHECK_FALSE(
      money_precondition(r.state, EscrowReleased{OrderId{"o1"}, SellerId{"seller-1"},
                                                 AmountMinor{kTotal}, AmountMinor{kFee}, kUsd}));
  CHECK(money_precondition(
      r.state, EscrowRefunded{OrderId{"o1"}, "wallet:cust-1", AmountMinor{kTotal}, kUsd, false}));
  CHECK(money_precondition(
      r.state, PayoutRequested{PayoutId{"x"}, OwnerId{"cust-1"}, kUsd, AmountMinor{100'000}, "d"}));
  CHECK(money_precondition(r.state, OrderShipped{OrderId{"nope"}}));
  CHECK(money_precondition(r.state, OrderDelivered{OrderId{"o1"}, TimestampMs{0}}));
  CHECK(money_precondition(r.state, OrderPaid{OrderId{"o1"}, PaymentId{"p1"}}));
  CHECK_FALSE(money_precondition(r.state, OrderShipped{OrderId{"o1"}}));
}

// ---------------------------------------------------------------------------------------
// The process managers' rules.
// ---------------------------------------------------------------------------------------

TEST_CASE("money flows: react() to each triggering event") {
  const OrderId o{"o1"};
  const PaymentId p{"p1"};
  {
    auto c = react(OrderPaymentRequested{o, p, PaymentMethod::card, CustomerId{"c"}, SellerId{"s"},
                                         AmountMinor{5}, kUsd});
    REQUIRE(c);
    const auto& ip = std::get<InitiatePayment>(*c);
    CHECK(ip.payment_id == p);
    CHECK(ip.order_id == o);
    CHECK(ip.method == PaymentMethod::card);
    CHECK(ip.buyer.value() == "c");
    CHECK(ip.seller.value() == "s");
    CHECK(ip.amount_minor.value() == 5);
    CHECK(ip.currency == kUsd);
  }
  {
    auto c = react(PaymentCaptured{p, o, AmountMinor{5}, "ev"});
    REQUIRE(c);
    const auto& m = std::get<MarkOrderPaid>(*c);
    CHECK(m.order_id == o);
    CHECK(m.payment_id == p);
  }
  {
    auto c = react(PaymentFailed{p, o, "insufficient_funds: x", ""});
    REQUIRE(c);
    const auto& m = std::get<MarkOrderPaymentFailed>(*c);
    CHECK(m.order_id == o);
    CHECK(m.payment_id == p);
    CHECK(m.reason == "insufficient_funds: x");
  }
  {
    auto c = react(OrderCompleted{o, "confirmed", AmountMinor{5}, kUsd});
    REQUIRE(c);
    CHECK(std::get<ReleaseEscrow>(*c).order_id == o);
    CHECK(std::get<ReleaseEscrow>(*c).currency == kUsd);
  }
  {
    auto c = react(OrderRefunded{o, p, "r", AmountMinor{5}, kUsd});
    REQUIRE(c);
    CHECK(std::get<RefundEscrow>(*c).order_id == o);
    CHECK(std::get<RefundEscrow>(*c).currency == kUsd);
  }
  {
    auto c = react(OrderPaymentReturned{o, p, AmountMinor{5}, kUsd});
    REQUIRE(c);
    CHECK(std::get<RefundEscrow>(*c).order_id == o);
    CHECK(std::get<RefundEscrow>(*c).currency == kUsd);
  }
  // Everything else starts no step.
  const std::vector<Event> quiet = {
      OrderPaid{o, p},
      OrderPaymentFailed{o, p, "x"},
      OrderShipped{o},
      OrderDelivered{o, TimestampMs{1}},
      OrderDisputed{o, "x"},
      StockCommitted{Sku{"a"}, o, Quantity{1}},
      StockRestocked{Sku{"a"}, o, Quantity{1}},
      WalletDeposited{OwnerId{"w"}, kUsd, AmountMinor{1}, "r"},
      PaymentInitiated{p, o, PaymentMethod::wallet, CustomerId{"c"}, SellerId{"s"}, AmountMinor{1},
                       kUsd},
      PaymentRefunded{p, o, AmountMinor{1}, ""},
      EscrowHeld{o, p, "wallet:c", CustomerId{"c"}, SellerId{"s"}, AmountMinor{1}, kUsd},
      EscrowReleased{o, SellerId{"s"}, AmountMinor{1}, AmountMinor{0}, kUsd},
      EscrowRefunded{o, "wallet:c", AmountMinor{1}, kUsd, true},
      PayoutRequested{PayoutId{"x"}, OwnerId{"w"}, kUsd, AmountMinor{1}, "d"},
      PayoutCompleted{PayoutId{"x"}, OwnerId{"w"}, kUsd, AmountMinor{1}},
      PayoutRejected{PayoutId{"x"}, "r"},
      OrderCancelled{o, "x"},
      OrderExpired{o},
      StockReserved{Sku{"a"}, o, Quantity{1}},
      StockReleased{Sku{"a"}, o, Quantity{1}}};
  for (const auto& e : quiet) {
    CAPTURE(event_type(e));
    CHECK_FALSE(react(e).has_value());
  }
  // The runtime decodes only what flow_may_need() names: every type that starts a step
  // (above, and a card refund that resolves its escrow) and the four watched outcomes.
  for (const Event& e : std::vector<Event>{
           OrderPaymentRequested{o, p, PaymentMethod::card, CustomerId{"c"}, SellerId{"s"},
                                 AmountMinor{5}, kUsd},
           PaymentCaptured{p, o, AmountMinor{5}, "ev"}, PaymentFailed{p, o, "x", ""},
           OrderCompleted{o, "confirmed", AmountMinor{5}, kUsd},
           OrderRefunded{o, p, "r", AmountMinor{5}, kUsd},
           OrderPaymentReturned{o, p, AmountMinor{5}, kUsd},
           EscrowRefunded{o, std::string(kExternalCard), AmountMinor{5}, kUsd, true}}) {
    CAPTURE(event_type(e));
    REQUIRE(react(e).has_value());
    CHECK(flow_may_need(event_type(e)));
  }
  const std::set<std::string_view> watched = {"OrderPaid", "OrderPaymentFailed", "EscrowReleased",
                                              "EscrowRefunded"};
  for (const auto& e : quiet) {
    CAPTURE(event_type(e));
    CHECK(flow_may_need(event_type(e)) == (watched.count(event_type(e)) > 0));
  }
}

TEST_CASE("money flows: on_refused and refusal_is_benign") {
  const InitiatePayment ip = initiate("p1", "o1", PaymentMethod::wallet, 5);
  for (RejectCode code : kAllRejectCodes) {
    CAPTURE(to_string(code));
    const Rejection why{code, "detail"};
    auto next = on_refused(ip, why);
    REQUIRE(next);
    const auto& m = std::get<MarkOrderPaymentFailed>(*next);
    CHECK(m.order_id.value() == "o1");
    CHECK(m.payment_id.value() == "p1");
    CHECK(m.reason == to_string(code));
    CHECK_FALSE(refusal_is_benign(ip, why));
    // The other follow-ups end their flow when refused.
    for (const Command& c :
         std::vector<Command>{ReleaseEscrow{OrderId{"o1"}, kUsd}, RefundEscrow{OrderId{"o1"}, kUsd},
                              MarkOrderPaid{OrderId{"o1"}, PaymentId{"p1"}},
                              MarkOrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"}, "x"}}) {
      CAPTURE(command_name(c));
      CHECK_FALSE(on_refused(c, why).has_value());
      const bool benign =
          code == RejectCode::invalid_transition && !std::holds_alternative<MarkOrderPaid>(c);
      CHECK(refusal_is_benign(c, why) == benign);
    }
  }
}

TEST_CASE("money flows: a refused InitiatePayment fails the order instead of leaving it pending") {
  Rig r = shop();
  r.accept(place("o1", {{"a", 1}}));
  r.accept(place("o2", {{"a", 1}}));
  r.flow(pay("o1", "p1", PaymentMethod::card));
  // o2 reuses o1's payment id: the ledger refuses, on_refused fails o2's payment.
  r.flow(pay("o2", "p1", PaymentMethod::card));
  REQUIRE(r.refused.size() == 1u);
  CHECK(std::holds_alternative<InitiatePayment>(r.refused[0].first));
  CHECK(r.refused[0].second.code == RejectCode::already_exists);
  CHECK(r.order("o2").status == OrderStatus::reserved);
  CHECK(r.order("o1").status == OrderStatus::payment_pending);
  // o1's payment is unaffected and settles normally.
  r.flow(provider("ev-1", "p1", ProviderEventKind::captured, 999));
  CHECK(r.order("o1").status == OrderStatus::paid);
  CHECK(r.refused.size() == 1u);
}

TEST_CASE("money: postings the ledger could not take are refused by the precondition") {
  // apply asserts what money_precondition checks, so the auditor's verify reports a forged log
  // through the precondition instead of stopping on an assertion.
  Rig r = shop();  // cust-1's wallet holds 100,000
  const auto why = [&](const Event& e) { return money_precondition(r.state, e).value_or(""); };
  const EscrowHeld from_nowhere{
      OrderId{"o9"},  PaymentId{"p9"}, "escrow:nope", CustomerId{"cust-1"},
      SellerId{"s1"}, AmountMinor{5},  kUsd};
  CHECK_MESSAGE(why(from_nowhere).find("escrow:nope, which is not an escrow") != std::string::npos,
                why(from_nowhere));
  EscrowRefunded to_nowhere{OrderId{"o9"}, "escrow:nope", AmountMinor{5}, kUsd, true};
  CHECK_MESSAGE(why(to_nowhere).find("is not an escrow") != std::string::npos, why(to_nowhere));
  // A balance at the edge of int64 (a forged log can deposit 10^15 at a time without end).
  r.state.wallets.at(WalletKey{OwnerId{"cust-1"}, kUsd}).balance_minor =
      AmountMinor{std::numeric_limits<int64_t>::max() - 10};
  const WalletDeposited past_range{OwnerId{"cust-1"}, kUsd, AmountMinor{11}, "x"};
  CHECK_MESSAGE(why(past_range).find("past its range") != std::string::npos, why(past_range));
  const WalletDeposited within{OwnerId{"cust-1"}, kUsd, AmountMinor{10}, "x"};
  CHECK(why(within).empty());
}

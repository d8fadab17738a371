// Seeded simulation of the money side of the PURE domain: N partitions (1 and 4), each a
// PartitionState driven by decide/apply; products and orders routed by seller, the ledger
// by currency (as engine/runtime/router.cpp does). Thousands of random commands across many
// wallets, sellers and orders, an injected clock with the partitions' timers (reservation
// expiry, the card payment timeout, automatic release), provider webhooks (with duplicates),
// and the process managers:
// every accepted event goes through react(); its follow-up is delivered through a queue that
// duplicates, reorders and sometimes "crashes" (drops everything in flight and redelivers
// from a checkpoint). A follow-up is idempotent by a key derived from its triggering event
// (partition, offset), with a key → outcome map as the engine's idempotency records; a
// refused follow-up goes through on_refused. A capture that comes after its order's payment
// timed out finds the order expired: the order returns the payment, and its flow refunds the
// escrow to the card, with no operator in the loop.
//
// A plain reference model predicts every command's outcome and is compared with the
// partitions after every step; the ledger invariants are checked after every step and the
// flows' end results at quiescence. A failure prints its seed; ORDO_SIM_SEED=<seed> reruns it
// (ORDO_SIM_PARTITIONS and ORDO_SIM_STEPS narrow it further).
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/domain/decide.hpp"
#include "engine/domain/flows.hpp"
#include "engine/domain/ledger.hpp"

using namespace ordo;

namespace {

constexpr int64_t kTtlMs = 60'000;
constexpr int64_t kReleaseAfterMs = 300'000;
constexpr int64_t kWalletCeiling = kMaxAmountMinor * 1000;

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A check for the hot per-step comparisons: doctest's REQUIRE counts every assertion, which
// costs more than the simulation itself; this one only reports failures.
template <typename... A>
std::string cat(const A&... a) {
  std::ostringstream out;
  (out << ... << a);
  return out.str();
}
#define SIM_REQUIRE(cond, ...)                 \
  do {                                         \
    if (!(cond)) [[unlikely]]                  \
      FAIL(#cond << ": " << cat(__VA_ARGS__)); \
  } while (0)

std::string show(const std::optional<RejectCode>& r) {
  return r ? std::string(to_string(*r)) : "accepted";
}

// ---------------------------------------------------------------------------------------
// The reference model: plain maps and the rules as a person would state them.
// ---------------------------------------------------------------------------------------
struct Model {
  struct Product {
    std::string seller, currency;
    int64_t price = 0, on_hand = 0, reserved = 0;
  };
  struct Order {
    std::string customer, seller, currency;
    std::vector<std::pair<std::string, int64_t>> lines;
    int64_t total = 0, expires_at = 0, release_at = 0;
    std::string status = "reserved";
    std::string payment_id;
    bool card = false;       // the latest PayOrder was by card
    bool paid_once = false;  // reached paid
    bool cancelled_after_payment = false;
  };
  struct Wallet {
    int64_t balance = 0, held = 0;
  };
  struct Payment {
    std::string order, buyer, seller, currency;
    bool card = false;
    int64_t amount = 0, refunded = 0, provider_refunded = 0;
    std::string status = "pending";
  };
  struct Escrow {
    std::string payment, source, seller, currency;
    int64_t amount = 0, held = 0, released = 0, fee = 0;
    std::string status = "held";
  };
  struct Payout {
    std::string owner, currency;
    int64_t amount = 0;
    std::string status = "requested";
  };

  int64_t fee_bps = 500;
  int64_t payment_timeout_ms = 0;  // 0: a card payment is waited for for ever
  size_t late_returns = 0;         // captures that found their order expired
  std::map<std::string, Product> products;
  std::map<std::string, Order> orders;
  std::map<std::pair<std::string, std::string>, Wallet> wallets;  // (owner, currency)
  std::map<std::string, Payment> payments;
  std::map<std::string, Escrow> escrows;  // by order
  std::map<std::string, Payout> payouts;
  std::map<std::string, int64_t>
      accounts;  // "platform:fees/USD", "external:bank/USD", "external:card/USD"
  std::set<std::string> provider_events;
  // Plain tallies for the end-of-run checks.
  std::map<std::pair<std::string, std::string>, int64_t> deposited, paid_out;

  Wallet& wallet(const std::string& owner, const std::string& cur) { return wallets[{owner, cur}]; }
  int64_t available(const std::string& owner, const std::string& cur) const {
    auto it = wallets.find({owner, cur});
    return it == wallets.end() ? 0 : it->second.balance - it->second.held;
  }
  void post(const std::string& account, const std::string& cur, int64_t amount) {
    if (account.starts_with("wallet:"))
      wallet(account.substr(7), cur).balance += amount;
    else
      accounts[account + "/" + cur] += amount;
  }

  using R = std::optional<RejectCode>;
  static constexpr R ok = std::nullopt;

  R run(const Command& c, int64_t now) {
    return std::visit([&](const auto& x) { return on(x, now); }, c);
  }

  R on(const DefineProduct& c, int64_t) {
    if (products.count(c.sku.value())) return RejectCode::already_exists;
    products[c.sku.value()] = {c.seller_id.value(), c.currency.value(), c.price_minor.value(),
                               c.stock.value(), 0};
    return ok;
  }
  R on(const AdjustStock& c, int64_t) {
    auto it = products.find(c.sku.value());
    if (it == products.end()) return RejectCode::not_found;
    if (it->second.on_hand + c.delta.value() < it->second.reserved)
      return RejectCode::stock_below_reserved;
    if (it->second.on_hand + c.delta.value() > kMaxStock) return RejectCode::stock_limit;
    it->second.on_hand += c.delta.value();
    return ok;
  }
  R on(const PlaceOrder& c, int64_t now) {
    if (orders.count(c.order_id.value())) return RejectCode::already_exists;
    Order o;
    o.customer = c.customer_id.value();
    for (const auto& l : c.lines) {
      auto it = products.find(l.sku.value());
      if (it == products.end()) return RejectCode::unknown_sku;
      if (o.seller.empty()) o.seller = it->second.seller, o.currency = it->second.currency;
      if (it->second.seller != o.seller) return RejectCode::mixed_sellers;
      if (it->second.currency != o.currency) return RejectCode::mixed_currencies;
      if (it->second.on_hand - it->second.reserved < l.qty.value()) return RejectCode::out_of_stock;
      o.lines.emplace_back(l.sku.value(), l.qty.value());
      o.total += it->second.price * l.qty.value();
    }
    for (const auto& [sku, qty] : o.lines) products[sku].reserved += qty;
    o.expires_at = now + kTtlMs;
    orders[c.order_id.value()] = o;
    return ok;
  }
  void release_stock(Order& o) {
    for (const auto& [sku, qty] : o.lines) products[sku].reserved -= qty;
  }
  R on(const CancelOrder& c, int64_t) {
    auto it = orders.find(c.order_id.value());
    if (it == orders.end()) return RejectCode::not_found;
    Order& o = it->second;
    if (o.status == "reserved") {
      release_stock(o);
      o.status = "cancelled";
      return ok;
    }
    if (o.status == "paid") {
      for (const auto& [sku, qty] : o.lines) products[sku].on_hand += qty;
      o.status = "cancelled";
      o.cancelled_after_payment = true;
      return ok;
    }
    return RejectCode::invalid_transition;
  }
  // The card provider refunded everything: the order is cancelled (restocked if unshipped).
  R on(const MarkOrderRefunded& c, int64_t) {
    Order* o = order(c.order_id);
    if (!o) return RejectCode::not_found;
    if (o->status == "paid") {
      for (const auto& [sku, qty] : o->lines) products[sku].on_hand += qty;
    } else if (o->status != "shipped" && o->status != "delivered" && o->status != "disputed" &&
               o->status != "completed") {  // a completion the refund overtook
      return RejectCode::invalid_transition;
    }
    o->status = "cancelled";
    o->cancelled_after_payment = true;
    return ok;
  }
  // A reserved order expires with its reservation; one waiting for a card payment expires a
  // payment timeout later (never with a timeout of 0, nor for a wallet payment).
  R on(const ExpireReservation& c, int64_t now) {
    auto it = orders.find(c.order_id.value());
    if (it == orders.end()) return RejectCode::not_found;
    Order& o = it->second;
    const bool reservation_due = o.status == "reserved" && now >= o.expires_at;
    const bool payment_due = o.status == "payment_pending" && o.card && payment_timeout_ms > 0 &&
                             now >= o.expires_at + payment_timeout_ms;
    if (!reservation_due && !payment_due) return RejectCode::invalid_transition;
    release_stock(o);
    o.status = "expired";
    return ok;
  }
  Order* order(const OrderId& id) {
    auto it = orders.find(id.value());
    return it == orders.end() ? nullptr : &it->second;
  }
  R on(const PayOrder& c, int64_t now) {
    Order* o = order(c.order_id);
    if (!o) return RejectCode::not_found;  // the router's answer, before any partition
    if (!is_valid_id(c.payment_id.value())) return RejectCode::invalid_command;
    if (o->status != "reserved" || now >= o->expires_at) return RejectCode::invalid_transition;
    o->status = "payment_pending";
    o->payment_id = c.payment_id.value();
    o->card = c.method == PaymentMethod::card;
    return ok;
  }
  R on(const MarkOrderPaid& c, int64_t) {
    Order* o = order(c.order_id);
    if (!o) return RejectCode::not_found;
    // Captured after the payment timeout expired the order: returned (OrderPaymentReturned;
    // its flow refunds the escrow), the order stays expired.
    if (o->status == "expired" && !o->payment_id.empty() && o->payment_id == c.payment_id.value()) {
      ++late_returns;
      return ok;
    }
    if (o->status != "payment_pending" || o->payment_id != c.payment_id.value())
      return RejectCode::invalid_transition;
    for (const auto& [sku, qty] : o->lines) {
      products[sku].on_hand -= qty;
      products[sku].reserved -= qty;
    }
    o->status = "paid";
    o->paid_once = true;
    return ok;
  }
  R on(const MarkOrderPaymentFailed& c, int64_t) {
    Order* o = order(c.order_id);
    if (!o) return RejectCode::not_found;
    if (o->status != "payment_pending" || o->payment_id != c.payment_id.value())
      return RejectCode::invalid_transition;
    o->status = "reserved";
    return ok;
  }
  R step(const OrderId& id, const char* from, const char* to) {
    Order* o = order(id);
    if (!o) return RejectCode::not_found;
    if (o->status != from) return RejectCode::invalid_transition;
    o->status = to;
    return ok;
  }
  R on(const ShipOrder& c, int64_t) { return step(c.order_id, "paid", "shipped"); }
  R on(const DeliverOrder& c, int64_t now) {
    R r = step(c.order_id, "shipped", "delivered");
    if (!r) order(c.order_id)->release_at = now + kReleaseAfterMs;
    return r;
  }
  R on(const ConfirmOrder& c, int64_t) { return step(c.order_id, "delivered", "completed"); }
  R on(const DisputeOrder& c, int64_t) { return step(c.order_id, "delivered", "disputed"); }
  R on(const AutoCompleteOrder& c, int64_t now) {
    Order* o = order(c.order_id);
    if (o && o->status == "delivered" && now < o->release_at) return RejectCode::invalid_transition;
    return step(c.order_id, "delivered", "completed");
  }
  R on(const ResolveDispute& c, int64_t) {
    Order* o = order(c.order_id);
    if (!o) return RejectCode::not_found;
    if (o->status != "delivered" && o->status != "disputed") return RejectCode::invalid_transition;
    o->status = c.release ? "completed" : "cancelled";
    if (!c.release) o->cancelled_after_payment = true;  // delivered goods are not restocked
    return ok;
  }

  R on(const DepositToWallet& c, int64_t) {
    const int64_t a = c.amount_minor.value();
    if (a <= 0 || a > kMaxAmountMinor) return RejectCode::invalid_command;
    Wallet& w = wallet(c.owner.value(), c.currency.value());
    if (w.balance + a > kWalletCeiling) return RejectCode::amount_overflow;
    w.balance += a;
    accounts["external:bank/" + c.currency.value()] -= a;
    deposited[{c.owner.value(), c.currency.value()}] += a;
    return ok;
  }
  void hold(const std::string& order_id, const std::string& payment_id, const std::string& source) {
    Payment& p = payments[payment_id];
    Escrow e{payment_id, source, p.seller, p.currency, p.amount, p.amount, 0, 0, "held"};
    escrows[order_id] = e;
    post(source, p.currency, -p.amount);
    p.status = "captured";
  }
  R on(const InitiatePayment& c, int64_t) {
    const int64_t a = c.amount_minor.value();
    if (a < 0 || a > kMaxAmountMinor) return RejectCode::invalid_command;
    if (payments.count(c.payment_id.value())) return RejectCode::already_exists;
    if (escrows.count(c.order_id.value())) return RejectCode::already_exists;
    const bool card = c.method == PaymentMethod::card;
    payments[c.payment_id.value()] = {
        c.order_id.value(), c.buyer.value(), c.seller.value(), c.currency.value(), card, a, 0, 0,
        "pending"};
    if (card && a > 0) return ok;
    if (!card && available(c.buyer.value(), c.currency.value()) < a) {
      payments[c.payment_id.value()].status = "failed";
      return ok;
    }
    hold(c.order_id.value(), c.payment_id.value(),
         card ? "external:card" : "wallet:" + c.buyer.value());
    return ok;
  }
  R on(const ApplyProviderEvent& c, int64_t) {
    if (provider_events.count(c.event_id)) return ok;
    auto it = payments.find(c.payment_id.value());
    if (it == payments.end()) return RejectCode::not_found;
    Payment& p = it->second;
    if (!p.card) return RejectCode::invalid_transition;
    const int64_t a = c.amount_minor.value();
    switch (c.kind) {
      case ProviderEventKind::captured:
        if (p.status != "pending") return RejectCode::invalid_transition;
        if (a != p.amount) return RejectCode::amount_mismatch;
        hold(p.order, c.payment_id.value(), "external:card");
        break;
      case ProviderEventKind::failed:
        if (p.status != "pending") return RejectCode::invalid_transition;
        p.status = "failed";
        break;
      case ProviderEventKind::refunded: {
        if (a <= 0 || a > kMaxAmountMinor) return RejectCode::invalid_command;
        if (p.status != "captured") return RejectCode::invalid_transition;
        if (p.refunded + a > p.amount) return RejectCode::refund_exceeds_capture;
        auto e = escrows.find(p.order);
        if (e == escrows.end() || e->second.status != "held" || e->second.held < a)
          return RejectCode::refund_exceeds_capture;
        e->second.held -= a;
        if (e->second.held == 0) e->second.status = "refunded";
        accounts["external:card/" + p.currency] += a;
        p.refunded += a;
        p.provider_refunded += a;
        if (p.refunded == p.amount) p.status = "refunded";
        break;
      }
    }
    provider_events.insert(c.event_id);
    return ok;
  }
  R on(const ReleaseEscrow& c, int64_t) {
    auto it = escrows.find(c.order_id.value());
    if (it == escrows.end()) return RejectCode::not_found;
    Escrow& e = it->second;
    if (e.status != "held") return RejectCode::invalid_transition;
    e.fee = e.held * fee_bps / 10'000;
    e.released = e.held;
    post("wallet:" + e.seller, e.currency, e.held - e.fee);
    accounts["platform:fees/" + e.currency] += e.fee;
    e.held = 0;
    e.status = "released";
    return ok;
  }
  R on(const RefundEscrow& c, int64_t) {
    auto it = escrows.find(c.order_id.value());
    if (it == escrows.end()) return RejectCode::not_found;
    Escrow& e = it->second;
    if (e.status != "held") return RejectCode::invalid_transition;
    post(e.source, e.currency, e.held);
    Payment& p = payments[e.payment];
    p.refunded += e.held;
    if (e.held > 0 && p.refunded == p.amount) p.status = "refunded";
    e.held = 0;
    e.status = "refunded";
    return ok;
  }
  R on(const RequestPayout& c, int64_t) {
    const int64_t a = c.amount_minor.value();
    if (a <= 0 || a > kMaxAmountMinor) return RejectCode::invalid_command;
    if (payouts.count(c.payout_id.value())) return RejectCode::already_exists;
    if (available(c.owner.value(), c.currency.value()) < a) return RejectCode::insufficient_funds;
    wallet(c.owner.value(), c.currency.value()).held += a;
    payouts[c.payout_id.value()] = {c.owner.value(), c.currency.value(), a, "requested"};
    return ok;
  }
  R on(const CompletePayout& c, int64_t) {
    auto it = payouts.find(c.payout_id.value());
    if (it == payouts.end()) return RejectCode::not_found;
    Payout& p = it->second;
    if (p.status != "requested") return RejectCode::invalid_transition;
    Wallet& w = wallet(p.owner, p.currency);
    w.held -= p.amount;
    w.balance -= p.amount;
    accounts["external:bank/" + p.currency] += p.amount;
    paid_out[{p.owner, p.currency}] += p.amount;
    p.status = "completed";
    return ok;
  }
  R on(const RejectPayout& c, int64_t) {
    auto it = payouts.find(c.payout_id.value());
    if (it == payouts.end()) return RejectCode::not_found;
    Payout& p = it->second;
    if (p.status != "requested") return RejectCode::invalid_transition;
    wallet(p.owner, p.currency).held -= p.amount;
    p.status = "rejected";
    return ok;
  }
};

// ---------------------------------------------------------------------------------------
// The engine side: partitions of pure state, their logs, routing, timers and the process
// manager with its faulty delivery queue.
// ---------------------------------------------------------------------------------------
struct Partition {
  PartitionState state;
  std::vector<Event> log;
};

struct Delivery {
  uint32_t partition;
  size_t offset;
  Command command;
};

struct Sim {
  std::mt19937_64 rng;
  uint32_t n;
  std::vector<Partition> parts;
  Model model;
  int64_t now = 1'700'000'000'000;
  int64_t fee_bps;
  int64_t payment_timeout_ms;
  // Indexes the router keeps from committed events.
  std::map<std::string, std::string> sku_seller;
  std::map<std::string, uint32_t> order_partition, payment_partition, payout_partition;
  // The process manager: a read cursor and a checkpoint per partition, the in-flight queue,
  // and the idempotency records (key → outcome; they survive a PM crash, as the engine's do).
  std::vector<size_t> cursor, checkpoint;
  std::vector<std::set<size_t>> done;
  std::deque<Delivery> queue;
  std::map<std::string, std::optional<Rejection>> idempotency;
  // Tallies over all logs for the step checks.
  std::map<std::string, int> escrow_resolutions;      // order → resolving events
  std::map<std::string, int64_t> captured, refunded;  // payment → amounts in events
  std::vector<std::string> anomalies;                 // refusals that should never happen
  size_t steps_run = 0, follow_ups = 0, duplicates_skipped = 0, crashes = 0;

  Sim(uint64_t seed, uint32_t partitions) : rng(seed), n(partitions), parts(partitions) {
    const int64_t fees[] = {0, 250, 500, 999, 10'000};
    fee_bps = fees[rng() % 5];
    model.fee_bps = fee_bps;
    const int64_t timeouts[] = {0, kTtlMs / 2, 3 * kTtlMs};
    payment_timeout_ms = timeouts[rng() % 3];
    model.payment_timeout_ms = payment_timeout_ms;
    cursor.assign(n, 0);
    checkpoint.assign(n, 0);
    done.assign(n, {});
  }

  DecideContext ctx() const {
    DecideContext c;
    c.now = TimestampMs{now};
    c.reservation_ttl = DurationMs{kTtlMs};
    c.auto_release_after = DurationMs{kReleaseAfterMs};
    c.platform_fee_bps = fee_bps;
    c.payment_timeout = DurationMs{payment_timeout_ms};
    return c;
  }
  uint32_t for_seller(const std::string& s) const { return uint32_t(fnv1a(s) % n); }
  uint32_t for_currency(const std::string& c) const {
    return uint32_t(fnv1a(c, fnv1a("ledger:")) % n);
  }

  // The router: the partition of a command, or not_found/unknown_sku before any partition.
  std::variant<uint32_t, RejectCode> route(const Command& command) const {
    return std::visit(
        [&](const auto& c) -> std::variant<uint32_t, RejectCode> {
          using T = std::decay_t<decltype(c)>;
          auto lookup = [](const auto& m, const std::string& k,
                           RejectCode code) -> std::variant<uint32_t, RejectCode> {
            auto it = m.find(k);
            if (it == m.end()) return code;
            return it->second;
          };
          if constexpr (std::is_same_v<T, DefineProduct>)
            return for_seller(c.seller_id.value());
          else if constexpr (std::is_same_v<T, AdjustStock>) {
            auto it = sku_seller.find(c.sku.value());
            if (it == sku_seller.end()) return RejectCode::not_found;
            return for_seller(it->second);
          } else if constexpr (std::is_same_v<T, PlaceOrder>) {
            auto it = sku_seller.find(c.lines.at(0).sku.value());
            if (it == sku_seller.end()) return RejectCode::unknown_sku;
            if (order_partition.count(c.order_id.value())) return RejectCode::already_exists;
            return for_seller(it->second);
          } else if constexpr (requires { c.currency; }) {
            // Payment and payout ids are unique across ledger partitions: a partition only
            // knows its own, so the router refuses an id another partition holds (else the
            // webhook and payout routing by id would be ambiguous).
            if constexpr (std::is_same_v<T, InitiatePayment>) {
              if (payment_partition.count(c.payment_id.value())) return RejectCode::already_exists;
            } else if constexpr (std::is_same_v<T, RequestPayout>) {
              if (payout_partition.count(c.payout_id.value())) return RejectCode::already_exists;
            }
            return for_currency(c.currency.value());
          } else if constexpr (std::is_same_v<T, ApplyProviderEvent>) {
            return lookup(payment_partition, c.payment_id.value(), RejectCode::not_found);
          } else if constexpr (requires { c.payout_id; }) {
            return lookup(payout_partition, c.payout_id.value(), RejectCode::not_found);
          } else {
            return lookup(order_partition, c.order_id.value(), RejectCode::not_found);
          }
        },
        command);
  }

  // Runs one command in its partition and checks it against the model's prediction.
  // Returns the rejection, if any.
  std::optional<Rejection> execute(const Command& c) {
    const auto want = model.run(c, now);
    auto r = route(c);
    std::optional<Rejection> got;
    if (auto* code = std::get_if<RejectCode>(&r)) {
      got = Rejection{*code, "router"};
    } else {
      const uint32_t p = std::get<uint32_t>(r);
      Partition& part = parts[p];
      Decision d = decide(part.state, c, ctx());
      if (auto* rej = std::get_if<Rejection>(&d)) {
        got = *rej;
      } else {
        for (const auto& e : std::get<std::vector<Event>>(d)) append(p, e);
      }
    }
    const std::optional<RejectCode> got_code =
        got ? std::optional<RejectCode>(got->code) : std::nullopt;
    SIM_REQUIRE(got_code == want, "step ", steps_run, ": ", command_name(c), " engine ",
                show(got_code), " (", got ? got->detail : "", "), model ", show(want));
    return got;
  }

  void append(uint32_t p, const Event& e) {
    Partition& part = parts[p];
    auto why = money_precondition(part.state, e);
    SIM_REQUIRE(!why, event_type(e), ": ", why.value_or(""));
    std::map<std::string, int64_t> sum;
    for (const auto& x : postings(e)) sum[x.currency.value()] += x.amount_minor;
    for (const auto& [cur, s] : sum) SIM_REQUIRE(s == 0, event_type(e), " posts ", s, " ", cur);
    apply(part.state, e, TimestampMs{now});
    part.log.push_back(e);
    // The router's indexes and the step tallies.
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ProductDefined>)
            sku_seller[x.sku.value()] = x.seller_id.value();
          else if constexpr (std::is_same_v<T, OrderPlaced>)
            order_partition[x.order_id.value()] = p;
          else if constexpr (std::is_same_v<T, PaymentInitiated>)
            payment_partition[x.payment_id.value()] = p;
          else if constexpr (std::is_same_v<T, PayoutRequested>)
            payout_partition[x.payout_id.value()] = p;
          else if constexpr (std::is_same_v<T, EscrowReleased>)
            ++escrow_resolutions[x.order_id.value()];
          else if constexpr (std::is_same_v<T, EscrowRefunded>) {
            if (x.resolves) ++escrow_resolutions[x.order_id.value()];
          } else if constexpr (std::is_same_v<T, PaymentCaptured>)
            captured[x.payment_id.value()] += x.amount_minor.value();
          else if constexpr (std::is_same_v<T, PaymentRefunded>)
            refunded[x.payment_id.value()] += x.amount_minor.value();
        },
        e);
  }

  // ---- the process manager ----

  bool pm_quiet() const {
    if (!queue.empty()) return false;
    for (uint32_t p = 0; p < n; ++p)
      if (cursor[p] < parts[p].log.size()) return false;
    return true;
  }
  void mark_done(uint32_t p, size_t off) {
    done[p].insert(off);
    while (done[p].count(checkpoint[p])) done[p].erase(checkpoint[p]++);
  }
  // Reads the next event of a partition with unread events; its follow-up joins the queue.
  bool pm_read() {
    std::vector<uint32_t> ready;
    for (uint32_t p = 0; p < n; ++p)
      if (cursor[p] < parts[p].log.size()) ready.push_back(p);
    if (ready.empty()) return false;
    const uint32_t p = ready[rng() % ready.size()];
    const size_t off = cursor[p]++;
    if (auto next = react(parts[p].log[off]))
      queue.push_back(Delivery{p, off, *next});
    else
      mark_done(p, off);
    return true;
  }
  // Runs a follow-up once per key; a repeat gets the recorded outcome.
  std::optional<Rejection> once(const std::string& key, const Command& c) {
    if (auto it = idempotency.find(key); it != idempotency.end()) {
      ++duplicates_skipped;
      return it->second;
    }
    ++follow_ups;
    auto outcome = execute(c);
    idempotency[key] = outcome;
    return outcome;
  }
  // Delivers one queued follow-up: reordered, sometimes duplicated.
  bool pm_deliver(bool faults) {
    if (queue.empty()) return false;
    const size_t i = faults && rng() % 3 == 0 ? rng() % queue.size() : 0;
    Delivery d = queue[i];
    queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
    if (faults && rng() % 8 == 0)
      queue.insert(queue.begin() + static_cast<std::ptrdiff_t>(rng() % (queue.size() + 1)), d);
    const std::string key = fmt::format("{}-{}", d.partition, d.offset);
    auto refused = once(key, d.command);
    if (refused) {
      if (auto comp = on_refused(d.command, *refused)) {
        auto again = once(key + "/on_refused", *comp);
        if (again && !refusal_is_benign(*comp, *again))
          anomalies.push_back(fmt::format("{} after {}: {}", command_name(*comp),
                                          command_name(d.command), again->detail));
      } else if (!refusal_is_benign(d.command, *refused)) {
        anomalies.push_back(fmt::format("{} refused: {} {}", command_name(d.command),
                                        to_string(refused->code), refused->detail));
      }
    }
    mark_done(d.partition, d.offset);
    return true;
  }
  // The process manager dies: deliveries in flight are lost, reading restarts at the
  // checkpoint, so events past it are delivered again.
  void pm_crash() {
    ++crashes;
    queue.clear();
    for (uint32_t p = 0; p < n; ++p) {
      cursor[p] = checkpoint[p];
      done[p].clear();
    }
  }
  // Delivers everything, the follow-ups of follow-ups included.
  void pm_drain() {
    for (int guard = 0; !pm_quiet(); ++guard) {
      REQUIRE_MESSAGE(guard < 1'000'000, "the process manager does not settle");
      if (!pm_deliver(false)) pm_read();
    }
  }

  // The partitions' timers: expiry of reservations and of timed-out card payments, automatic
  // release after delivery. Which orders are due is the model's rule; the engine's timer rule
  // (expiry_due) must name the same orders.
  void timers() {
    std::map<std::string, Command> due;  // by order id: a stable order across runs
    for (const auto& [id, o] : model.orders) {
      const bool expiry = (o.status == "reserved" && o.expires_at <= now) ||
                          (o.status == "payment_pending" && o.card && payment_timeout_ms > 0 &&
                           o.expires_at + payment_timeout_ms <= now);
      if (expiry) due.emplace(id, ExpireReservation{OrderId{id}});
      if (o.status == "delivered" && o.release_at <= now)
        due.emplace(id, AutoCompleteOrder{OrderId{id}});
    }
    std::set<std::string> engine_due;
    for (const auto& part : parts)
      for (const auto& [id, o] : part.state.orders) {
        const auto at = expiry_due(o, DurationMs{payment_timeout_ms});
        if ((at && at->value() <= now) ||
            (o.status == OrderStatus::delivered && o.release_at.value() <= now))
          engine_due.insert(id.value());
      }
    std::set<std::string> model_due;
    for (const auto& [id, c] : due) model_due.insert(id);
    SIM_REQUIRE(engine_due == model_due, "the engine's timers name ", engine_due.size(),
                " due orders, the model ", model_due.size());
    for (const auto& [id, c] : due) execute(c);
  }

  // ---- checks ----

  void check_step() {
    std::map<std::string, __int128> sum;
    for (uint32_t p = 0; p < n; ++p) {
      const PartitionState& s = parts[p].state;
      std::string why;
      SIM_REQUIRE(check_invariants(s, &why), "partition ", p, ": ", why);
      for (const auto& [k, w] : s.wallets) {
        SIM_REQUIRE(w.available().value() >= 0, "wallet ", k.owner.value(), " available ",
                    w.available().value());
        SIM_REQUIRE(for_currency(k.currency.value()) == p, "");
        sum[k.currency.value()] += w.balance_minor.value();
      }
      for (const auto& [id, e] : s.escrows) sum[e.currency.value()] += e.held_minor.value();
      for (const auto& [k, v] : s.other_accounts) sum[k.substr(k.rfind('/') + 1)] += v;
      for (const auto& [id, pay] : s.payments)
        SIM_REQUIRE(pay.refunded_minor.value() <= pay.amount_minor.value(), "payment ", id.value());
    }
    for (const auto& [cur, total] : sum)
      SIM_REQUIRE(total == 0, "the accounts in ", cur, " sum to non-zero");
    for (const auto& [order, count] : escrow_resolutions)
      SIM_REQUIRE(count <= 1, "escrow ", order, " resolved ", count, " times");
    for (const auto& [pay, r] : refunded)
      SIM_REQUIRE(r <= captured[pay], "payment ", pay, " refunded ", r, " of ", captured[pay]);
    compare();
  }

  // The partitions agree with the model, entity by entity.
  void compare() {
    for (const auto& [sku, m] : model.products) {
      const Product* p = parts[for_seller(m.seller)].state.find_product(Sku{sku});
      SIM_REQUIRE(p, "product ", sku);
      SIM_REQUIRE(p->on_hand.value() == m.on_hand, "product ", sku, " on hand ", p->on_hand.value(),
                  " model ", m.on_hand);
      SIM_REQUIRE(p->reserved.value() == m.reserved, "product ", sku, " reserved ",
                  p->reserved.value(), " model ", m.reserved);
    }
    size_t orders = 0, wallets_nonzero = 0, escrows = 0, payments = 0, payouts = 0;
    for (const auto& part : parts) {
      orders += part.state.orders.size();
      escrows += part.state.escrows.size();
      payments += part.state.payments.size();
      payouts += part.state.payouts.size();
      for (const auto& [k, w] : part.state.wallets)
        wallets_nonzero += w.balance_minor.value() != 0 || w.held_minor.value() != 0;
    }
    SIM_REQUIRE(orders == model.orders.size(), "");
    SIM_REQUIRE(escrows == model.escrows.size(), "");
    SIM_REQUIRE(payments == model.payments.size(), "");
    SIM_REQUIRE(payouts == model.payouts.size(), "");
    for (const auto& [id, m] : model.orders) {
      const Order* o = parts[for_seller(m.seller)].state.find_order(OrderId{id});
      SIM_REQUIRE(o, "order ", id);
      SIM_REQUIRE(to_string(o->status) == m.status, "order ", id, " is ", to_string(o->status),
                  ", model ", m.status);
      SIM_REQUIRE(o->total_minor.value() == m.total, "");
    }
    size_t model_wallets_nonzero = 0;
    for (const auto& [k, m] : model.wallets) {
      const Wallet* w =
          parts[for_currency(k.second)].state.find_wallet(OwnerId{k.first}, Currency{k.second});
      model_wallets_nonzero += m.balance != 0 || m.held != 0;
      const int64_t balance = w ? w->balance_minor.value() : 0,
                    held = w ? w->held_minor.value() : 0;
      SIM_REQUIRE(balance == m.balance, "wallet ", k.first, " ", k.second, " balance ", balance,
                  " model ", m.balance);
      SIM_REQUIRE(held == m.held, "wallet ", k.first, " ", k.second, " held ", held, " model ",
                  m.held);
    }
    SIM_REQUIRE(wallets_nonzero == model_wallets_nonzero, "");
    for (const auto& [id, m] : model.payments) {
      const Payment* p = parts[for_currency(m.currency)].state.find_payment(PaymentId{id});
      SIM_REQUIRE(p, "payment ", id);
      SIM_REQUIRE(to_string(p->status) == m.status, "payment ", id, " is ", to_string(p->status),
                  ", model ", m.status);
      SIM_REQUIRE(p->refunded_minor.value() == m.refunded, "");
    }
    for (const auto& [id, m] : model.escrows) {
      const Escrow* e = parts[for_currency(m.currency)].state.find_escrow(OrderId{id});
      SIM_REQUIRE(e, "escrow ", id);
      SIM_REQUIRE(to_string(e->status) == m.status, "escrow ", id, " is ", to_string(e->status),
                  ", model ", m.status);
      SIM_REQUIRE(e->held_minor.value() == m.held, "");
      SIM_REQUIRE(e->source_account == m.source, "");
    }
    for (const auto& [id, m] : model.payouts) {
      const Payout* p = parts[for_currency(m.currency)].state.find_payout(PayoutId{id});
      SIM_REQUIRE(p, "payout ", id);
      SIM_REQUIRE(to_string(p->status) == m.status, "");
    }
    for (const auto& [key, m] : model.accounts) {
      const std::string cur = key.substr(key.rfind('/') + 1);
      const auto& other = parts[for_currency(cur)].state.other_accounts;
      auto it = other.find(key);
      SIM_REQUIRE((it == other.end() ? 0 : it->second) == m, "account ", key);
    }
  }

  // With the process manager drained: every flow reached its end.
  void check_quiescent() {
    REQUIRE(pm_quiet());
    REQUIRE_MESSAGE(anomalies.empty(), anomalies.front());
    std::map<std::pair<std::string, std::string>, int64_t> income, spent;  // (owner, currency)
    std::map<std::string, int64_t> fees, card;
    for (const auto& [id, o] : model.orders) {
      CAPTURE(id);
      CAPTURE(o.status);
      auto e = model.escrows.find(id);
      const Model::Payment* pay = nullptr;
      if (!o.payment_id.empty() && model.payments.count(o.payment_id))
        pay = &model.payments.at(o.payment_id);
      const bool paid_states = o.status == "paid" || o.status == "shipped" ||
                               o.status == "delivered" || o.status == "disputed" ||
                               o.status == "completed";
      if (o.status == "payment_pending") {
        // Only a card payment waits, for its provider.
        REQUIRE(pay);
        REQUIRE(pay->card);
        REQUIRE(pay->status == "pending");
        REQUIRE(e == model.escrows.end());
        continue;
      }
      if (!o.paid_once && o.status == "expired" && e != model.escrows.end()) {
        // Its card was captured after the payment timed out: the order returned the payment
        // and its flow refunded the escrow, so the card got back all it paid.
        REQUIRE(pay);
        REQUIRE(pay->card);
        REQUIRE(e->second.payment == o.payment_id);
        REQUIRE(e->second.status == "refunded");
        REQUIRE(pay->refunded == pay->amount);
        card[o.currency] += 0;  // its external:card account is checked below, net of this
        continue;
      }
      if (!o.paid_once) {
        // Never paid: nothing was taken from anyone.
        REQUIRE(e == model.escrows.end());
        continue;
      }
      REQUIRE(e != model.escrows.end());
      REQUIRE(e->second.payment == o.payment_id);
      const Model::Escrow& x = e->second;
      const int64_t provider_refunds = pay->provider_refunded;
      if (pay->card)
        card[o.currency] += -o.total + provider_refunds;
      else
        spent[{o.customer, o.currency}] += o.total;
      if (o.cancelled_after_payment) {
        // The buyer got everything back, to where it came from.
        REQUIRE(x.status == "refunded");
        REQUIRE(pay->refunded == o.total);
        if (pay->card)
          card[o.currency] += o.total - provider_refunds;
        else
          spent[{o.customer, o.currency}] -= o.total;
      } else if (o.status == "completed") {
        // The seller got what the escrow still held, less the fee; the platform the fee.
        if (o.total > 0 && provider_refunds == o.total) {
          REQUIRE(x.status == "refunded");
        } else {
          REQUIRE(x.status == "released");
          const int64_t net = o.total - provider_refunds;
          const int64_t fee = net * fee_bps / 10'000;
          REQUIRE(x.released == net);
          REQUIRE(x.fee == fee);
          income[{o.seller, o.currency}] += net - fee;
          fees[o.currency] += fee;
        }
      } else {
        REQUIRE(paid_states);
        REQUIRE(x.status == (provider_refunds == o.total && o.total > 0 ? "refunded" : "held"));
        REQUIRE(x.held == o.total - provider_refunds);
      }
    }
    // Every wallet is exactly deposits + proceeds - spending - payouts.
    std::set<std::pair<std::string, std::string>> owners;
    for (const auto& [k, w] : model.wallets) owners.insert(k);
    for (const auto& [k, v] : income) owners.insert(k);
    for (const auto& k : owners) {
      CAPTURE(k.first);
      CAPTURE(k.second);
      const Wallet* w =
          parts[for_currency(k.second)].state.find_wallet(OwnerId{k.first}, Currency{k.second});
      const int64_t balance = w ? w->balance_minor.value() : 0;
      const auto get = [&](const auto& m) {
        auto it = m.find(k);
        return it == m.end() ? int64_t{0} : it->second;
      };
      REQUIRE(balance == get(model.deposited) + get(income) - get(spent) - get(model.paid_out));
    }
    for (const auto& [cur, v] : fees) {
      const auto& other = parts[for_currency(cur)].state.other_accounts;
      auto it = other.find("platform:fees/" + cur);
      REQUIRE((it == other.end() ? 0 : it->second) == v);
    }
    for (const auto& [cur, v] : card) {
      const auto& other = parts[for_currency(cur)].state.other_accounts;
      auto it = other.find("external:card/" + cur);
      REQUIRE((it == other.end() ? 0 : it->second) == v);
    }
  }
};

// ---------------------------------------------------------------------------------------
// The random driver.
// ---------------------------------------------------------------------------------------

const char* const kCurrencies[] = {"USD", "EUR", "GBP", "JPY"};

struct Driver {
  Sim& sim;
  std::mt19937_64& rng;
  std::vector<std::string> customers, sellers, skus, order_ids, payment_ids, payout_ids, event_ids;
  std::map<std::string, ApplyProviderEvent> webhooks;  // sent, by event id (for resends)
  int next_order = 0, next_payment = 0, next_payout = 0, next_event = 0;

  explicit Driver(Sim& s) : sim(s), rng(s.rng) {}

  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[rng() % v.size()];
  }
  bool chance(int percent) { return int(rng() % 100) < percent; }

  void setup() {
    for (int i = 0; i < 12; ++i) customers.push_back(fmt::format("c{}", i));
    for (int i = 0; i < 6; ++i) sellers.push_back(fmt::format("s{}", i));
    for (size_t s = 0; s < sellers.size(); ++s) {
      // Mostly one currency per seller; now and then a product in another (mixed_currencies).
      const std::string cur = kCurrencies[s % 4];
      for (int k = 0; k < 4; ++k) {
        const std::string sku = fmt::format("{}-k{}", sellers[s], k);
        const std::string c = k == 3 && s % 2 ? kCurrencies[(s + 1) % 4] : cur;
        const int64_t price = k == 0 && s == 0 ? 0 : 1 + int64_t(rng() % 5000);  // one free product
        sim.execute(DefineProduct{Sku{sku}, SellerId{sellers[s]}, "item", AmountMinor{price},
                                  Currency{c}, Quantity{int64_t(rng() % 200)}});
        skus.push_back(sku);
      }
    }
    for (const auto& c : customers)
      for (const char* cur : kCurrencies)
        if (chance(70))
          sim.execute(DepositToWallet{OwnerId{c}, Currency{cur},
                                      AmountMinor{1 + int64_t(rng() % 60'000)}, "init"});
  }

  // Mostly an order in one of `statuses` (so flows get somewhere), else any.
  std::string order_in(std::initializer_list<std::string_view> statuses) {
    if (chance(80)) {
      std::vector<std::string> fit;
      for (const auto& [id, o] : sim.model.orders)
        for (auto st : statuses)
          if (o.status == st) fit.push_back(id);
      if (!fit.empty()) return pick(fit);
    }
    return some_order();
  }

  std::string some_order() {
    if (order_ids.empty() || chance(2)) return "o-none";
    // Favour recent orders, where the action is.
    if (chance(70) && order_ids.size() > 20) return order_ids[order_ids.size() - 1 - rng() % 20];
    return pick(order_ids);
  }

  void client_step() {
    const int k = int(rng() % 100);
    if (k < 6) {
      const std::string owner = chance(80) ? pick(customers) : pick(sellers);
      int64_t amount = 1 + int64_t(rng() % 30'000);
      if (chance(5)) amount = chance(50) ? 0 : -5;
      if (chance(2)) amount = kMaxAmountMinor;
      sim.execute(DepositToWallet{OwnerId{owner}, Currency{kCurrencies[rng() % 4]},
                                  AmountMinor{amount}, "sim"});
    } else if (k < 24) {
      const std::string seller = pick(sellers);
      std::vector<OrderLineRequest> lines;
      std::set<int> used;
      for (int i = 0, m = 1 + int(rng() % 3); i < m; ++i) {
        int j = int(rng() % 4);
        if (used.insert(j).second)
          lines.push_back(
              {Sku{fmt::format("{}-k{}", seller, j)}, Quantity{1 + int64_t(rng() % 3)}});
      }
      std::string id =
          chance(3) && !order_ids.empty() ? pick(order_ids) : fmt::format("o{}", next_order++);
      if (!sim.execute(PlaceOrder{OrderId{id}, CustomerId{pick(customers)}, lines}))
        if (std::find(order_ids.begin(), order_ids.end(), id) == order_ids.end())
          order_ids.push_back(id);
    } else if (k < 38) {
      std::string pid = chance(4) && !payment_ids.empty() ? pick(payment_ids)
                                                          : fmt::format("p{}", next_payment++);
      if (chance(1)) pid = "bad id";
      payment_ids.push_back(pid);
      sim.execute(PayOrder{OrderId{order_in({"reserved"})}, PaymentId{pid},
                           chance(50) ? PaymentMethod::card : PaymentMethod::wallet, std::nullopt});
    } else if (k < 52) {
      webhook();
    } else if (k < 58) {
      sim.execute(ShipOrder{OrderId{order_in({"paid"})}, std::nullopt});
    } else if (k < 64) {
      sim.execute(DeliverOrder{OrderId{order_in({"shipped"})}, std::nullopt});
    } else if (k < 68) {
      sim.execute(ConfirmOrder{OrderId{order_in({"delivered"})}, std::nullopt});
    } else if (k < 71) {
      sim.execute(DisputeOrder{OrderId{order_in({"delivered"})}, "sim", std::nullopt});
    } else if (k < 74) {
      sim.execute(
          ResolveDispute{OrderId{order_in({"disputed", "delivered"})}, chance(50), "sim", {}});
    } else if (k < 80) {
      sim.execute(CancelOrder{OrderId{order_in({"reserved", "paid"})}, "sim", std::nullopt});
    } else if (k < 83) {
      sim.execute(AdjustStock{Sku{pick(skus)}, Quantity{1 + int64_t(rng() % 30)}, "restock"});
    } else if (k < 88) {
      const std::string owner = chance(70) ? pick(sellers) : pick(customers);
      const std::string cur = kCurrencies[rng() % 4];
      const Model::Wallet* w = nullptr;
      if (auto it = sim.model.wallets.find({owner, cur}); it != sim.model.wallets.end())
        w = &it->second;
      int64_t amount = w && w->balance - w->held > 0 && chance(80)
                           ? 1 + int64_t(rng() % (w->balance - w->held))
                           : 1 + int64_t(rng() % 5000);
      std::string id =
          chance(3) && !payout_ids.empty() ? pick(payout_ids) : fmt::format("po{}", next_payout++);
      payout_ids.push_back(id);
      sim.execute(
          RequestPayout{PayoutId{id}, OwnerId{owner}, Currency{cur}, AmountMinor{amount}, "iban"});
    } else if (k < 92) {
      if (payout_ids.empty()) return;
      if (chance(60))
        sim.execute(CompletePayout{PayoutId{pick(payout_ids)}});
      else
        sim.execute(RejectPayout{PayoutId{pick(payout_ids)}, "sim"});
    } else {
      // The clock: small steps, sometimes past a reservation, sometimes past a release.
      const int r = int(rng() % 10);
      sim.now += r < 8   ? int64_t(rng() % 5000)
                 : r < 9 ? kTtlMs + int64_t(rng() % kTtlMs)
                         : kReleaseAfterMs;
      sim.timers();
    }
  }

  // A provider webhook: about a card payment, often pending; sometimes a resend.
  void webhook() {
    if (!webhooks.empty() && chance(20)) {
      sim.execute(webhooks.at(pick(event_ids)));
      return;
    }
    std::vector<std::string> cards;
    for (const auto& [id, p] : sim.model.payments)
      if (p.card && (p.status == "pending" || p.status == "captured")) cards.push_back(id);
    std::string pid = cards.empty() || chance(5)
                          ? (payment_ids.empty() ? "p-none" : pick(payment_ids))
                          : pick(cards);
    int64_t amount = 0;
    if (auto it = sim.model.payments.find(pid); it != sim.model.payments.end())
      amount = it->second.amount;
    ApplyProviderEvent e{fmt::format("ev{}", next_event++), PaymentId{pid},
                         ProviderEventKind::captured, AmountMinor{amount}};
    const int k = int(rng() % 100);
    if (k < 55) {
      if (chance(8)) e.amount_minor = AmountMinor{amount + 1};  // amount_mismatch
    } else if (k < 75) {
      e.kind = ProviderEventKind::failed;
    } else {
      e.kind = ProviderEventKind::refunded;
      int64_t left = amount;
      if (auto it = sim.model.payments.find(pid); it != sim.model.payments.end())
        left -= it->second.refunded;
      e.amount_minor = AmountMinor{left > 0 && chance(85) ? 1 + int64_t(rng() % left) : left + 1};
      if (left > 0 && chance(30)) e.amount_minor = AmountMinor{left};  // the rest, in full
    }
    webhooks.emplace(e.event_id, e);
    event_ids.push_back(e.event_id);
    sim.execute(e);
  }

  // At the end: the provider settles every pending card payment; deliveries stop at the
  // process manager's quiescence.
  void settle_cards() {
    std::vector<std::string> pending;
    for (const auto& [id, p] : sim.model.payments)
      if (p.card && p.status == "pending") pending.push_back(id);
    for (const auto& id : pending) {
      const int64_t amount = sim.model.payments.at(id).amount;
      sim.execute(
          ApplyProviderEvent{fmt::format("ev{}", next_event++), PaymentId{id},
                             chance(70) ? ProviderEventKind::captured : ProviderEventKind::failed,
                             AmountMinor{amount}});
    }
  }
};

void run_seed(uint64_t seed, uint32_t partitions, int steps) {
  INFO("seed " << seed << ", " << partitions << " partition(s) (rerun: ORDO_SIM_SEED=" << seed
               << " ORDO_SIM_PARTITIONS=" << partitions << ")");
  Sim sim(seed, partitions);
  Driver drv(sim);
  drv.setup();
  sim.pm_drain();
  sim.check_step();
  for (int step = 0; step < steps; ++step) {
    sim.steps_run = size_t(step);
    const int k = int(sim.rng() % 100);
    if (k < 45 || (k < 97 && sim.pm_quiet())) {
      drv.client_step();
    } else if (k < 97) {
      // The process manager: read an event or deliver a follow-up.
      const bool did = sim.rng() % 2 ? sim.pm_deliver(true) : sim.pm_read();
      if (!did && !sim.pm_read()) sim.pm_deliver(true);
    } else if (k < 98) {
      sim.pm_crash();
    } else {
      sim.pm_drain();
      sim.check_step();
      sim.check_quiescent();
    }
    sim.check_step();
  }
  sim.pm_drain();
  drv.settle_cards();
  sim.pm_drain();
  sim.check_step();
  sim.check_quiescent();
  // Everything still in flight ends: the clock passes every timer.
  sim.now += kReleaseAfterMs + kTtlMs;
  sim.timers();
  sim.pm_drain();
  sim.check_step();
  sim.check_quiescent();
  if (steps < 500) return;  // the short runs pass quietly (a failure above names its seed)
  std::map<std::string, int> by_status;
  for (const auto& [id, o] : sim.model.orders)
    ++by_status[o.cancelled_after_payment                              ? "refunded"
                : o.status == "expired" && sim.model.escrows.count(id) ? "expired-late-capture"
                                                                       : o.status];
  std::string statuses;
  for (const auto& [st, c] : by_status) statuses += fmt::format(" {}={}", st, c);
  MESSAGE("seed " << seed << " x" << partitions << ":" << statuses << "; "
                  << sim.model.orders.size() << " orders, " << sim.model.payments.size()
                  << " payments, " << sim.follow_ups << " follow-ups, " << sim.duplicates_skipped
                  << " duplicate deliveries absorbed, " << sim.crashes
                  << " PM crashes, payment timeout " << sim.payment_timeout_ms << " ms, "
                  << sim.model.late_returns << " late captures returned");
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::stoull(v) : fallback;
}

}  // namespace

TEST_CASE(
    "money simulation: random flows with duplicated, reordered and lost deliveries agree with the "
    "model") {
  const int steps = int(env_or("ORDO_SIM_STEPS", 4000));
  if (const char* s = std::getenv("ORDO_SIM_SEED")) {
    const uint64_t seed = std::stoull(s);
    if (const char* p = std::getenv("ORDO_SIM_PARTITIONS")) {
      run_seed(seed, uint32_t(std::stoul(p)), steps);
    } else {
      run_seed(seed, 1, steps);
      run_seed(seed, 4, steps);
    }
    return;
  }
  const uint64_t base = std::random_device{}();
  for (uint64_t i = 0; i < 4; ++i) {
    run_seed(base + i, 1, steps);
    run_seed(base + i, 4, steps);
  }
}

TEST_CASE("money simulation: a thousand short random sequences, each checked to quiescence") {
  // Many short runs reach the early states of flows (first payments, first refunds, a crash
  // right after setup) far more often than a few long ones. Each prints its seed on failure.
  const int steps = int(env_or("ORDO_SIM_SHORT_STEPS", 60));
  const uint64_t runs = env_or("ORDO_SIM_SHORT_RUNS", 1000);
  if (std::getenv("ORDO_SIM_SEED")) return;  // a rerun of one seed is the case above
  const uint64_t base = std::random_device{}();
  for (uint64_t i = 0; i < runs; ++i) run_seed(base + 1000 + i, i % 2 ? 4 : 1, steps);
}

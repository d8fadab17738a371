#include "replay/state_at.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

#include "engine/domain/ledger.hpp"

namespace ordo::replay {

const Product* Folded::product(const std::string& stream) const {
  if (!stream.starts_with("product-")) return nullptr;
  Sku sku{stream.substr(8)};
  for (PartitionId p : verifier.partitions())
    if (const Product* x = verifier.state(p)->find_product(sku)) return x;
  return nullptr;
}

const Order* Folded::order(const std::string& stream) const {
  if (!stream.starts_with("order-")) return nullptr;
  OrderId id{stream.substr(6)};
  for (PartitionId p : verifier.partitions())
    if (const Order* x = verifier.state(p)->find_order(id)) return x;
  return nullptr;
}

namespace {
using Rows = std::vector<std::pair<std::string, Json>>;  // (stream name, state)

// One kind of aggregate: its streams' prefix, how to find one by its stream (`id` is the
// part after the prefix), and how to list them all.
struct StateKind {
  std::string_view kind;
  std::string_view stream_prefix;
  std::optional<Json> (*find)(const PartitionState& s, const std::string& stream,
                              const std::string& id);
  void (*collect)(const PartitionState& s, Rows& out);
};

template <class T>
std::optional<Json> render(const T* x, Json (*to_json)(const T&)) {
  return x ? std::optional<Json>(to_json(*x)) : std::nullopt;
}

const StateKind kKinds[] = {
    {"product", "product-",
     [](const PartitionState& s, const std::string&, const std::string& id) {
       return render(s.find_product(Sku{id}), product_json);
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.products) out.emplace_back(product_stream(k), product_json(x));
     }},
    {"order", "order-",
     [](const PartitionState& s, const std::string&, const std::string& id) {
       return render(s.find_order(OrderId{id}), order_json);
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.orders) out.emplace_back(order_stream(k), order_json(x));
     }},
    {"wallet", "wallet-",
     // A wallet's stream joins owner and currency; matched by name rather than split, so an
     // owner id that holds the separator cannot be misread.
     [](const PartitionState& s, const std::string& stream, const std::string&) {
       for (const auto& [k, w] : s.wallets)
         if (wallet_stream(k.owner, k.currency) == stream)
           return std::optional<Json>(wallet_json(w));
       return std::optional<Json>();
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.wallets)
         out.emplace_back(wallet_stream(k.owner, k.currency), wallet_json(x));
     }},
    {"payment", "payment-",
     [](const PartitionState& s, const std::string&, const std::string& id) {
       return render(s.find_payment(PaymentId{id}), payment_json);
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.payments) out.emplace_back(payment_stream(k), payment_json(x));
     }},
    {"escrow", "escrow-",
     [](const PartitionState& s, const std::string&, const std::string& id) {
       return render(s.find_escrow(OrderId{id}), escrow_json);
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.escrows) out.emplace_back(escrow_stream(k), escrow_json(x));
     }},
    {"payout", "payout-",
     [](const PartitionState& s, const std::string&, const std::string& id) {
       return render(s.find_payout(PayoutId{id}), payout_json);
     },
     [](const PartitionState& s, Rows& out) {
       for (const auto& [k, x] : s.payouts) out.emplace_back(payout_stream(k), payout_json(x));
     }},
};

const StateKind* stream_kind(std::string_view kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return &k;
  return nullptr;
}
}  // namespace

bool is_state_kind(std::string_view kind) {
  return kind == kAccountKind || stream_kind(kind) != nullptr;
}

Result<Json> trial_balance_json(const Folded& f) {
  // (currency, account) → balance, summed over partitions: the accounts the ledger's
  // invariant check counts (for_each_account).
  std::map<std::pair<std::string, std::string>, __int128> balances;
  for (PartitionId p : f.verifier.partitions()) {
    for_each_account(*f.verifier.state(p), [&](std::string_view currency, std::string_view account,
                                               int64_t balance_minor) {
      balances[{std::string(currency), std::string(account)}] += balance_minor;
    });
  }
  std::map<std::string, __int128> totals;
  Json::Array accounts;
  auto in_range = [](__int128 v) { return v >= INT64_MIN && v <= INT64_MAX; };
  for (const auto& [key, balance] : balances) {
    if (balance == 0) continue;  // as the trial balance over HTTP: settled escrows, empty wallets
    // Each partition keeps its accounts within int64; one account summed over partitions
    // (a currency the engine would have kept in one) might not be.
    if (!in_range(balance))
      return Error{fmt::format("{} in {} is beyond a 64-bit amount across partitions", key.second,
                               key.first)};
    totals[key.first] += balance;
    accounts.push_back(Json(Json::Object{{"account", Json(key.second)},
                                         {"currency", Json(key.first)},
                                         {"balance_minor", Json(static_cast<int64_t>(balance))}}));
  }
  Json::Array total_rows;
  bool balanced = true;
  for (const auto& [currency, total] : totals) {
    if (!in_range(total))
      return Error{fmt::format("the {} total is beyond a 64-bit amount", currency)};
    balanced = balanced && total == 0;
    total_rows.push_back(Json(Json::Object{{"currency", Json(currency)},
                                           {"total_minor", Json(static_cast<int64_t>(total))}}));
  }
  return Json(Json::Object{{"accounts", Json(std::move(accounts))},
                           {"totals", Json(std::move(total_rows))},
                           {"balanced", Json(balanced)}});
}

Result<Json> Folded::stream_state(const std::string& stream) const {
  const StateKind* kind = nullptr;
  for (const auto& k : kKinds)
    if (stream.starts_with(k.stream_prefix)) kind = &k;
  if (!kind) {
    std::string prefixes;
    for (const auto& k : kKinds)
      prefixes += fmt::format("{}{}…", prefixes.empty() ? "" : ", ", k.stream_prefix);
    return Error{fmt::format("{} is not an aggregate's stream ({})", stream, prefixes)};
  }
  const std::string id = stream.substr(kind->stream_prefix.size());
  for (PartitionId p : verifier.partitions())
    if (auto state = kind->find(*verifier.state(p), stream, id)) return std::move(*state);
  return Json(nullptr);  // the stream did not exist yet
}

Result<Folded> fold_until(EventSource& source, const Cut& cut, const Progress& progress) {
  Folded f;
  // Read as verify reads (lines checked in place on worker threads, payloads decoded there),
  // so a state-at costs what a verify of the same events costs.
  auto source_error =
      for_each_checked(source, VerifyOptions{}, progress, [&](const CheckedLine& c) {
        const EventFacts& e = c.facts;
        if (!f.verifier.accepts(e.partition)) return;
        const bool cut_here = !cut.partition || *cut.partition == e.partition.value();
        if (cut_here && ((cut.offset && e.offset.value() > *cut.offset) ||
                         (cut.time_ms && e.occurred_at.value() > *cut.time_ms))) {
          f.verifier.close(e.partition);
          return;
        }
        f.verifier.add(e, c.event);
      });
  if (source_error) return Error{*source_error};
  f.report = f.verifier.finish();
  if (!f.report.ok()) return Error{"the history does not verify: " + f.report.first_failure()};
  return f;
}

Json product_json(const Product& p) {
  return Json(Json::Object{{"sku", Json(p.sku.value())},
                           {"seller_id", Json(p.seller_id.value())},
                           {"name", Json(p.name)},
                           {"price_minor", Json(p.price_minor.value())},
                           {"currency", Json(p.currency.value())},
                           {"on_hand", Json(p.on_hand.value())},
                           {"reserved", Json(p.reserved.value())},
                           {"available", Json(p.available().value())},
                           {"version", Json(p.version)}});
}

Json order_json(const Order& o) {
  Json::Array lines;
  for (const auto& l : o.lines)
    lines.push_back(Json(Json::Object{{"sku", Json(l.sku.value())},
                                      {"qty", Json(l.qty.value())},
                                      {"unit_price_minor", Json(l.unit_price_minor.value())}}));
  return Json(Json::Object{{"order_id", Json(o.order_id.value())},
                           {"customer_id", Json(o.customer_id.value())},
                           {"seller_id", Json(o.seller_id.value())},
                           {"currency", Json(o.currency.value())},
                           {"lines", Json(std::move(lines))},
                           {"total_minor", Json(o.total_minor.value())},
                           {"placed_at", Json(o.placed_at.value())},
                           {"expires_at", Json(o.expires_at.value())},
                           {"status", Json(std::string(to_string(o.status)))},
                           {"version", Json(o.version)}});
}

Json wallet_json(const Wallet& w) {
  return Json(Json::Object{{"owner", Json(w.owner.value())},
                           {"currency", Json(w.currency.value())},
                           {"balance_minor", Json(w.balance_minor.value())},
                           {"held_minor", Json(w.held_minor.value())},
                           {"available_minor", Json(w.available().value())},
                           {"version", Json(w.version)}});
}

Json payment_json(const Payment& p) {
  return Json(Json::Object{{"payment_id", Json(p.payment_id.value())},
                           {"order_id", Json(p.order_id.value())},
                           {"method", Json(std::string(to_string(p.method)))},
                           {"buyer", Json(p.buyer.value())},
                           {"seller", Json(p.seller.value())},
                           {"amount_minor", Json(p.amount_minor.value())},
                           {"currency", Json(p.currency.value())},
                           {"status", Json(std::string(to_string(p.status)))},
                           {"refunded_minor", Json(p.refunded_minor.value())},
                           {"version", Json(p.version)}});
}

Json escrow_json(const Escrow& e) {
  return Json(Json::Object{{"order_id", Json(e.order_id.value())},
                           {"payment_id", Json(e.payment_id.value())},
                           {"source_account", Json(e.source_account)},
                           {"buyer", Json(e.buyer.value())},
                           {"seller", Json(e.seller.value())},
                           {"currency", Json(e.currency.value())},
                           {"amount_minor", Json(e.amount_minor.value())},
                           {"held_minor", Json(e.held_minor.value())},
                           {"status", Json(std::string(to_string(e.status)))},
                           {"version", Json(e.version)}});
}

Json payout_json(const Payout& p) {
  return Json(Json::Object{{"payout_id", Json(p.payout_id.value())},
                           {"owner", Json(p.owner.value())},
                           {"currency", Json(p.currency.value())},
                           {"amount_minor", Json(p.amount_minor.value())},
                           {"destination", Json(p.destination)},
                           {"status", Json(std::string(to_string(p.status)))},
                           {"version", Json(p.version)}});
}

Result<Json> state_at_json(const Folded& f, const Cut& cut,
                           const std::optional<std::string>& stream,
                           const std::optional<std::string>& kind) {
  Json::Object as_of;
  if (cut.offset) as_of.emplace("offset", Json(*cut.offset));
  if (cut.time_ms) as_of.emplace("time", Json(*cut.time_ms));
  if (cut.partition) as_of.emplace("partition", Json(int64_t(*cut.partition)));
  Json::Array positions;  // how far each partition was folded
  for (const auto& p : f.report.partitions)
    positions.push_back(Json(Json::Object{{"partition", Json(int64_t(p.partition.value()))},
                                          {"offset", Json(p.last_offset.value())}}));
  as_of.emplace("positions", Json(std::move(positions)));
  Json::Object out{{"as_of", Json(std::move(as_of))}};
  if (stream) {
    auto state = f.stream_state(*stream);
    if (!state) return state.error();
    out.emplace("stream", Json(*stream));
    out.emplace("state", std::move(state.value()));
    return Json(std::move(out));
  }
  if (!kind || !is_state_kind(*kind)) {
    std::string kinds;
    for (const auto& k : kKinds) kinds += fmt::format("{}|", k.kind);
    return Error{fmt::format("--kind must be one of {}{}", kinds, kAccountKind)};
  }
  out.emplace("kind", Json(*kind));
  if (*kind == kAccountKind) {
    auto balance = trial_balance_json(f);
    if (!balance) return balance.error();
    for (auto& [name, value] : balance.value().as_object()) out.emplace(name, std::move(value));
    return Json(std::move(out));
  }
  Rows rows;
  for (PartitionId p : f.verifier.partitions())
    stream_kind(*kind)->collect(*f.verifier.state(p), rows);
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Json::Array states;
  states.reserve(rows.size());
  for (auto& [_, j] : rows) states.push_back(std::move(j));
  out.emplace("states", Json(std::move(states)));
  return Json(std::move(out));
}

}  // namespace ordo::replay

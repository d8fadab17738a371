#include "engine/state/state_store.hpp"

#include <fmt/core.h>

#include <memory>
#include <optional>

#include <rocksdb/write_batch.h>

#include "engine/log/canonical_object.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/json.hpp"

namespace ordo {
namespace {

std::string partition_prefix(PartitionId p) {
  std::string k;
  append_be32(k, p.value());
  return k;
}

std::string product_key(PartitionId p, const Sku& sku) {
  return partition_prefix(p) + "p" + sku.value();
}
std::string order_key(PartitionId p, const OrderId& id) {
  return partition_prefix(p) + "o" + id.value();
}

std::string wallet_key(PartitionId p, const WalletKey& w) {
  return partition_prefix(p) + "w" + w.owner.value() + '\x1f' + w.currency.value();
}
std::string payment_key(PartitionId p, const PaymentId& id) {
  return partition_prefix(p) + "y" + id.value();
}
std::string escrow_key(PartitionId p, const OrderId& id) {
  return partition_prefix(p) + "e" + id.value();
}
std::string payout_key(PartitionId p, const PayoutId& id) {
  return partition_prefix(p) + "u" + id.value();
}
std::string account_key(PartitionId p, const std::string& a) {
  return partition_prefix(p) + "a" + a;
}
std::string provider_event_key(PartitionId p, const std::string& id) {
  return partition_prefix(p) + "v" + id;
}

std::string applied_key(PartitionId p) { return "applied/" + partition_prefix(p); }

int64_t num(const Json& o, std::string_view k, bool& ok) {
  const Json* v = o.find(k);
  if (!v || !v->is_int()) {
    ok = false;
    return 0;
  }
  return v->as_int();
}

std::string str(const Json& o, std::string_view k, bool& ok) {
  const Json* v = o.find(k);
  if (!v || !v->is_string()) {
    ok = false;
    return {};
  }
  return v->as_string();
}

}  // namespace

void StateStore::put_product(StateDelta& d, PartitionId p, const Product& x) {
  d.put(StateColumn::state, product_key(p, x.sku),
        to_canonical(Json(Json::Object{{"sku", Json(x.sku.value())},
                                       {"seller_id", Json(x.seller_id.value())},
                                       {"name", Json(x.name)},
                                       {"price_minor", Json(x.price_minor.value())},
                                       {"currency", Json(x.currency.value())},
                                       {"on_hand", Json(x.on_hand.value())},
                                       {"reserved", Json(x.reserved.value())},
                                       {"version", Json(x.version)}})));
}

void StateStore::put_order(StateDelta& d, PartitionId p, const Order& x) {
  // Written directly (no Json tree): a snapshot writes every order touched since the last.
  CanonicalObject o;
  o.str("order_id", x.order_id.value());
  o.str("customer_id", x.customer_id.value());
  o.str("seller_id", x.seller_id.value());
  o.str("currency", x.currency.value());
  o.raw_with("lines", [&](std::string& out) { write_priced_lines(x.lines, out); });
  o.num("total_minor", x.total_minor.value());
  o.num("placed_at", x.placed_at.value());
  o.num("expires_at", x.expires_at.value());
  o.str("status", to_string(x.status));
  o.num("version", x.version);
  o.str("payment_id", x.payment_id.value());
  o.str("payment_method", to_string(x.payment_method));
  o.num("release_at", x.release_at.value());
  std::string value;
  value.reserve(320 + 64 * x.lines.size());
  o.write_to(value);
  d.put(StateColumn::state, order_key(p, x.order_id), std::move(value));
}

void StateStore::put_wallet(StateDelta& d, PartitionId p, const Wallet& x) {
  d.put(StateColumn::state, wallet_key(p, WalletKey{x.owner, x.currency}),
        to_canonical(Json(Json::Object{{"owner", Json(x.owner.value())},
                                       {"currency", Json(x.currency.value())},
                                       {"balance_minor", Json(x.balance_minor.value())},
                                       {"held_minor", Json(x.held_minor.value())},
                                       {"version", Json(x.version)}})));
}

void StateStore::put_payment(StateDelta& d, PartitionId p, const Payment& x) {
  d.put(StateColumn::state, payment_key(p, x.payment_id),
        to_canonical(Json(Json::Object{{"payment_id", Json(x.payment_id.value())},
                                       {"order_id", Json(x.order_id.value())},
                                       {"method", Json(to_string(x.method))},
                                       {"buyer", Json(x.buyer.value())},
                                       {"seller", Json(x.seller.value())},
                                       {"amount_minor", Json(x.amount_minor.value())},
                                       {"currency", Json(x.currency.value())},
                                       {"status", Json(to_string(x.status))},
                                       {"refunded_minor", Json(x.refunded_minor.value())},
                                       {"version", Json(x.version)}})));
}

void StateStore::put_escrow(StateDelta& d, PartitionId p, const Escrow& x) {
  d.put(StateColumn::state, escrow_key(p, x.order_id),
        to_canonical(Json(Json::Object{{"order_id", Json(x.order_id.value())},
                                       {"payment_id", Json(x.payment_id.value())},
                                       {"source_account", Json(x.source_account)},
                                       {"buyer", Json(x.buyer.value())},
                                       {"seller", Json(x.seller.value())},
                                       {"currency", Json(x.currency.value())},
                                       {"amount_minor", Json(x.amount_minor.value())},
                                       {"held_minor", Json(x.held_minor.value())},
                                       {"status", Json(to_string(x.status))},
                                       {"version", Json(x.version)}})));
}

void StateStore::put_payout(StateDelta& d, PartitionId p, const Payout& x) {
  d.put(StateColumn::state, payout_key(p, x.payout_id),
        to_canonical(Json(Json::Object{{"payout_id", Json(x.payout_id.value())},
                                       {"owner", Json(x.owner.value())},
                                       {"currency", Json(x.currency.value())},
                                       {"amount_minor", Json(x.amount_minor.value())},
                                       {"destination", Json(x.destination)},
                                       {"status", Json(to_string(x.status))},
                                       {"version", Json(x.version)}})));
}

void StateStore::put_account(StateDelta& d, PartitionId p, const std::string& account,
                             int64_t balance) {
  d.put(StateColumn::state, account_key(p, account), std::to_string(balance));
}

void StateStore::put_provider_event(StateDelta& d, PartitionId p, const std::string& id,
                                    const PaymentId& payment) {
  d.put(StateColumn::state, provider_event_key(p, id), payment.value());
}

void StateStore::put_applied(StateDelta& d, PartitionId p, Offset applied) {
  d.put(StateColumn::meta, applied_key(p), std::to_string(applied.value()));
}

void StateStore::put_idempotency(StateDelta& d, const std::string& scoped_key,
                                 const IdempotencyRecord& r) {
  d.put(StateColumn::idempotency, scoped_key,
        to_canonical(Json(Json::Object{{"fingerprint", Json(r.fingerprint)},
                                       {"status", Json(int64_t(r.status))},
                                       {"body", Json(r.body)},
                                       {"position", Json(r.position)},
                                       {"created_at", Json(r.created_at.value())}})));
}

Result<IdempotencyRecord> StateStore::decode_idempotency(std::string_view stored) {
  auto j = parse_json(stored);
  if (!j) return j.error();
  bool ok = true;
  // An HTTP status, or 0 for a record with no rendered answer: checked before narrowing.
  const int64_t status = num(*j, "status", ok);
  ok = ok && status >= 0 && status <= 999;
  IdempotencyRecord r{str(*j, "fingerprint", ok), static_cast<int>(status), str(*j, "body", ok),
                      str(*j, "position", ok), TimestampMs{num(*j, "created_at", ok)}};
  if (!ok) return Error{"corrupt idempotency record"};
  return r;
}

Result<std::optional<IdempotencyRecord>> StateStore::get_idempotency(const std::string& key) {
  std::string v;
  auto s = db_.db().Get(rocksdb::ReadOptions(), db_.cf(Cf::idempotency), key, &v);
  if (s.IsNotFound()) return std::optional<IdempotencyRecord>{};
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  auto r = decode_idempotency(v);
  if (!r) return r.error();
  return std::optional<IdempotencyRecord>{std::move(r.value())};
}

Status StateStore::settle_idempotency(const std::string& scoped_key, int status, std::string body,
                                      std::string position) {
  auto found = get_idempotency(scoped_key);
  if (!found) return found.error();
  if (!found.value()) return Error{"no idempotency record to settle"};
  IdempotencyRecord r = std::move(*found.value());
  r.status = status;
  r.body = std::move(body);
  r.position = std::move(position);
  StateDelta d;
  put_idempotency(d, scoped_key, r);
  rocksdb::WriteBatch batch;
  db_.add_to_batch(d, batch);
  return db_.write_sync(batch);
}

Status StateStore::load_partition(PartitionId p, PartitionState& state, Offset& applied) {
  const std::string prefix = partition_prefix(p);
  bool has_state = false;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::state)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      has_state = true;
      if (it->key().size() < 5) return Error{"corrupt state key (no kind)"};
      char kind = it->key().data()[4];
      const std::string rest(it->key().data() + 5, it->key().size() - 5);
      if (kind == 'a') {  // a plain balance, not JSON
        auto balance = parse_stored_int(it->value().ToStringView());
        if (!balance) return Error{"corrupt balance of account " + rest};
        state.other_accounts[rest] = *balance;
        continue;
      }
      if (kind == 'v') {
        state.provider_events.emplace(rest, PaymentId{it->value().ToString()});
        continue;
      }
      auto j = parse_json(it->value().ToStringView());
      if (!j) return Error{"corrupt state record: " + j.error().message};
      bool ok = true;
      if (kind == 'p') {
        Product x{Sku{str(*j, "sku", ok)},
                  SellerId{str(*j, "seller_id", ok)},
                  str(*j, "name", ok),
                  AmountMinor{num(*j, "price_minor", ok)},
                  Currency{str(*j, "currency", ok)},
                  Quantity{num(*j, "on_hand", ok)},
                  Quantity{num(*j, "reserved", ok)},
                  num(*j, "version", ok)};
        if (!ok) return Error{"corrupt product record"};
        state.products.emplace(x.sku, std::move(x));
      } else if (kind == 'o') {
        Order x{OrderId{str(*j, "order_id", ok)},
                CustomerId{str(*j, "customer_id", ok)},
                SellerId{str(*j, "seller_id", ok)},
                Currency{str(*j, "currency", ok)},
                {},
                AmountMinor{num(*j, "total_minor", ok)},
                TimestampMs{num(*j, "placed_at", ok)},
                TimestampMs{num(*j, "expires_at", ok)},
                OrderStatus::reserved,
                num(*j, "version", ok),
                PaymentId{},
                PaymentMethod::wallet,
                TimestampMs{0}};
        if (!parse_order_status(str(*j, "status", ok), x.status)) ok = false;
        // Records written before the lifecycle existed have no payment fields.
        if (j->find("payment_id")) {
          x.payment_id = PaymentId{str(*j, "payment_id", ok)};
          if (!parse_payment_method(str(*j, "payment_method", ok), x.payment_method)) ok = false;
          x.release_at = TimestampMs{num(*j, "release_at", ok)};
        }
        if (const Json* ls = j->find("lines"); ls && ls->is_array()) {
          for (const auto& l : ls->as_array())
            x.lines.push_back(PricedLine{Sku{str(l, "sku", ok)}, Quantity{num(l, "qty", ok)},
                                         AmountMinor{num(l, "unit_price_minor", ok)}});
        } else {
          ok = false;
        }
        if (!ok) return Error{"corrupt order record"};
        state.orders.emplace(x.order_id, std::move(x));
      } else if (kind == 'w') {
        Wallet x{OwnerId{str(*j, "owner", ok)}, Currency{str(*j, "currency", ok)},
                 AmountMinor{num(*j, "balance_minor", ok)}, AmountMinor{num(*j, "held_minor", ok)},
                 num(*j, "version", ok)};
        if (!ok) return Error{"corrupt wallet record"};
        state.wallets.emplace(WalletKey{x.owner, x.currency}, std::move(x));
      } else if (kind == 'y') {
        Payment x{PaymentId{str(*j, "payment_id", ok)},
                  OrderId{str(*j, "order_id", ok)},
                  PaymentMethod::wallet,
                  CustomerId{str(*j, "buyer", ok)},
                  SellerId{str(*j, "seller", ok)},
                  AmountMinor{num(*j, "amount_minor", ok)},
                  Currency{str(*j, "currency", ok)},
                  PaymentStatus::pending,
                  AmountMinor{num(*j, "refunded_minor", ok)},
                  num(*j, "version", ok)};
        if (!parse_payment_method(str(*j, "method", ok), x.method) ||
            !parse_payment_status(str(*j, "status", ok), x.status) || !ok)
          return Error{"corrupt payment record"};
        state.payments.emplace(x.payment_id, std::move(x));
      } else if (kind == 'e') {
        Escrow x{OrderId{str(*j, "order_id", ok)},
                 PaymentId{str(*j, "payment_id", ok)},
                 str(*j, "source_account", ok),
                 CustomerId{str(*j, "buyer", ok)},
                 SellerId{str(*j, "seller", ok)},
                 Currency{str(*j, "currency", ok)},
                 AmountMinor{num(*j, "amount_minor", ok)},
                 AmountMinor{num(*j, "held_minor", ok)},
                 EscrowStatus::held,
                 num(*j, "version", ok)};
        if (!parse_escrow_status(str(*j, "status", ok), x.status) || !ok)
          return Error{"corrupt escrow record"};
        state.escrows.emplace(x.order_id, std::move(x));
      } else if (kind == 'u') {
        Payout x{PayoutId{str(*j, "payout_id", ok)},
                 OwnerId{str(*j, "owner", ok)},
                 Currency{str(*j, "currency", ok)},
                 AmountMinor{num(*j, "amount_minor", ok)},
                 str(*j, "destination", ok),
                 PayoutStatus::requested,
                 num(*j, "version", ok)};
        if (!parse_payout_status(str(*j, "status", ok), x.status) || !ok)
          return Error{"corrupt payout record"};
        state.payouts.emplace(x.payout_id, std::move(x));
      } else {
        return Error{"unknown state record kind"};
      }
    }
    if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  }
  auto at = db_.get_stored_int(Cf::meta, applied_key(p),
                               fmt::format("applied position of partition {}", p.value()), -1);
  if (!at) return Error{at.error().message};
  applied = Offset{at.value().value_or(-1)};
  // State is only ever written with its applied position, in one batch. State without one
  // (a partial copy of the directory) would have the whole log applied on top of it again.
  if (!at.value() && has_state)
    return Error{fmt::format(
        "partition {} has state but no applied position: the data directory is incomplete",
        p.value())};
  return {};
}

}  // namespace ordo

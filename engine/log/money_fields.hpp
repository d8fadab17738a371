#pragma once
// The payload fields of the lifecycle and ledger events, listed once per type: the codec
// encodes and decodes from these lists, so a field cannot be written and then forgotten on
// read. `fields(x, f)` calls f(name, member) for each field.
#include "engine/domain/events.hpp"

namespace ordo::money_fields {

template <class F>
void fields(OrderPaymentRequested& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
  f("method", x.method);
  f("customer_id", x.customer_id);
  f("seller_id", x.seller_id);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(OrderPaid& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
}
template <class F>
void fields(StockCommitted& x, F&& f) {
  f("sku", x.sku);
  f("order_id", x.order_id);
  f("qty", x.qty);
}
template <class F>
void fields(OrderPaymentFailed& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
  f("reason", x.reason);
}
template <class F>
void fields(OrderShipped& x, F&& f) {
  f("order_id", x.order_id);
}
template <class F>
void fields(OrderDelivered& x, F&& f) {
  f("order_id", x.order_id);
  f("release_at", x.release_at);
}
template <class F>
void fields(OrderCompleted& x, F&& f) {
  f("order_id", x.order_id);
  f("how", x.how);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(OrderDisputed& x, F&& f) {
  f("order_id", x.order_id);
  f("reason", x.reason);
}
template <class F>
void fields(OrderRefunded& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
  f("reason", x.reason);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(OrderPaymentReturned& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(StockRestocked& x, F&& f) {
  f("sku", x.sku);
  f("order_id", x.order_id);
  f("qty", x.qty);
}
template <class F>
void fields(WalletDeposited& x, F&& f) {
  f("owner", x.owner);
  f("currency", x.currency);
  f("amount_minor", x.amount_minor);
  f("reference", x.reference);
}
template <class F>
void fields(PaymentInitiated& x, F&& f) {
  f("payment_id", x.payment_id);
  f("order_id", x.order_id);
  f("method", x.method);
  f("buyer", x.buyer);
  f("seller", x.seller);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(PaymentCaptured& x, F&& f) {
  f("payment_id", x.payment_id);
  f("order_id", x.order_id);
  f("amount_minor", x.amount_minor);
  f("provider_event_id", x.provider_event_id);
}
template <class F>
void fields(PaymentFailed& x, F&& f) {
  f("payment_id", x.payment_id);
  f("order_id", x.order_id);
  f("reason", x.reason);
  f("provider_event_id", x.provider_event_id);
}
template <class F>
void fields(PaymentRefunded& x, F&& f) {
  f("payment_id", x.payment_id);
  f("order_id", x.order_id);
  f("amount_minor", x.amount_minor);
  f("provider_event_id", x.provider_event_id);
}
template <class F>
void fields(EscrowHeld& x, F&& f) {
  f("order_id", x.order_id);
  f("payment_id", x.payment_id);
  f("from_account", x.from_account);
  f("buyer", x.buyer);
  f("seller", x.seller);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
}
template <class F>
void fields(EscrowReleased& x, F&& f) {
  f("order_id", x.order_id);
  f("seller", x.seller);
  f("amount_minor", x.amount_minor);
  f("fee_minor", x.fee_minor);
  f("currency", x.currency);
}
template <class F>
void fields(EscrowRefunded& x, F&& f) {
  f("order_id", x.order_id);
  f("to_account", x.to_account);
  f("amount_minor", x.amount_minor);
  f("currency", x.currency);
  f("resolves", x.resolves);
}
template <class F>
void fields(PayoutRequested& x, F&& f) {
  f("payout_id", x.payout_id);
  f("owner", x.owner);
  f("currency", x.currency);
  f("amount_minor", x.amount_minor);
  f("destination", x.destination);
}
template <class F>
void fields(PayoutCompleted& x, F&& f) {
  f("payout_id", x.payout_id);
  f("owner", x.owner);
  f("currency", x.currency);
  f("amount_minor", x.amount_minor);
}
template <class F>
void fields(PayoutRejected& x, F&& f) {
  f("payout_id", x.payout_id);
  f("reason", x.reason);
}

template <class T>
concept HasFields = requires(T& x) {
  fields(x, [](const char*, auto&) {});
};

}  // namespace ordo::money_fields

#include "engine/domain/flows.hpp"

#include <string>

#include "engine/domain/ledger.hpp"

namespace ordo {

std::optional<Command> react(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::optional<Command> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, OrderPaymentRequested>)
          return InitiatePayment{e.payment_id, e.order_id,     e.method,  e.customer_id,
                                 e.seller_id,  e.amount_minor, e.currency};
        else if constexpr (std::is_same_v<T, PaymentCaptured>)
          return MarkOrderPaid{e.order_id, e.payment_id};
        else if constexpr (std::is_same_v<T, PaymentFailed>)
          return MarkOrderPaymentFailed{e.order_id, e.payment_id, e.reason};
        else if constexpr (std::is_same_v<T, OrderCompleted>)
          return ReleaseEscrow{e.order_id, e.currency};
        else if constexpr (std::is_same_v<T, OrderRefunded> ||
                           std::is_same_v<T, OrderPaymentReturned>)
          return RefundEscrow{e.order_id, e.currency};
        else if constexpr (std::is_same_v<T, EscrowRefunded>) {
          // The card provider refunded everything that was held: the order learns of it.
          // (After the platform's own refund the order is cancelled already: a benign no-op.)
          if (e.resolves && e.to_account == kExternalCard) return MarkOrderRefunded{e.order_id};
          return std::nullopt;
        } else
          return std::nullopt;
      },
      event);
}

bool flow_may_need(std::string_view t) noexcept {
  // react() starts steps on the first seven; the watched outcomes (FlowManager::notify) are
  // OrderPaid, OrderPaymentFailed, EscrowReleased and EscrowRefunded.
  return t == "OrderPaymentRequested" || t == "PaymentCaptured" || t == "PaymentFailed" ||
         t == "OrderCompleted" || t == "OrderRefunded" || t == "OrderPaymentReturned" ||
         t == "EscrowRefunded" || t == "OrderPaid" || t == "OrderPaymentFailed" ||
         t == "EscrowReleased";
}

std::optional<Command> on_refused(const Command& sent, const Rejection& why) {
  if (const auto* p = std::get_if<InitiatePayment>(&sent))
    return MarkOrderPaymentFailed{p->order_id, p->payment_id, std::string(to_string(why.code))};
  return std::nullopt;
}

bool refusal_is_benign(const Command& sent, const Rejection& why) {
  // A follow-up that finds its step already taken (the escrow already resolved, the order
  // already moved on) is a repeat, not a fault.
  if (why.code != RejectCode::invalid_transition) return false;
  return std::holds_alternative<ReleaseEscrow>(sent) ||
         std::holds_alternative<RefundEscrow>(sent) ||
         std::holds_alternative<MarkOrderPaymentFailed>(sent) ||
         std::holds_alternative<MarkOrderRefunded>(sent);
}

}  // namespace ordo

#pragma once
// Request bodies of the lifecycle and money endpoints → domain commands, validated at the
// edge like api/command_codec.hpp.
#include <string_view>

#include "api/command_codec.hpp"

namespace ordo::api {

// `{method: "wallet"|"card", payment_id?}`; `generated_id` when the body names none.
Decoded<PayOrder> decode_pay_order(std::string_view body, std::string_view order_id,
                                   std::string_view generated_id);
// Ship, deliver and confirm take no body (or `{}`).
Decoded<ShipOrder> decode_ship_order(std::string_view body, std::string_view order_id);
Decoded<DeliverOrder> decode_deliver_order(std::string_view body, std::string_view order_id);
Decoded<ConfirmOrder> decode_confirm_order(std::string_view body, std::string_view order_id);
// `{reason?}`
Decoded<DisputeOrder> decode_dispute_order(std::string_view body, std::string_view order_id);
Decoded<ResolveDispute> decode_resolve_dispute(std::string_view body, std::string_view order_id,
                                               bool release);
// `{amount_minor, currency, reference?}`
Decoded<DepositToWallet> decode_deposit(std::string_view body, std::string_view owner);
// `{payout_id?, amount_minor, currency?, destination}`; currency defaults to USD.
Decoded<RequestPayout> decode_request_payout(std::string_view body, std::string_view owner,
                                             std::string_view generated_id);
Decoded<CompletePayout> decode_complete_payout(std::string_view body, std::string_view payout_id);
Decoded<RejectPayout> decode_reject_payout(std::string_view body, std::string_view payout_id);
// The provider's webhook: `{event_id, payment_id, type: captured|failed|refunded, amount_minor}`.
Decoded<ApplyProviderEvent> decode_provider_event(std::string_view body);

}  // namespace ordo::api

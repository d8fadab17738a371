#pragma once
// Outcomes of the lifecycle and money commands → HTTP responses. Pure, run on the
// partition thread so an Idempotency-Key replay returns the same bytes.
#include <string>

#include "engine/runtime/submission.hpp"

namespace ordo::api {

// Any order transition (pay, ship, deliver, confirm, dispute, cancel, escrow release or
// refund): `{order_id, status, ...}`; 202 for pay (the payment flow continues), else 200.
Rendered render_order_transition(const Outcome& o);
Rendered render_deposit(const Outcome& o);
Rendered render_payout(const Outcome& o);
// The webhook's answer names the provider's event id even when it was a repeat.
Rendered render_provider_event(const Outcome& o, const std::string& event_id);

}  // namespace ordo::api

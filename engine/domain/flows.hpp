#pragma once
// The process managers' rules (DESIGN §4), pure: which command follows an event when a flow
// crosses from the order's partition to the ledger's or back. The runtime delivers events,
// derives the idempotency key from the triggering event, and routes the command.
#include <optional>
#include <string_view>

#include "engine/domain/commands.hpp"
#include "engine/domain/decide.hpp"
#include "engine/domain/events.hpp"

namespace ordo {

// The next step of a flow after `e`, or nothing when `e` starts no step.
std::optional<Command> react(const Event& e);

// Whether events of this type can start a step or end a watched flow; the runtime skips
// decoding every other event (most of a busy log: orders placed, stock reserved).
bool flow_may_need(std::string_view event_type) noexcept;

// When the step `sent` was refused, what the flow does instead: a payment the ledger would
// not even start (a reused payment id, say) is reported to the order as failed, so the
// order never waits forever. Nothing when the refusal ends the flow (an escrow already
// resolved is a step already done).
std::optional<Command> on_refused(const Command& sent, const Rejection& why);

// Whether a refusal of `sent` is the expected end of a flow rather than something an
// admin should look at.
bool refusal_is_benign(const Command& sent, const Rejection& why);

}  // namespace ordo

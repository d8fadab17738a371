#pragma once
// The pure core: decide(state, command, context) → events | rejection, and
// apply(state, event) → state. No I/O, no clock, no randomness.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/domain/commands.hpp"
#include "engine/domain/events.hpp"
#include "engine/domain/reject.hpp"
#include "engine/domain/state.hpp"

namespace ordo {

struct Rejection {
  RejectCode code;
  std::string detail;
};

using Decision = std::variant<Rejection, std::vector<Event>>;

Decision decide(const PartitionState& state, const Command& command, const DecideContext& ctx);

// When an order may expire (ExpireReservation), the one rule for decide and the partition's
// timer: a reserved order at its reservation's expiry; one waiting in payment_pending for a
// card payment at that expiry plus `payment_timeout` (0: never); any other, never.
std::optional<TimestampMs> expiry_due(const Order& o, DurationMs payment_timeout);

// Folds one event into the state. The event must be one decide could have produced from
// this state; anything else is a bug and stops the process.
void apply(PartitionState& state, const Event& event, TimestampMs occurred_at);

// Invariants of a whole partition: available never negative, reserved matches the sum of
// the lines of reserved orders. Used by tests, the simulation and the recovery path.
// Also the ledger's: the accounts of each currency sum to zero, no wallet's available
// balance is negative, a resolved escrow holds nothing, refunds never pass the capture.
bool check_invariants(const PartitionState& state, std::string* why);

// The parts of check_invariants, for a fold that keeps what the reserved orders hold of each
// product as it goes (replay's verify) instead of summing every order at the end:
// - one product's stock, given the quantity its reserved orders hold of it;
bool check_product_invariant(const Product& product, int64_t held_by_orders, std::string* why);
// - the ledger's.
bool check_ledger_invariants(const PartitionState& state, std::string* why);

// Why a lifecycle or ledger event cannot follow this state (nullopt when it can, and for
// the inventory events, which replay/ checks itself). apply asserts the same.
std::optional<std::string> money_precondition(const PartitionState& state, const Event& event);

// The version an event gives its stream, read from the state after the event is applied.
int64_t stream_version_after(const PartitionState& state, const Event& event);

}  // namespace ordo

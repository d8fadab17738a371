#pragma once
// What must hold before an event may be folded into a partition's state. The domain's
// apply() asserts these and stops the process when one fails, which is right for the engine
// (a bug) but not for a verifier reading a log that may have been tampered with: it checks
// them first and reports the event instead.
#include <optional>
#include <string>

#include "engine/domain/events.hpp"
#include "engine/domain/state.hpp"

namespace ordo::replay {

// Why `event` cannot follow `state`; nullopt when apply() may take it.
std::optional<std::string> precondition_violation(const PartitionState& state, const Event& event);

}  // namespace ordo::replay

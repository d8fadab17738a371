#pragma once
// A request waiting for a flow's outcome (`?wait=true`), reported by the process manager's
// thread. Private to api/.
#include "api/result_waiter.hpp"
#include "engine/runtime/flow_manager.hpp"

namespace ordo::api {

using FlowWaiter = ResultWaiter<FlowOutcome>;

}  // namespace ordo::api

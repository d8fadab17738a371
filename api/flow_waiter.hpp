#pragma once
// Shared between a request waiting for a flow's outcome (`?wait=true`) and the process
// manager's thread that reports it. Private to api/.
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>

#include "engine/runtime/flow_manager.hpp"

namespace ordo::api {

struct FlowWaiter {
  explicit FlowWaiter(boost::asio::any_io_executor ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::mutex mu;
  std::optional<FlowOutcome> outcome;
};

}  // namespace ordo::api

#pragma once
// What travels from a caller (the HTTP layer, a benchmark, a test) to a partition processor
// and back.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/domain/commands.hpp"
#include "engine/domain/decide.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/position.hpp"
#include "engine/log/result.hpp"

namespace ordo {

struct CommandMeta {
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  Actor actor;
  bool vip = false;  // served first when the partition queue is contended
  // A process manager's step (engine/runtime/flow_manager.hpp): served first too, with room
  // of its own past the queue's capacity, so clients filling the queue cannot hold back the
  // flows of orders already placed (and every partition's flows wait for a step's round).
  bool system = false;
};

// The domain outcome of one command: its events, or the rejection.
struct Outcome {
  std::optional<Rejection> rejection;
  std::vector<Event> events;
};

// A response rendered from an outcome, kept for Idempotency-Key replays.
struct Rendered {
  int status = 0;
  std::string body;
};

struct IdempotencyClaim {
  std::string scoped_key;   // caller's sub + the client's key
  std::string fingerprint;  // of method, path and body
};

struct Completion {
  // Not ok: the command was not acknowledged (an infrastructure failure, or its key's record
  // appeared while it waited). Its events may be in the log if a write's outcome was in doubt
  // (a Kafka commit that timed out); a retry with the same key then replays the record.
  Status durable;
  Outcome outcome;
  Rendered rendered;
  Position position;  // last event of the command, or the partition's tail for a rejection
};

struct Submission {
  Command command;
  CommandMeta meta;
  std::optional<IdempotencyClaim> idempotency;
  // Set by the engine: this command claimed a new id in the router and must release it if
  // it is rejected or fails.
  bool owns_claim = false;
  // Pure and cheap; runs on the partition thread so that the idempotency record holds the
  // exact response. May be empty when no one needs a rendered response.
  std::function<Rendered(const Outcome&)> render;
  // Runs on the partition thread once the outcome is durable (or failed). Must not block.
  std::function<void(Completion&&)> done;
};

}  // namespace ordo

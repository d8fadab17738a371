#pragma once
// Aggregate state and idempotency records in RocksDB. (Reservation and payment timers are
// not stored: recovery derives them from the orders' snapshots.) Writes go through a
// StateDelta so they commit atomically with the events that caused them; reads happen at
// start-up (recovery) and for idempotency look-ups.
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "engine/domain/state.hpp"
#include "engine/log/position.hpp"
#include "engine/log/result.hpp"
#include "engine/log/state_delta.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo {

// A stored command response, replayed for a retried Idempotency-Key.
struct IdempotencyRecord {
  std::string fingerprint;  // hash of method, path and body
  int status = 0;
  std::string body;
  std::string position;  // Ordo-Position of the original response
  TimestampMs created_at{0};
};

// The idempotency keys of process-manager steps (engine/runtime/flow_manager.cpp) start
// with this; a client's key is "{sub}\x1f{key}" with `sub` an id, which never starts with
// \x1e. A step's record is its proof of having run and is kept for good; clients' records
// expire (RocksDbOptions::idempotency_retention_ms).
inline constexpr std::string_view kFlowStepKeyPrefix = "\x1eordo-flow\x1f";

// The retention window, defined once: a record made at `created_at` is honoured (its key
// answers with the recorded response) until `retention_ms` have passed.
inline bool idempotency_record_honoured(TimestampMs created_at, int64_t retention_ms,
                                        TimestampMs now) {
  return created_at.value() + retention_ms > now.value();
}

class StateStore {
 public:
  explicit StateStore(RocksDb& db) : db_(db) {}

  // Loads every aggregate of partition `p`, and the position the state reflects.
  Status load_partition(PartitionId p, PartitionState& state, Offset& applied);

  // RocksDb::resume(): lets writes work again after a failed one, when the cause has gone.
  Status resume_writes() { return db_.resume(); }

  Result<std::optional<IdempotencyRecord>> get_idempotency(const std::string& scoped_key);
  // Replaces the response a recorded key replays, keeping its fingerprint and created_at;
  // synced before it returns. For HTTP `?wait=true`: its answer is how the flow ended,
  // known only after the command's own commit wrote the record with the command's answer.
  // An error when the key has no record. (The Kafka backend's topic keeps the command's
  // answer: a store rebuilt from Kafka replays that one.)
  Status settle_idempotency(const std::string& scoped_key, int status, std::string body,
                            std::string position);

  static void put_product(StateDelta& d, PartitionId p, const Product& product);
  static void put_order(StateDelta& d, PartitionId p, const Order& order);
  static void put_wallet(StateDelta& d, PartitionId p, const Wallet& wallet);
  static void put_payment(StateDelta& d, PartitionId p, const Payment& payment);
  static void put_escrow(StateDelta& d, PartitionId p, const Escrow& escrow);
  static void put_payout(StateDelta& d, PartitionId p, const Payout& payout);
  // `account` is the key of PartitionState::other_accounts ("{account}/{currency}").
  static void put_account(StateDelta& d, PartitionId p, const std::string& account,
                          int64_t balance);
  static void put_provider_event(StateDelta& d, PartitionId p, const std::string& id,
                                 const PaymentId& payment);
  static void put_idempotency(StateDelta& d, const std::string& scoped_key,
                              const IdempotencyRecord& r);
  // A stored idempotency record (put_idempotency's value), or why the bytes are not one.
  static Result<IdempotencyRecord> decode_idempotency(std::string_view stored);
  static void put_applied(StateDelta& d, PartitionId p, Offset applied);

 private:
  RocksDb& db_;
};

}  // namespace ordo

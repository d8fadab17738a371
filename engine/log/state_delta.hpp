#pragma once
// State writes that must become durable together with a batch of events. The embedded log
// puts them in the same RocksDB WriteBatch as the events; the Kafka log writes them to
// RocksDB after the Kafka transaction commits (with the applied offset, so a crash between
// the two is repaired by catching up from Kafka).
#include <optional>
#include <string>
#include <vector>

namespace ordo {

enum class StateColumn { state, idempotency, meta };

struct KvWrite {
  StateColumn column;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
};

struct StateDelta {
  std::vector<KvWrite> writes;
  void put(StateColumn c, std::string k, std::string v) {
    writes.push_back({c, std::move(k), std::move(v)});
  }
  void erase(StateColumn c, std::string k) { writes.push_back({c, std::move(k), std::nullopt}); }
};

}  // namespace ordo

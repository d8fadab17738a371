#pragma once
// The engine's front door: opens storage, recovers every partition, routes submissions to
// their partition's processor. The HTTP layer, benchmarks and tests all go through here.
#include <memory>
#include <string>
#include <vector>

#include "engine/log/event_log.hpp"
#include "engine/log/kafka/kafka_client.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/partition_processor.hpp"
#include "engine/runtime/router.hpp"
#include "engine/state/rocks_db.hpp"
#include "engine/state/flow_store.hpp"
#include "engine/state/state_store.hpp"

namespace ordo {

struct EngineConfig {
  std::string data_dir;
  uint32_t partitions = 1;
  ProcessorConfig processor;
  // The file system under RocksDB (log, state, idempotency records); null: the machine's.
  // Tests inject one that fails chosen writes.
  std::shared_ptr<rocksdb::FileSystem> file_system = nullptr;
};

enum class SubmitResult {
  queued,      // `done` will run on the partition thread
  completed,   // refused by the router, or its new id is in doubt (an error to retry);
               // `done` already ran on the calling thread
  overloaded,  // the partition's queue is full; `done` will not run
};

class Engine {
 public:
  // The embedded backend: RocksDB under `config.data_dir/rocksdb` for log and state.
  static Result<std::unique_ptr<Engine>> open_embedded(const EngineConfig& config,
                                                       const Clock& clock);
  // The Kafka backend: events in Kafka (`kafka.topic`, one Kafka partition per Ordo
  // partition); state, idempotency records and the stream index in RocksDB under
  // `config.data_dir/rocksdb`. Every partition catches up from Kafka before serving.
  static Result<std::unique_ptr<Engine>> open_kafka(const EngineConfig& config,
                                                    kafka::Options kafka, const Clock& clock);
  ~Engine();

  void start();
  void stop();

  SubmitResult submit(Submission&& s);
  // The position a command answer names when no partition decided it (refused by the
  // router, or before it reached the engine): partition 0's last known offset. Nothing was
  // written; as an Ordo-Min-Position it asks only for what the log already held. Never waits.
  Position position_without_partition();

  Router& router() { return router_; }
  StateStore& store() { return *store_; }
  FlowStore& flow_store() { return *flow_store_; }
  RocksDb& rocksdb_for_test() { return *db_; }  // e.g. to flush a memtable when a test says
  EventLog& log() { return *log_; }
  uint32_t partition_count() const { return router_.partition_count(); }
  PartitionProcessor& processor(PartitionId p) { return *processors_.at(p.value()); }
  // How long an idempotency record is honoured after it was made: one value for the
  // processors, the HTTP layer's replay check and the compaction filter that drops old ones.
  int64_t idempotency_retention_ms() const { return idempotency_retention_ms_; }

 private:
  Engine(uint32_t partitions, int64_t idempotency_retention_ms)
      : router_(partitions), idempotency_retention_ms_(idempotency_retention_ms) {}
  static Result<std::unique_ptr<Engine>> open_with(
      const EngineConfig& config, const Clock& clock,
      const std::function<Result<std::unique_ptr<EventLog>>(RocksDb&)>& open_log);
  std::unique_ptr<RocksDb> db_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<FlowStore> flow_store_;
  Router router_;
  std::vector<std::unique_ptr<PartitionProcessor>> processors_;
  const int64_t idempotency_retention_ms_;
};

}  // namespace ordo

#include "engine/runtime/engine.hpp"

#include <filesystem>

#include <fmt/core.h>

#include "engine/log/kafka/kafka_log.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"

namespace ordo {

Result<std::unique_ptr<Engine>> Engine::open_embedded(const EngineConfig& config,
                                                      const Clock& clock) {
  return open_with(config, clock, [&](RocksDb& db) -> Result<std::unique_ptr<EventLog>> {
    auto log = RocksDbLog::open(db, config.partitions);
    if (!log) return log.error();
    return std::unique_ptr<EventLog>(std::move(log.value()));
  });
}

Result<std::unique_ptr<Engine>> Engine::open_kafka(const EngineConfig& config, kafka::Options kafka,
                                                   const Clock& clock) {
  return open_with(config, clock, [&](RocksDb& db) -> Result<std::unique_ptr<EventLog>> {
    auto log = KafkaLog::open(db, config.partitions, std::move(kafka));
    if (!log) return log.error();
    return std::unique_ptr<EventLog>(std::move(log.value()));
  });
}

Result<std::unique_ptr<Engine>> Engine::open_with(
    const EngineConfig& config, const Clock& clock,
    const std::function<Result<std::unique_ptr<EventLog>>(RocksDb&)>& open_log) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Error{"cannot create " + config.data_dir + ": " + ec.message()};
  RocksDbOptions db_options{config.processor.idempotency_retention_ms,
                            [&clock] { return clock.now().value(); }};
  db_options.file_system = config.file_system;
  auto db = RocksDb::open(config.data_dir + "/rocksdb", std::move(db_options));
  if (!db) return db.error();
  auto log = open_log(*db.value());
  if (!log) return log.error();
  std::unique_ptr<Engine> e(
      new Engine(config.partitions, config.processor.idempotency_retention_ms));
  e->db_ = std::move(db.value());
  e->log_ = std::move(log.value());
  e->store_ = std::make_unique<StateStore>(*e->db_);
  e->flow_store_ = std::make_unique<FlowStore>(*e->db_);
  ProcessorConfig processor = config.processor;
  // RocksDB's files, log and state, live under the data directory. One measurement serves
  // every partition for 20 ms: at 100 MB/s that is 2 MB, well inside any useful reserve.
  if (!processor.disk_space)
    processor.disk_space = std::make_shared<CachedDiskSpace>(
        std::make_shared<FileSystemSpace>(config.data_dir), std::chrono::milliseconds(20));
  for (uint32_t p = 0; p < config.partitions; ++p) {
    auto proc = std::make_unique<PartitionProcessor>(PartitionId{p}, *e->log_, *e->store_, clock,
                                                     e->router_, processor);
    if (auto s = proc->recover(); !s) return Error{s.message()};
    e->processors_.push_back(std::move(proc));
  }
  return e;
}

Engine::~Engine() { stop(); }

void Engine::start() {
  for (auto& p : processors_) p->start();
}

void Engine::stop() {
  for (auto& p : processors_) p->stop();
}

Position Engine::position_without_partition() {
  auto tail = log_->known_tail(PartitionId{0});  // on a request thread: never waits
  return Position{PartitionId{0}, tail ? tail->last_offset : Offset{-1}};
}

SubmitResult Engine::submit(Submission&& s) {
  Route r = router_.route(s.command);
  if (auto* rej = std::get_if<Rejection>(&r)) {
    Outcome o{std::move(*rej), {}};
    Rendered rendered = s.render ? s.render(o) : Rendered{};
    if (s.done)
      s.done(Completion{Status{}, std::move(o), std::move(rendered), position_without_partition()});
    return SubmitResult::completed;
  }
  if (const auto* doubt = std::get_if<ClaimInDoubt>(&r)) {
    // An infrastructure failure, not a rejection: the id may turn out to be free.
    if (s.done)
      s.done(Completion{Status{Error{fmt::format(
                            "{}: the outcome of an earlier write that claimed it is not known "
                            "until its partition has read the log back; retry",
                            doubt->what)}},
                        {},
                        {},
                        position_without_partition()});
    return SubmitResult::completed;
  }
  const Routed routed = std::get<Routed>(r);
  const PartitionId p = routed.partition;
  s.owns_claim = routed.owns_claim;
  // try_submit leaves `s` untouched when it refuses it.
  if (!processors_.at(p.value())->try_submit(std::move(s))) {
    if (s.owns_claim) router_.release_claim(s.command);
    return SubmitResult::overloaded;
  }
  return SubmitResult::queued;
}

}  // namespace ordo

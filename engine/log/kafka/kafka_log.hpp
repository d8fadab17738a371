#pragma once
// The Kafka event log (DESIGN §5): topic `ordo.events`, Kafka partition N = Ordo partition N,
// key = stream id, value = the canonical JSON envelope. One transactional producer per
// partition (transactional.id = prefix + "p{N}", idempotent, acks=all): a group commit is
// one Kafka transaction, and a second writer with the same id fences this one for good.
//
// Offsets: the Kafka offset of a message IS the event's offset. It is only known after the
// write, so the stored value carries "offset":-1 and readers take the offset from the
// message. The hash covers neither (envelope.hpp: hashed_bytes), so the chain verifies the
// same way in both backends.
//
// RocksDB (under the data directory) still holds state, idempotency records and a stream
// index. The idempotency records of a batch are ALSO produced, in the same transaction, to
// `<topic>.idempotency`: a crash between the Kafka commit and the RocksDB write would
// otherwise lose them, and a client retrying with its Idempotency-Key would run the command
// twice. On open they are caught up from Kafka, as is the stream index.
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "engine/log/event_log.hpp"
#include "engine/log/kafka/kafka_client.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo {

class KafkaLog final : public EventLog {
 public:
  // Creates the topics if missing (a partition-count mismatch is an error), starts one
  // transactional producer per partition (fencing any older writer with the same ids),
  // finds each partition's last committed event, and catches RocksDB up with Kafka.
  static Result<std::unique_ptr<KafkaLog>> open(RocksDb& db, uint32_t partitions,
                                                kafka::Options options);
  // A reader only (export, audit, tests): no producers, so it fences nobody; no RocksDB, so
  // read_stream is unavailable and append fails.
  // The partition count is the topic's: `partitions`, when given, must match it (a reader
  // told 1 of a 4-partition topic would check a quarter of the log and call it whole).
  static Result<std::unique_ptr<KafkaLog>> open_reader(std::optional<uint32_t> partitions,
                                                       kafka::Options options);
  ~KafkaLog() override;

  uint32_t partition_count() const override { return static_cast<uint32_t>(parts_.size()); }
  // While a partition's last transaction has an unknown outcome (the broker went away
  // mid-commit), this re-establishes it from Kafka first, and fails while it cannot.
  Result<LogTail> tail(PartitionId p) override;
  // Never re-establishes a partition or waits for an append: answers what the last append,
  // resync or open left (an error while the end is in doubt or the partition fenced).
  Result<LogTail> known_tail(PartitionId p) override;
  Status append(PartitionId p, std::span<Envelope> events,
                const DeltaBuilder& build_delta) override;
  Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override;
  Result<std::vector<Envelope>> read_stream(std::string_view stream, int64_t from_version,
                                            size_t max) override;

  const kafka::Options& options() const { return options_; }
  std::string idempotency_topic() const { return options_.topic + ".idempotency"; }

 private:
  struct ProducerState;  // delivery-report slots; outlives the handle that points at it
  struct Part {
    std::mutex mu;  // the writer appends; anyone may ask for the tail
    std::unique_ptr<ProducerState> state;
    kafka::Handle producer;
    LogTail tail;
    bool in_doubt = false;  // last commit's outcome unknown: resync before anything else
    std::string fenced;     // non-empty: another writer took this partition; why
    // known_tail()'s answer, under its own lock (`mu` is held through whole appends and
    // resyncs); set by publish() whenever tail, in_doubt or fenced may have changed.
    std::mutex known_mu;
    Result<LogTail> known = Error{"the partition is not open yet"};
  };

  KafkaLog(RocksDb* db, kafka::Options options, uint32_t partitions);
  Status ensure_topics();
  Status sync_partition(uint32_t p);  // producer + tail + index + idempotency catch-up
  Result<LogTail> find_tail(uint32_t p);
  Status catch_up_index(uint32_t p, const LogTail& tail);
  Status catch_up_idempotency(uint32_t p);
  Status fail_transaction(Part& part, uint32_t p, const std::string& why);
  void publish(Part& part);  // under part.mu
  // Declared after the lock on part.mu, so it publishes before the lock is released.
  struct PublishOnExit {
    KafkaLog& log;
    Part& part;
    ~PublishOnExit() { log.publish(part); }
  };

  RocksDb* db_;  // null for a reader
  const kafka::Options options_;
  std::vector<std::unique_ptr<Part>> parts_;
};

// Decodes one Kafka message of the events topic: the envelope with its Kafka offset.
Result<Envelope> decode_kafka_event(const kafka::Message& m, PartitionId p);

}  // namespace ordo

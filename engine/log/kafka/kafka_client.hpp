#pragma once
// Thin RAII and error plumbing over librdkafka's C API, shared by the Kafka log, the
// replay tool and the benchmark. Every call that talks to the broker takes a bound.
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/log/result.hpp"

namespace ordo::kafka {

struct Options {
  std::string brokers;                         // bootstrap.servers
  std::string topic = "ordo.events";           // one Kafka partition per Ordo partition
  std::string transactional_prefix = "ordo-";  // transactional.id = prefix + "p{N}"
  // Bound on every broker interaction (one append, one read, one start-up step), so a dead
  // broker turns into an error within this long instead of a hang.
  int timeout_ms = 10'000;
};

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const;
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

// A fresh consumer with isolation.level=read_committed: aborted transactions and
// transaction markers are never returned. No group: partitions are assigned by hand.
Result<Handle> make_consumer(const Options& o);

// How many partitions topic `name` has; -1 when it does not exist.
Result<int> topic_partitions(rd_kafka_t* rk, const std::string& name, int timeout_ms);

// `name` exists with exactly `partitions` partitions, creating it if it is missing (kept
// for ever: no retention by age or size, no compaction). A different count is an error:
// routing would change under the data; so is a finite retention or compaction
// (check_log_topic_config).
Status ensure_topic(rd_kafka_t* rk, const std::string& name, uint32_t partitions, int timeout_ms);
Status check_log_topic_config(rd_kafka_t* rk, const std::string& name, int timeout_ms);

struct Message {
  int64_t offset;
  std::string value;
};

// [low, high) of a partition; for a read_committed handle `high` is the last stable offset.
Result<std::pair<int64_t, int64_t>> watermarks(rd_kafka_t* consumer, const std::string& topic,
                                               int32_t partition, int timeout_ms);

// Up to `max` committed messages of topic/partition with offset >= from, in order. Stops at
// the partition's end (EOF), after `max`, once `stop_at` (an offset known to be the last one
// of interest, or -1) is read, or fails when `timeout_ms` passes without reaching either.
// Offsets are not contiguous (transaction markers, aborted messages): nothing assumes +1.
Result<std::vector<Message>> read_partition(const Options& o, const std::string& topic,
                                            int32_t partition, int64_t from, size_t max,
                                            int64_t stop_at);

std::string error_text(rd_kafka_resp_err_t err);

}  // namespace ordo::kafka

#include "engine/log/kafka/kafka_client.hpp"

#include <fmt/core.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <thread>

namespace ordo::kafka {

void HandleDeleter::operator()(rd_kafka_t* rk) const {
  if (rk) rd_kafka_destroy(rk);
}

std::string error_text(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

namespace {

Status set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    return Error{fmt::format("kafka config {}={}: {}", key, value, err)};
  return {};
}

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

}  // namespace

Result<Handle> make_consumer(const Options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
           {"bootstrap.servers", o.brokers},
           {"isolation.level", "read_committed"},
           {"enable.partition.eof", "true"},
           {"enable.auto.commit", "false"},
           {"enable.auto.offset.store", "false"},
           // An offset below the log start (deleted by retention) must be an error, not a
           // silent jump to the end.
           {"auto.offset.reset", "error"},
           {"group.id", "ordo-reader"},  // required by librdkafka; never joined or committed
           {"fetch.wait.max.ms", "50"},
           {"socket.timeout.ms", std::to_string(std::max(o.timeout_ms, 1000))},
           {"reconnect.backoff.max.ms", "1000"},
           {"log_level", "3"}}) {
    if (auto s = set(conf, k, v); !s) {
      rd_kafka_conf_destroy(conf);
      return Error{s.message()};
    }
  }
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Error{std::string("kafka consumer: ") + err};
  }
  return Handle(rk);
}

// What the log's topics must be configured with (set on creation, checked on open).
const std::pair<const char*, const char*> kLogTopicConfig[] = {
    {"cleanup.policy", "delete"}, {"retention.ms", "-1"}, {"retention.bytes", "-1"}};

Result<int> topic_partitions(rd_kafka_t* rk, const std::string& name, int timeout_ms) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, name.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, timeout_ms);
  rd_kafka_topic_destroy(t);
  if (e) return Error{fmt::format("kafka metadata for {}: {}", name, error_text(e))};
  int n = -1;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    n = md->topics[0].partition_cnt;
  else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    n = -2;
  rd_kafka_metadata_destroy(md);
  if (n == -2) return Error{fmt::format("kafka metadata for {}: topic error", name)};
  return n;
}

Status ensure_topic(rd_kafka_t* rk, const std::string& name, uint32_t partitions, int timeout_ms) {
  auto count_partitions = [&] { return topic_partitions(rk, name, timeout_ms); };
  auto n = count_partitions();
  if (!n) return Error{n.error().message};
  if (*n < 0) {
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(name.c_str(), static_cast<int>(partitions), -1, err, sizeof err);
    if (!nt) return Error{std::string("kafka new topic: ") + err};
    // The log is the source of truth and recovery reads it from the snapshot's event (or
    // from genesis): nothing may be deleted by age or size, and nothing compacted by key.
    for (const auto& [k, v] : kLogTopicConfig)
      if (rd_kafka_NewTopic_set_config(nt, k, v)) {
        rd_kafka_NewTopic_destroy(nt);
        return Error{fmt::format("kafka new topic: cannot set {}", k)};
      }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof err);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    std::string failure;
    if (!ev) {
      failure = "timed out";
    } else if (rd_kafka_event_error(ev)) {
      failure = rd_kafka_event_error_string(ev);
    } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
      size_t cnt = 0;
      const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &cnt);
      for (size_t i = 0; i < cnt; ++i) {
        auto te = rd_kafka_topic_result_error(topics[i]);
        // Another process may have created it at the same time: fine, checked below.
        if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
          failure = rd_kafka_topic_result_error_string(topics[i]);
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    if (!failure.empty())
      return Error{fmt::format("kafka: cannot create topic {}: {}", name, failure)};
    // Metadata may lag the creation for a moment: bounded retries.
    for (int i = 0; i < 50; ++i) {
      n = count_partitions();
      if (n && *n >= 0) break;
      rd_kafka_poll(rk, 100);
    }
    if (!n) return Error{n.error().message};
  }
  if (*n != static_cast<int>(partitions))
    return Error{
        fmt::format("kafka topic {} has {} partitions but Ordo is configured with {}; "
                    "start with --partitions {} or use another topic",
                    name, *n, partitions, *n)};
  return check_log_topic_config(rk, name, timeout_ms);
}

Status check_log_topic_config(rd_kafka_t* rk, const std::string& name, int timeout_ms) {
  char err[512];
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err);
  rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
  std::string failure;
  std::map<std::string, std::string> found;
  if (!ev) {
    failure = "timed out";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else if (const auto* result = rd_kafka_event_DescribeConfigs_result(ev)) {
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(result, &cnt);
    for (size_t i = 0; i < cnt; ++i) {
      if (rd_kafka_ConfigResource_error(rs[i])) {
        failure = rd_kafka_ConfigResource_error_string(rs[i]);
        continue;
      }
      size_t entries = 0;
      const rd_kafka_ConfigEntry_t** es = rd_kafka_ConfigResource_configs(rs[i], &entries);
      for (size_t j = 0; j < entries; ++j) {
        const char* v = rd_kafka_ConfigEntry_value(es[j]);
        found[rd_kafka_ConfigEntry_name(es[j])] = v ? v : "";
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy(res);
  if (!failure.empty())
    return Error{
        fmt::format("kafka: cannot read the configuration of topic {}: {}", name, failure)};
  for (const auto& [k, want] : kLogTopicConfig) {
    auto it = found.find(k);
    if (it == found.end() || it->second != want)
      return Error{fmt::format(
          "kafka topic {} has {}={} but Ordo's log must be kept whole ({}={}): events would be "
          "deleted and recovery could not read them back; set it with kafka-configs.sh "
          "--alter --entity-type topics --entity-name {} --add-config {}={} (events already "
          "deleted do not come back)",
          name, k, it == found.end() ? "(unknown)" : it->second, k, want, name, k, want)};
  }
  return {};
}

Result<std::pair<int64_t, int64_t>> watermarks(rd_kafka_t* consumer, const std::string& topic,
                                               int32_t partition, int timeout_ms) {
  // A partition of a topic created a moment ago may have no leader yet ("not leader",
  // "leader not available"): those are retried until the timeout, anything else is not.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int64_t low = 0, high = 0;
    auto e = rd_kafka_query_watermark_offsets(consumer, topic.c_str(), partition, &low, &high,
                                              std::max(remaining_ms(deadline), 1));
    if (!e) return std::pair{low, high};
    const bool leaderless = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                            e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                            e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (!leaderless || remaining_ms(deadline) < 100)
      return Error{fmt::format("kafka watermarks of {}/{}: {}", topic, partition, error_text(e))};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<std::vector<Message>> read_partition(const Options& o, const std::string& topic,
                                            int32_t partition, int64_t from, size_t max,
                                            int64_t stop_at) {
  std::vector<Message> out;
  if (max == 0) return out;
  auto c = make_consumer(o);
  if (!c) return c.error();
  rd_kafka_t* rk = c->get();
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
  // Nothing to read at or past the end: answer without a fetch (a fetch there would wait
  // for data that may never come).
  auto wm = watermarks(rk, topic, partition, o.timeout_ms);
  if (!wm) return wm.error();
  if (from < wm->first) from = wm->first;  // only below-start reads of an empty prefix
  if (from >= wm->second) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = from;
  rd_kafka_resp_err_t ae = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (ae) return Error{"kafka assign: " + error_text(ae)};
  Status failure;
  bool done = false;
  while (!done && out.size() < max) {
    int wait = remaining_ms(deadline);
    if (wait == 0) {
      failure =
          Error{fmt::format("kafka: reading {}/{} from {} timed out", topic, partition, from)};
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, std::min(wait, 200));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      done = true;
    } else if (m->err) {
      failure = Error{
          fmt::format("kafka: reading {}/{}: {}", topic, partition, rd_kafka_message_errstr(m))};
      done = true;
    } else if (m->offset >= from) {
      out.push_back({m->offset, std::string(static_cast<const char*>(m->payload), m->len)});
      if (stop_at >= 0 && m->offset >= stop_at) done = true;
      // The end we measured: a read_committed reader sees nothing stable beyond it yet.
      if (m->offset + 1 >= wm->second) done = true;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, nullptr);
  if (!failure) return Error{failure.message()};
  return out;
}

}  // namespace ordo::kafka

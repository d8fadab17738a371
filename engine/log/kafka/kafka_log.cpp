#include "engine/log/kafka/kafka_log.hpp"

#include <fmt/core.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdio>

#include "engine/domain/assert.hpp"

namespace ordo {
namespace {

using SteadyClock = std::chrono::steady_clock;

int remaining_ms(SteadyClock::time_point deadline) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

std::string meta_key(const char* what, uint32_t p) {
  std::string k = std::string("kafka/") + what + "/";
  append_be32(k, p);
  return k;
}

std::string stream_key(std::string_view stream, int64_t version) {
  std::string k(stream);
  k.push_back('\0');
  append_be64(k, static_cast<uint64_t>(version));
  return k;
}

// How far the stream index covers partition p: kept in the index's own column family and
// written with its entries, without the WAL (derived data; a lost tail is caught up from
// Kafka on open). No stream key starts with a NUL byte. Older data directories kept it in
// meta (kafka/indexed/p), read when the new key is absent.
std::string index_marker_key(uint32_t p) {
  std::string k("\0kafka-indexed/", 15);
  append_be32(k, p);
  return k;
}

Result<int64_t> get_meta_int(RocksDb& db, const std::string& key, int64_t dflt) {
  auto n = db.get_stored_int(Cf::meta, key, "stored integer under meta key " + key);
  if (!n) return Error{n.error().message};
  return n.value().value_or(dflt);
}

// Delivery reports are served inside rd_kafka_flush on the appending thread. The tag names
// the batch and the message's slot, so a late report of an abandoned batch changes nothing.
struct Deliveries {
  uint64_t batch = 0;
  struct Slot {
    bool done = false;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t offset = -1;
  };
  std::vector<Slot> slots;
};
constexpr unsigned kSlotBits = 24;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Deliveries*>(opaque);
  auto tag = reinterpret_cast<uintptr_t>(m->_private);
  if ((tag >> kSlotBits) !=
      (d->batch & ((uintptr_t(1) << (sizeof(uintptr_t) * 8 - kSlotBits)) - 1)))
    return;
  size_t i = tag & ((uintptr_t(1) << kSlotBits) - 1);
  if (i >= d->slots.size()) return;
  d->slots[i] = {true, m->err, m->offset};
}

std::string txn_error(rd_kafka_error_t* e) {
  std::string s = rd_kafka_error_string(e);
  return s;
}

bool is_fencing(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

// Idempotency records travel as length-prefixed key/value frames; a delete has no value.
void append_frame(std::string& out, const KvWrite& w) {
  append_be32(out, static_cast<uint32_t>(w.key.size()));
  out += w.key;
  append_be32(out, w.value ? static_cast<uint32_t>(w.value->size()) : 0xFFFFFFFFu);
  if (w.value) out += *w.value;
}

Status apply_frames(RocksDb& db, std::string_view in, rocksdb::WriteBatch& batch) {
  size_t i = 0;
  auto take32 = [&](uint32_t& v) {
    if (in.size() - i < 4) return false;
    v = read_be32(in.data() + i);
    i += 4;
    return true;
  };
  while (i < in.size()) {
    uint32_t kl = 0, vl = 0;
    if (!take32(kl) || in.size() - i < kl) return Error{"corrupt idempotency frame"};
    std::string_view k = in.substr(i, kl);
    i += kl;
    if (!take32(vl)) return Error{"corrupt idempotency frame"};
    if (vl == 0xFFFFFFFFu) {
      batch.Delete(db.cf(Cf::idempotency), rocksdb::Slice(k.data(), k.size()));
      continue;
    }
    if (in.size() - i < vl) return Error{"corrupt idempotency frame"};
    batch.Put(db.cf(Cf::idempotency), rocksdb::Slice(k.data(), k.size()),
              rocksdb::Slice(in.data() + i, vl));
    i += vl;
  }
  return {};
}

}  // namespace

Result<Envelope> decode_kafka_event(const kafka::Message& m, PartitionId p) {
  auto e = decode_envelope(m.value);
  if (!e)
    return Error{fmt::format("partition {} offset {}: undecodable event: {}", p.value(), m.offset,
                             e.error().message)};
  if (e->partition != p)
    return Error{fmt::format("partition {} offset {}: event claims partition {}", p.value(),
                             m.offset, e->partition.value())};
  // The value was written before its offset existed; the message's offset is the truth.
  e->offset = Offset{m.offset};
  return e;
}

namespace {

Result<kafka::Handle> make_producer(const kafka::Options& o, const std::string& txn_id,
                                    Deliveries* deliveries) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
           {"bootstrap.servers", o.brokers},
           {"transactional.id", txn_id},
           {"enable.idempotence", "true"},
           {"acks", "all"},
           {"linger.ms", "1"},
           // A batch never waits longer than this for the broker: then it fails (HTTP 503).
           {"message.timeout.ms", std::to_string(o.timeout_ms)},
           // Long enough to ride out a broker restart; a crashed writer's open transaction is
           // aborted sooner anyway, by the restarted writer's init_transactions.
           {"transaction.timeout.ms", "60000"},
           {"socket.timeout.ms", std::to_string(std::max(o.timeout_ms, 1000))},
           {"reconnect.backoff.max.ms", "1000"},
           {"queue.buffering.max.messages", "100000"},  // bounded: no unbounded buffering
           {"log_level", "3"}}) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Error{fmt::format("kafka config {}={}: {}", k, v, err)};
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, deliveries);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Error{std::string("kafka producer: ") + err};
  }
  kafka::Handle h(rk);
  if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk, o.timeout_ms)) {
    std::string msg = fmt::format("kafka init_transactions({}): {}", txn_id, txn_error(e));
    rd_kafka_error_destroy(e);
    return Error{msg};
  }
  return h;
}

}  // namespace

// One per partition: the producer handle's opaque points at it.
struct KafkaLog::ProducerState {
  Deliveries deliveries;
};

KafkaLog::KafkaLog(RocksDb* db, kafka::Options options, uint32_t partitions)
    : db_(db), options_(std::move(options)) {
  for (uint32_t p = 0; p < partitions; ++p) {
    parts_.push_back(std::make_unique<Part>());
    parts_.back()->in_doubt = true;
  }
}

KafkaLog::~KafkaLog() {
  for (auto& part : parts_) {
    if (!part->producer) continue;
    // Nothing is in flight between appends; purge anything left by a failed one.
    rd_kafka_purge(part->producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    part->producer.reset();
  }
}

Result<std::unique_ptr<KafkaLog>> KafkaLog::open(RocksDb& db, uint32_t partitions,
                                                 kafka::Options options) {
  if (partitions == 0 || partitions > 1024) return Error{"partition count must be 1..1024"};
  // A directory of the embedded log (its events are in it, not in Kafka) is refused, not
  // mixed with a topic; see kKafkaTopicMetaKey.
  auto embedded = db.holds_any(Cf::log);
  if (!embedded) return embedded.error();
  if (embedded.value())
    return Error{
        "this data directory holds an embedded log: a Kafka log needs a data directory of its "
        "own"};
  // The data directory is bound to one partition count and one topic, recorded together.
  rocksdb::WriteBatch bind;
  for (auto [key, want] :
       {std::pair<std::string, std::string>{"partitions", std::to_string(partitions)},
        {std::string(kKafkaTopicMetaKey), options.topic}}) {
    std::string stored;
    auto s = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::meta), key, &stored);
    if (s.ok() && stored != want)
      return Error{
          fmt::format("the data directory was created with {} {}, not {}", key, stored, want)};
    if (s.IsNotFound()) {
      bind.Put(db.cf(Cf::meta), key, want);
    } else if (!s.ok()) {
      return Error{"rocksdb: " + s.ToString()};
    }
  }
  std::unique_ptr<KafkaLog> log(new KafkaLog(&db, std::move(options), partitions));
  if (auto s = log->ensure_topics(); !s) return Error{s.message()};
  for (uint32_t p = 0; p < partitions; ++p) {
    std::lock_guard lock(log->parts_[p]->mu);
    if (auto s = log->sync_partition(p); !s) return Error{s.message()};
    log->publish(*log->parts_[p]);
  }
  // Bound only once the topic answered: a mistyped --kafka (no broker there) leaves the
  // directory as it found it.
  if (bind.Count() > 0)
    if (auto w = db.write_sync(bind); !w) return Error{w.message()};
  return log;
}

Result<std::unique_ptr<KafkaLog>> KafkaLog::open_reader(std::optional<uint32_t> want,
                                                        kafka::Options options) {
  int count = 0;
  {
    auto c = kafka::make_consumer(options);
    if (!c) return Error{c.error().message};
    auto n = kafka::topic_partitions(c->get(), options.topic, options.timeout_ms);
    if (!n) return Error{n.error().message};
    count = n.value();
  }
  if (count < 0) return Error{fmt::format("kafka topic {} does not exist", options.topic)};
  if (count == 0 || count > 1024)
    return Error{
        fmt::format("kafka topic {} has {} partitions; Ordo uses 1..1024", options.topic, count)};
  if (want && *want != static_cast<uint32_t>(count))
    return Error{
        fmt::format("kafka topic {} has {} partitions, not {}", options.topic, count, *want)};
  const auto partitions = static_cast<uint32_t>(count);
  std::unique_ptr<KafkaLog> log(new KafkaLog(nullptr, std::move(options), partitions));
  for (uint32_t p = 0; p < partitions; ++p) {
    auto t = log->find_tail(p);
    if (!t) return t.error();
    log->parts_[p]->tail = t.value();
    log->parts_[p]->in_doubt = false;
    log->parts_[p]->fenced = "this log was opened for reading only";
    log->publish(*log->parts_[p]);
  }
  return log;
}

Status KafkaLog::ensure_topics() {
  auto c = kafka::make_consumer(options_);
  if (!c) return Error{c.error().message};
  const uint32_t n = partition_count();
  if (auto s = kafka::ensure_topic(c->get(), options_.topic, n, options_.timeout_ms); !s) return s;
  return kafka::ensure_topic(c->get(), idempotency_topic(), n, options_.timeout_ms);
}

Status KafkaLog::sync_partition(uint32_t p) {
  Part& part = *parts_[p];
  const std::string txn_id = fmt::format("{}p{}", options_.transactional_prefix, p);
  if (part.producer) {
    rd_kafka_purge(part.producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    part.producer.reset();
  }
  if (!part.state) part.state = std::make_unique<ProducerState>();
  // init_transactions fences any other producer with this id and settles its open
  // transaction (committed if its commit was recorded, aborted otherwise): after it, what
  // read_committed readers see is final.
  auto producer = make_producer(options_, txn_id, &part.state->deliveries);
  if (!producer) return Error{fmt::format("partition {}: {}", p, producer.error().message)};
  auto t = find_tail(p);
  if (!t) return t.error();
  if (auto s = catch_up_index(p, t.value()); !s) return s;
  if (auto s = catch_up_idempotency(p); !s) return s;
  part.producer = std::move(producer.value());
  part.tail = t.value();
  part.in_doubt = false;
  return {};
}

Result<LogTail> KafkaLog::find_tail(uint32_t p) {
  auto c = kafka::make_consumer(options_);
  if (!c) return c.error();
  auto wm =
      kafka::watermarks(c->get(), options_.topic, static_cast<int32_t>(p), options_.timeout_ms);
  if (!wm) return wm.error();
  const auto [low, high] = wm.value();
  // The last committed event is a little before the end (a commit marker follows every
  // transaction); aborted transactions may sit there too, so widen the window until an event
  // turns up or the start of the partition is reached.
  for (int64_t window = 64;; window *= 8) {
    int64_t start = std::max(low, high - window);
    if (start >= high) return LogTail{};
    auto msgs = kafka::read_partition(options_, options_.topic, static_cast<int32_t>(p), start,
                                      static_cast<size_t>(high - start), -1);
    if (!msgs) return msgs.error();
    if (!msgs->empty()) {
      auto e = decode_kafka_event(msgs->back(), PartitionId{p});
      if (!e) return e.error();
      return LogTail{e->offset, e->hash};
    }
    if (start == low) return LogTail{};
  }
}

Status KafkaLog::catch_up_index(uint32_t p, const LogTail& tail) {
  int64_t upto = -1;
  {
    auto mark = db_->get_stored_int(Cf::stream_index, index_marker_key(p),
                                    fmt::format("stream index mark of partition {}", p));
    if (!mark) return Error{mark.error().message};
    if (mark.value()) {
      upto = *mark.value();
    } else {
      auto legacy = get_meta_int(*db_, meta_key("indexed", p), -1);
      if (!legacy) return Error{legacy.error().message};
      upto = legacy.value();
    }
  }
  while (upto < tail.last_offset.value()) {
    auto msgs = kafka::read_partition(options_, options_.topic, static_cast<int32_t>(p), upto + 1,
                                      4096, tail.last_offset.value());
    if (!msgs) return Error{msgs.error().message};
    if (msgs->empty())
      return Error{fmt::format("partition {}: the topic ends before its last event", p)};
    rocksdb::WriteBatch batch;
    for (const auto& m : msgs.value()) {
      auto e = decode_kafka_event(m, PartitionId{p});
      if (!e) return Error{e.error().message};
      batch.Put(db_->cf(Cf::stream_index), stream_key(e->stream, e->stream_version),
                encode_envelope(*e));
      upto = m.offset;
    }
    batch.Put(db_->cf(Cf::stream_index), index_marker_key(p), std::to_string(upto));
    // Neither synced nor in the WAL: derived data, caught up again after a crash.
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    auto s = db_->db().Write(no_wal, &batch);
    if (!s.ok()) return Error{"rocksdb index write: " + s.ToString()};
  }
  return {};
}

Status KafkaLog::catch_up_idempotency(uint32_t p) {
  auto next = get_meta_int(*db_, meta_key("idem_next", p), 0);
  if (!next) return Error{next.error().message};
  int64_t from = next.value();
  for (;;) {
    auto msgs = kafka::read_partition(options_, idempotency_topic(), static_cast<int32_t>(p), from,
                                      256, -1);
    if (!msgs) return Error{msgs.error().message};
    if (msgs->empty()) return {};
    rocksdb::WriteBatch batch;
    for (const auto& m : msgs.value()) {
      if (auto s = apply_frames(*db_, m.value, batch); !s) return s;
      from = m.offset + 1;
    }
    batch.Put(db_->cf(Cf::meta), meta_key("idem_next", p), std::to_string(from));
    if (auto s = db_->write_sync(batch); !s) return s;
  }
}

void KafkaLog::publish(Part& part) {
  std::lock_guard known(part.known_mu);
  if (!part.fenced.empty() && db_)
    part.known = Error{part.fenced};
  else if (part.in_doubt)
    part.known = Error{"the log's end is unknown until Kafka answers"};
  else
    part.known = part.tail;
}

Result<LogTail> KafkaLog::known_tail(PartitionId p) {
  if (p.value() >= parts_.size()) return Error{"no such partition"};
  Part& part = *parts_[p.value()];
  std::lock_guard known(part.known_mu);
  return part.known;
}

Result<LogTail> KafkaLog::tail(PartitionId p) {
  if (p.value() >= parts_.size()) return Error{"no such partition"};
  Part& part = *parts_[p.value()];
  std::lock_guard lock(part.mu);
  // Whatever this finds (a resync, its failure) is what known_tail() answers next.
  PublishOnExit publish_on_exit{*this, part};
  if (!part.fenced.empty() && db_) return Error{part.fenced};
  if (part.in_doubt) {
    if (auto s = sync_partition(p.value()); !s)
      return Error{fmt::format("partition {}: the log's end is unknown until Kafka answers: {}",
                               p.value(), s.message())};
    std::fprintf(stderr, "ordo: partition %u re-established from Kafka at offset %lld\n", p.value(),
                 static_cast<long long>(part.tail.last_offset.value()));
  }
  return part.tail;
}

Status KafkaLog::fail_transaction(Part& part, uint32_t p, const std::string& why) {
  rd_kafka_t* rk = part.producer.get();
  // Fenced for good: another writer holds the transactional id. A resync would take it back
  // from that newer writer, so the partition answers 503 from now on.
  auto fenced = [&](const std::string& detail) {
    part.fenced = fmt::format(
        "partition {}: fenced: another writer started with transactional.id {}p{} ({}); this "
        "server no longer acknowledges writes to the partition",
        p, options_.transactional_prefix, p, detail);
    std::fprintf(stderr, "ordo: %s\n", part.fenced.c_str());
    return Error{part.fenced};
  };
  char buf[512];
  rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, buf, sizeof buf);
  if (fatal && is_fencing(fatal)) return fenced(buf);
  if (!fatal) {
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk, options_.timeout_ms)) {
      std::fprintf(stderr, "ordo: partition %u: abort failed (%s); outcome in doubt\n", p,
                   rd_kafka_error_string(e));
      const std::string detail = rd_kafka_error_string(e);
      const bool fenced_now = is_fencing(rd_kafka_error_code(e));
      rd_kafka_error_destroy(e);
      // The abort's reply may be where the fencing shows first.
      if (fenced_now) return fenced(detail);
      if (rd_kafka_resp_err_t f = rd_kafka_fatal_error(rk, buf, sizeof buf); f && is_fencing(f))
        return fenced(buf);
      part.in_doubt = true;
    }
  } else {
    part.in_doubt = true;
  }
  std::fprintf(stderr, "ordo: partition %u: kafka transaction failed: %s\n", p, why.c_str());
  // Aborted: nothing of it is in the log. Otherwise its outcome waits for the resync.
  return Error{fmt::format("partition {}: kafka: {}", p, why), !part.in_doubt};
}

Status KafkaLog::append(PartitionId pid, std::span<Envelope> events,
                        const DeltaBuilder& build_delta) {
  const uint32_t p = pid.value();
  ORDO_ASSERT(db_ && p < parts_.size(), "append to partition {} of {}", p, parts_.size());
  Part& part = *parts_[p];
  std::lock_guard lock(part.mu);
  // Every way out of an append (a new tail, a transaction in doubt, fencing) is published
  // before `mu` is released.
  PublishOnExit publish_on_exit{*this, part};
  if (!part.fenced.empty()) return Error{part.fenced, true};
  if (part.in_doubt)
    return Error{fmt::format("partition {}: waiting for Kafka to settle the last transaction", p),
                 true};

  if (events.empty()) {  // state only (snapshot, rejections): RocksDB alone
    StateDelta delta;
    if (build_delta) build_delta(events, delta);
    rocksdb::WriteBatch batch;
    db_->add_to_batch(delta, batch);
    return db_->write_sync(batch);
  }
  LogTail t = part.tail;
  for (const auto& e : events) {
    ORDO_ASSERT(e.partition == pid, "event of partition {} appended to {}", e.partition.value(), p);
    ORDO_ASSERT(e.prev_hash == t.last_hash, "event does not chain to the tail of partition {}", p);
    ORDO_ASSERT(e.hash.size() == 64, "event is not sealed");
    t.last_hash = e.hash;
  }
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options_.timeout_ms);
  rd_kafka_t* rk = part.producer.get();
  Deliveries& d = part.state->deliveries;
  auto reset_offsets = [&] {
    for (auto& e : events) e.offset = Offset{-1};
  };

  if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk)) {
    std::string why = "begin_transaction: " + txn_error(e);
    rd_kafka_error_destroy(e);
    return fail_transaction(part, p, why);
  }
  // Produces `values` to topic/p and waits (bounded) for every delivery report.
  auto produce_all = [&](const std::string& topic,
                         const std::vector<std::pair<std::string, std::string>>& kvs,
                         std::vector<int64_t>& offsets) -> Status {
    ++d.batch;
    d.slots.assign(kvs.size(), {});
    const uintptr_t batch_tag =
        (d.batch & ((uintptr_t(1) << (sizeof(uintptr_t) * 8 - kSlotBits)) - 1)) << kSlotBits;
    for (size_t i = 0; i < kvs.size(); ++i) {
      for (;;) {
        auto err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(static_cast<int32_t>(p)),
            RD_KAFKA_V_KEY(kvs[i].first.data(), kvs[i].first.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(kvs[i].second.data()), kvs[i].second.size()),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(batch_tag | i)), RD_KAFKA_V_END);
        if (!err) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || remaining_ms(deadline) == 0)
          return Error{"produce: " + kafka::error_text(err)};
        rd_kafka_poll(rk, 10);  // bounded back-pressure: serve reports, then retry
      }
    }
    auto fe = rd_kafka_flush(rk, remaining_ms(deadline));
    if (fe) return Error{"delivery: " + kafka::error_text(fe)};
    offsets.resize(kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      if (!d.slots[i].done) return Error{"delivery: no report"};
      if (d.slots[i].err) return Error{"delivery: " + kafka::error_text(d.slots[i].err)};
      offsets[i] = d.slots[i].offset;
    }
    return {};
  };

  std::vector<std::pair<std::string, std::string>> kvs;
  kvs.reserve(events.size());
  for (const auto& e : events) kvs.emplace_back(e.stream, encode_sealed(e));  // "offset":-1
  std::vector<int64_t> offsets;
  if (auto s = produce_all(options_.topic, kvs, offsets); !s) {
    reset_offsets();
    return fail_transaction(part, p, s.message());
  }
  for (size_t i = 0; i < events.size(); ++i) {
    ORDO_ASSERT(i == 0 || offsets[i] > offsets[i - 1], "kafka offsets must increase");
    events[i].offset = Offset{offsets[i]};
  }
  t.last_offset = events.back().offset;

  StateDelta delta;
  if (build_delta) build_delta(events, delta);
  // The batch's idempotency records ride in the same transaction (see the header).
  kvs.clear();
  std::string frames;
  for (const auto& w : delta.writes) {
    if (w.column != StateColumn::idempotency) continue;
    append_frame(frames, w);
    if (frames.size() > 256 * 1024) kvs.emplace_back("", std::move(frames)), frames.clear();
  }
  if (!frames.empty()) kvs.emplace_back("", std::move(frames));
  std::vector<int64_t> idem_offsets;
  if (!kvs.empty()) {
    if (auto s = produce_all(idempotency_topic(), kvs, idem_offsets); !s) {
      reset_offsets();
      return fail_transaction(part, p, s.message());
    }
  }
  if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, std::max(remaining_ms(deadline), 1))) {
    std::string why = "commit: " + txn_error(e);
    rd_kafka_error_destroy(e);
    reset_offsets();
    return fail_transaction(part, p, why);
  }
  // Committed: the events are durable and visible. Only now may anything be acknowledged.
  part.tail = t;
  rocksdb::WriteBatch batch;
  db_->add_to_batch(delta, batch);
  // The stream index (a copy of each event under its stream and version) and its marker:
  // derived, so written without the WAL, which would carry every event a second time.
  rocksdb::WriteBatch index;
  for (const auto& e : events)
    index.Put(db_->cf(Cf::stream_index), stream_key(e.stream, e.stream_version), encode_sealed(e));
  index.Put(db_->cf(Cf::stream_index), index_marker_key(p), std::to_string(t.last_offset.value()));
  if (!idem_offsets.empty())
    batch.Put(db_->cf(Cf::meta), meta_key("idem_next", p), std::to_string(idem_offsets.back() + 1));
  // Not synced: everything in this batch is derived from what Kafka holds now (events,
  // idempotency records) and is caught up from Kafka on open after its markers (indexed,
  // idem_next, applied), which ride in the same atomic batch. Losing it to a crash is the
  // crash-between-commit-and-state case recovery already handles; syncing it would put a
  // second fsync on every group commit after the Kafka commit.
  rocksdb::WriteOptions unsynced;
  rocksdb::WriteOptions no_wal;
  no_wal.disableWAL = true;
  rocksdb::Status w = db_->db().Write(unsynced, &batch);
  if (w.ok()) w = db_->db().Write(no_wal, &index);
  if (!w.ok()) {
    // The events are in Kafka; RocksDB missed their records. Re-derive them before the
    // next append (the processor reloads through tail()).
    part.in_doubt = true;
    return Error{"rocksdb write: " + w.ToString()};
  }
  return {};
}

Result<std::vector<Envelope>> KafkaLog::read(PartitionId p, Offset from, size_t max) {
  if (p.value() >= parts_.size()) return Error{"no such partition"};
  int64_t last = -1;
  {
    Part& part = *parts_[p.value()];
    std::unique_lock lock(part.mu, std::try_to_lock);
    // Our own writer's tail is exact: nothing past it to wait for. Otherwise (another
    // thread is appending), read up to the broker's stable end.
    if (lock.owns_lock() && !part.in_doubt) last = part.tail.last_offset.value();
  }
  std::vector<Envelope> out;
  if (last >= 0 && from.value() > last) return out;
  auto msgs = kafka::read_partition(options_, options_.topic, static_cast<int32_t>(p.value()),
                                    std::max<int64_t>(from.value(), 0), max, last);
  if (!msgs) return msgs.error();
  out.reserve(msgs->size());
  for (const auto& m : msgs.value()) {
    auto e = decode_kafka_event(m, p);
    if (!e) return e.error();
    out.push_back(std::move(e.value()));
  }
  return out;
}

Result<std::vector<Envelope>> KafkaLog::read_stream(std::string_view stream, int64_t from_version,
                                                    size_t max) {
  if (!db_) return Error{"stream reads need the data directory's index"};
  // The index is written with each commit before its answer: a reader sees its own writes.
  std::vector<Envelope> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db().NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::stream_index)));
  std::string prefix(stream);
  prefix.push_back('\0');
  for (it->Seek(stream_key(stream, std::max<int64_t>(from_version, 0)));
       it->Valid() && out.size() < max && it->key().starts_with(prefix); it->Next()) {
    auto e = decode_envelope(it->value().ToStringView());
    if (!e) return e.error();
    if (e->stream != stream) return Error{"stream index holds another stream's event"};
    out.push_back(std::move(e.value()));
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

}  // namespace ordo

#include "engine/log/rocksdb/rocksdb_log.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/core.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>

#include "engine/domain/assert.hpp"

namespace ordo {

std::string log_key(PartitionId p, Offset o) {
  std::string k;
  append_be32(k, p.value());
  append_be64(k, static_cast<uint64_t>(o.value()));
  return k;
}

std::string tail_key(PartitionId p) {
  std::string k = "tail/";
  append_be32(k, p.value());
  return k;
}

namespace {

std::string stream_key(std::string_view stream, int64_t version) {
  std::string k(stream);
  k.push_back('\0');
  append_be64(k, static_cast<uint64_t>(version));
  return k;
}

std::string encode_tail(const LogTail& t) {
  return to_canonical(Json(Json::Object{{"last_hash", Json(t.last_hash)},
                                        {"last_offset", Json(t.last_offset.value())}}));
}

Result<LogTail> decode_tail(const std::string& s) {
  auto j = parse_json(s);
  if (!j) return j.error();
  const Json* h = j->find("last_hash");
  const Json* o = j->find("last_offset");
  if (!h || !h->is_string() || !o || !o->is_int()) return Error{"corrupt log tail record"};
  return LogTail{Offset{o->as_int()}, h->as_string()};
}

}  // namespace

Result<std::unique_ptr<RocksDbLog>> RocksDbLog::open(RocksDb& db, uint32_t partitions,
                                                     bool read_only) {
  if (partitions == 0 || partitions > 1024) return Error{"partition count must be 1..1024"};
  // A directory the Kafka backend made holds state for a log in Kafka: read as an embedded
  // log it would look empty (and its state beyond that empty log's end). See
  // kKafkaTopicMetaKey for how the two are told apart.
  std::string topic;
  if (auto k = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::meta), kKafkaTopicMetaKey, &topic);
      k.ok()) {
    auto has_events = db.holds_any(Cf::log);
    if (!has_events) return has_events.error();
    if (!has_events.value())
      return Error{
          fmt::format("this data directory belongs to a Kafka log (topic {}): use --kafka BROKERS "
                      "--kafka-topic {}, or another data directory for the embedded log",
                      topic, topic)};
  } else if (!k.IsNotFound()) {
    return Error{"rocksdb: " + k.ToString()};
  }
  std::string stored;
  auto s = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::meta), "partitions", &stored);
  if (s.ok()) {
    if (stored != std::to_string(partitions))
      return Error{fmt::format("the data directory was created with {} partitions, not {}", stored,
                               partitions)};
  } else if (s.IsNotFound() && read_only) {
    return Error{"no partition count recorded: not an Ordo log"};
  } else if (s.IsNotFound()) {
    rocksdb::WriteBatch b;
    b.Put(db.cf(Cf::meta), "partitions", std::to_string(partitions));
    auto w = db.write_sync(b);
    if (!w) return Error{w.message()};
  } else {
    return Error{"rocksdb: " + s.ToString()};
  }

  std::vector<LogTail> tails(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    std::string v;
    auto g = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::meta), tail_key(PartitionId{p}), &v);
    if (g.IsNotFound()) continue;
    if (!g.ok()) return Error{"rocksdb: " + g.ToString()};
    auto t = decode_tail(v);
    if (!t) return t.error();
    tails[p] = t.value();
  }
  std::unique_ptr<RocksDbLog> log(new RocksDbLog(db, std::move(tails)));
  if (read_only) return log;
  if (auto s = log->catch_up_index(); !s) return Error{s.message()};
  log->indexer_ = std::thread([l = log.get()] {
    pthread_setname_np(pthread_self(), "ordo-index");  // names show in top and perf
    // Derived data: it yields the CPU to the partitions' writers and committers (on Linux a
    // thread's own nice value). Its backlog is bounded (appends wait on it), so it cannot
    // fall behind without limit. Best effort.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
    l->index_loop();
  });
  return log;
}

RocksDbLog::~RocksDbLog() {
  {
    std::lock_guard lock(index_mu_);
    index_stop_ = true;
  }
  index_cv_.notify_all();
  if (indexer_.joinable()) indexer_.join();
}

namespace {
// How far the stream index covers a partition. Kept in the index's own column family, in
// the same write as the entries it covers, so that both survive a crash or neither does
// (the index is written without the WAL; a lost tail is rebuilt from the log on open). No
// stream key starts with a NUL byte. Data directories from before kept it in meta.
std::string indexed_key(PartitionId p) {
  std::string k("\0indexed/", 9);
  append_be32(k, p.value());
  return k;
}
std::string legacy_indexed_key(PartitionId p) {
  std::string k = "indexed/";
  append_be32(k, p.value());
  return k;
}
}  // namespace

Status RocksDbLog::write_index(std::vector<IndexItem>& items, bool as_runs) {
  std::vector<int64_t> upto;
  {
    std::lock_guard lock(index_mu_);
    if (index_failures_to_inject_ > 0) {
      --index_failures_to_inject_;
      return Error{"injected failure"};
    }
    upto = indexed_upto_;  // changes only here, on this thread
  }
  const std::vector<int64_t> before = upto;
  rocksdb::WriteBatch batch;
  // Every key in one buffer, sorted through small entries that point into it: no string
  // per event (the indexer handles every event of the log).
  struct Entry {
    uint32_t key_at;
    uint32_t key_size;  // the stream, its NUL and the version (8 bytes)
    int64_t version;
    PartitionId partition;
    Offset offset;
  };
  std::string keys;
  std::vector<Entry> entries;
  entries.reserve(items.size());
  for (const auto& it : items) {
    const uint32_t p = it.partition.value();
    ORDO_ASSERT(p < upto.size(), "index item of partition {} of {}", p, upto.size());
    // Already indexed (the catch-up from the log after a failure read it too): written once,
    // so runs never overlap and a read can start from the run at or before its version.
    if (it.offset.value() <= before[p]) continue;
    const size_t at = keys.size();
    keys += it.stream;
    keys.push_back('\0');
    append_be64(keys, static_cast<uint64_t>(it.version));
    ORDO_ASSERT(keys.size() <= UINT32_MAX, "index batch too large");
    entries.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(keys.size() - at),
                       it.version, it.partition, it.offset});
    upto[p] = std::max(upto[p], it.offset.value());
  }
  auto key_of = [&](const Entry& e) { return std::string_view(keys).substr(e.key_at, e.key_size); };
  auto stream_of = [&](const Entry& e) { return key_of(e).substr(0, e.key_size - 8); };
  // In key order: each stream's events by version, so that consecutive versions form runs,
  // and each memtable insert starts next to the previous one. Stable: ties (none expected)
  // keep arrival order.
  std::stable_sort(entries.begin(), entries.end(),
                   [&](const Entry& a, const Entry& b) { return key_of(a) < key_of(b); });
  const size_t max_run = as_runs ? kMaxIndexRun : 1;
  std::string positions;  // per event: partition (be32) ‖ offset (be64)
  for (size_t i = 0; i < entries.size();) {
    const Entry& first = entries[i];
    positions.clear();
    size_t n = 0;
    for (; i < entries.size() && n < max_run; ++i, ++n) {
      const Entry& e = entries[i];
      if (n > 0 && (stream_of(e) != stream_of(first) || e.version != first.version + int64_t(n)))
        break;
      append_be32(positions, e.partition.value());
      append_be64(positions, static_cast<uint64_t>(e.offset.value()));
    }
    ORDO_ASSERT(n > 0 && positions.size() == 12 * n, "an index run holds its positions");
    batch.Put(db_.cf(Cf::stream_index), key_of(first), positions);
  }
  for (uint32_t p = 0; p < upto.size(); ++p)
    if (upto[p] > before[p])
      batch.Put(db_.cf(Cf::stream_index), indexed_key(PartitionId{p}), std::to_string(upto[p]));
  // Neither synced nor in the WAL: derived data, rebuilt from the log after a crash
  // (catch_up_index), and the WAL is the commit path's bandwidth.
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  auto s = db_.db().Write(wo, &batch);
  if (!s.ok()) return Error{"rocksdb index write: " + s.ToString()};
  std::lock_guard lock(index_mu_);
  for (uint32_t p = 0; p < upto.size(); ++p) indexed_upto_[p] = std::max(indexed_upto_[p], upto[p]);
  return {};
}

Status RocksDbLog::catch_up_index() {
  indexed_upto_.assign(tails_.size(), -1);
  for (uint32_t p = 0; p < tails_.size(); ++p) {
    auto mark =
        db_.get_stored_int(Cf::stream_index, indexed_key(PartitionId{p}), "stream index mark", -1);
    if (mark && !mark.value())
      mark =
          db_.get_stored_int(Cf::meta, legacy_indexed_key(PartitionId{p}), "stream index mark", -1);
    if (!mark) return Error{mark.error().message};
    indexed_upto_[p] = mark.value().value_or(-1);
  }
  return index_from_log(/*as_runs=*/false);
}

Status RocksDbLog::index_from_log(bool as_runs) {
  // indexed_upto_ changes only in write_index, on this thread (or before the indexer starts).
  for (uint32_t p = 0; p < tails_.size(); ++p) {
    int64_t tail = 0;
    {
      std::lock_guard lock(mu_);
      tail = tails_[p].last_offset.value();
    }
    while (indexed_upto_[p] < tail) {
      auto events = read(PartitionId{p}, Offset{indexed_upto_[p] + 1}, 4096);
      if (!events) return Error{events.error().message};
      if (events->empty()) return Error{"the log ends before its tail record"};
      std::vector<IndexItem> items;
      for (const auto& e : events.value())
        items.push_back({e.stream, e.stream_version, e.partition, e.offset});
      if (auto s = write_index(items, as_runs); !s) return s;
    }
  }
  return {};
}

void RocksDbLog::fail_next_index_writes(int n) {
  std::lock_guard lock(index_mu_);
  index_failures_to_inject_ = n;
}

void RocksDbLog::index_loop() {
  for (;;) {
    std::vector<IndexItem> items;
    {
      std::unique_lock lock(index_mu_);
      index_cv_.wait(lock, [&] { return index_stop_ || !index_pending_.empty(); });
      if (index_pending_.empty() && index_stop_) return;
      items.swap(index_pending_);
    }
    index_cv_.notify_all();  // appends waiting on the backlog limit
    Status s = write_index(items);
    auto retry_after = kIndexRetryFirst;
    while (!s) {
      // What was taken is dropped, and appends stop queueing while index_failed_ is set:
      // the log holds all of it, and after a pause the index catches up from the log from
      // the last indexed offset. So `\0indexed` never passes an event missing from the
      // index, the backlog cannot grow while writes fail, and no append waits on it.
      std::fprintf(stderr,
                   "ordo: stream index write failed (catching up from the log in %lld ms): %s\n",
                   static_cast<long long>(retry_after.count()), s.message().c_str());
      {
        std::unique_lock lock(index_mu_);
        index_failed_ = true;
        index_pending_.clear();
        index_cv_.notify_all();  // readers fail fast; appends stop waiting on the backlog
        if (index_cv_.wait_for(lock, retry_after, [&] { return index_stop_; })) return;
        // Appends queue again from here; what came before is read back from the log.
        index_failed_ = false;
      }
      retry_after = std::min(retry_after * 2, kIndexRetryMax);
      s = index_from_log(/*as_runs=*/true);
    }
    index_cv_.notify_all();  // readers waiting for the index to catch up
  }
}

Result<LogTail> RocksDbLog::tail(PartitionId p) {
  std::lock_guard lock(mu_);
  if (p.value() >= tails_.size()) return Error{"no such partition"};
  return tails_[p.value()];
}

Status RocksDbLog::append(PartitionId p, std::span<Envelope> events,
                          const DeltaBuilder& build_delta) {
  LogTail t;
  {
    std::lock_guard lock(mu_);
    ORDO_ASSERT(p.value() < tails_.size(), "append to partition {} of {}", p.value(),
                tails_.size());
    t = tails_[p.value()];
  }
  for (auto& e : events) {
    // The chain must continue exactly from the tail: checked before anything is written.
    ORDO_ASSERT(e.partition == p, "event of partition {} appended to {}", e.partition.value(),
                p.value());
    ORDO_ASSERT(e.prev_hash == t.last_hash, "event does not chain to the tail of partition {}",
                p.value());
    ORDO_ASSERT(e.hash.size() == 64, "event is not sealed");
    e.offset = Offset{t.last_offset.value() + 1};
    t.last_offset = e.offset;
    t.last_hash = e.hash;
  }
  // The state written with these events (it names their offsets), built before the batch so
  // the batch can be sized for all of it up front: a group commit's batch is megabytes, and
  // growing it by doubling copied it about twice over.
  StateDelta delta;
  if (build_delta) build_delta(events, delta);
  size_t expected_bytes = 128;
  for (const auto& e : events) expected_bytes += e.sealed.hashed.size() + 128;
  for (const auto& w : delta.writes)
    expected_bytes += w.key.size() + (w.value ? w.value->size() : 0) + 16;
  rocksdb::WriteBatch batch(expected_bytes);
  for (auto& e : events) {
    if (!has_sealed_bytes(e)) {
      batch.Put(db_.cf(Cf::log), log_key(p, e.offset), encode_envelope(e));
      continue;
    }
    // Gathered straight from the bytes seal() hashed: no second encoding, no copy but
    // the batch's own.
    std::array<char, 32> offset_member;
    const auto pieces = stored_pieces(e, offset_member);
    std::array<rocksdb::Slice, kStoredPieces> slices;
    for (size_t i = 0; i < kStoredPieces; ++i) slices[i] = rocksdb::Slice(pieces[i]);
    const std::string key = log_key(p, e.offset);
    const rocksdb::Slice key_slice(key);
    batch.Put(db_.cf(Cf::log), rocksdb::SliceParts(&key_slice, 1),
              rocksdb::SliceParts(slices.data(), int(slices.size())));
  }
  if (!events.empty()) batch.Put(db_.cf(Cf::meta), tail_key(p), encode_tail(t));
  db_.add_to_batch(delta, batch);
  auto s = db_.write_sync(batch);
  if (!s) {
    for (auto& e : events) e.offset = Offset{-1};
    return s;
  }
  {
    std::lock_guard lock(mu_);
    tails_[p.value()] = t;
  }
  if (!events.empty()) {
    std::unique_lock lock(index_mu_);
    index_cv_.wait(lock, [&] {
      return index_failed_ || index_pending_.size() < kMaxIndexBacklog || index_stop_;
    });
    // While index writes fail, the indexer catches up from the log instead.
    if (!index_failed_)
      for (const auto& e : events)
        index_pending_.push_back({e.stream, e.stream_version, p, e.offset});
    lock.unlock();
    index_cv_.notify_all();
  }
  return {};
}

namespace {
// The offset a log key names, or nothing for a key the engine never writes: another length,
// or an offset past the last one an append can take (a negative one reads as huge and sorts
// after every real key; readers step past an offset by adding one).
std::optional<Offset> offset_of_log_key(const rocksdb::Slice& key) {
  if (key.size() != 12) return std::nullopt;
  const uint64_t o = read_be64(key.data() + 4);
  if (o >= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return Offset{static_cast<int64_t>(o)};
}

Error bad_log_key(PartitionId p, const rocksdb::Slice& key) {
  return Error{fmt::format("partition {}: a log key that names no offset ({} bytes: {})", p.value(),
                           key.size(), key.ToString(/*hex=*/true))};
}
}  // namespace

Result<std::vector<Envelope>> RocksDbLog::read(PartitionId p, Offset from, size_t max) {
  Offset scanned{-1};
  return read_types(
      p, from, max, [](std::string_view) { return true; }, scanned);
}

Result<std::vector<Envelope>> RocksDbLog::read_types(PartitionId p, Offset from, size_t max,
                                                     const TypeFilter& want, Offset& scanned) {
  std::vector<Envelope> out;
  scanned = Offset{-1};
  std::unique_ptr<rocksdb::Iterator> it(
      db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::log)));
  std::string prefix;
  append_be32(prefix, p.value());
  size_t seen = 0;
  for (it->Seek(log_key(p, Offset{std::max<int64_t>(from.value(), 0)}));
       it->Valid() && seen < max && it->key().starts_with(prefix); it->Next(), ++seen) {
    const auto at = offset_of_log_key(it->key());
    if (!at) return bad_log_key(p, it->key());
    const Offset key_offset = *at;
    scanned = key_offset;
    // Skipped without decoding when its type is plainly one the reader does not want.
    if (auto type = peek_event_type(it->value().ToStringView()); type && !want(*type)) continue;
    auto e = decode_envelope(it->value().ToStringView());
    if (!e)
      return Error{
          fmt::format("partition {}: undecodable event: {}", p.value(), e.error().message)};
    // Read-back check: the bytes sit under the key they claim.
    if (e->partition != p || e->offset != key_offset)
      return Error{fmt::format("partition {} offset {}: event claims another position", p.value(),
                               key_offset.value())};
    if (want(e->type)) out.push_back(std::move(e.value()));
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

Result<size_t> RocksDbLog::read_raw(PartitionId p, Offset from, size_t max, const RawSink& sink) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a scan of the whole log would only evict what the engine uses
  // Read ahead for long scans only: each call makes a new iterator, and a short read with a
  // large read-ahead would fetch megabytes to use a few events.
  if (max >= 1024) ro.readahead_size = 4 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db_.db().NewIterator(ro, db_.cf(Cf::log)));
  std::string prefix;
  append_be32(prefix, p.value());
  size_t n = 0;
  for (it->Seek(log_key(p, Offset{std::max<int64_t>(from.value(), 0)}));
       it->Valid() && n < max && it->key().starts_with(prefix); it->Next(), ++n) {
    const auto at = offset_of_log_key(it->key());
    if (!at) return bad_log_key(p, it->key());
    sink(*at, it->value().ToStringView());
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return n;
}

Result<std::vector<Envelope>> RocksDbLog::read_stream(std::string_view stream, int64_t from_version,
                                                      size_t max) {
  // Read your writes: wait (bounded) until the index covers the log as it is now.
  std::vector<int64_t> want;
  {
    std::lock_guard lock(mu_);
    for (const auto& t : tails_) want.push_back(t.last_offset.value());
  }
  {
    std::unique_lock lock(index_mu_);
    auto covered = [&] {
      for (size_t p = 0; p < want.size(); ++p)
        if (indexed_upto_[p] < want[p]) return false;
      return true;
    };
    // Not covered and the index failing: answer now rather than wait out the bound.
    index_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return covered() || index_failed_; });
    if (!covered()) return Error{"the stream index is behind the log"};
  }
  std::vector<Envelope> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::stream_index)));
  std::string prefix(stream);
  prefix.push_back('\0');
  int64_t next = std::max<int64_t>(from_version, 0);  // the version wanted next
  // The run holding `next` starts at or before it: the last key at or before it, when that
  // is this stream's; otherwise the first run after it.
  const std::string target = stream_key(stream, next);
  it->SeekForPrev(target);
  if (!it->Valid() || !it->key().starts_with(prefix)) it->Seek(target);
  for (; it->Valid() && out.size() < max && it->key().starts_with(prefix); it->Next()) {
    const rocksdb::Slice key = it->key(), value = it->value();
    if (key.size() != prefix.size() + 8 || value.empty() || value.size() % 12 != 0)
      return Error{"corrupt stream index entry"};
    const int64_t first = static_cast<int64_t>(read_be64(key.data() + prefix.size()));
    for (size_t i = 0; i < value.size() / 12 && out.size() < max; ++i) {
      const int64_t version = first + int64_t(i);
      if (version < next) continue;
      PartitionId p{read_be32(value.data() + 12 * i)};
      Offset o{static_cast<int64_t>(read_be64(value.data() + 12 * i + 4))};
      std::string v;
      auto s = db_.db().Get(rocksdb::ReadOptions(), db_.cf(Cf::log), log_key(p, o), &v);
      if (!s.ok()) return Error{"stream index points at a missing event: " + s.ToString()};
      auto e = decode_envelope(v);
      if (!e) return e.error();
      if (e->stream != stream || e->stream_version != version)
        return Error{"stream index points at another event than the one it names"};
      out.push_back(std::move(e.value()));
      next = version + 1;
    }
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

}  // namespace ordo

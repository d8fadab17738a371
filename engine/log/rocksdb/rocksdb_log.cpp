#include "engine/log/rocksdb/rocksdb_log.hpp"

#include <fmt/core.h>
#include <rocksdb/write_batch.h>

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

Result<std::unique_ptr<RocksDbLog>> RocksDbLog::open(RocksDb& db, uint32_t partitions) {
  if (partitions == 0 || partitions > 1024) return Error{"partition count must be 1..1024"};
  std::string stored;
  auto s = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::meta), "partitions", &stored);
  if (s.ok()) {
    if (stored != std::to_string(partitions))
      return Error{fmt::format("the data directory was created with {} partitions, not {}",
                               stored, partitions)};
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
  return std::unique_ptr<RocksDbLog>(new RocksDbLog(db, std::move(tails)));
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
    ORDO_ASSERT(p.value() < tails_.size(), "append to partition {} of {}", p.value(), tails_.size());
    t = tails_[p.value()];
  }
  rocksdb::WriteBatch batch;
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
    batch.Put(db_.cf(Cf::log), log_key(p, e.offset), encode_envelope(e));
    std::string pos;
    append_be32(pos, p.value());
    append_be64(pos, static_cast<uint64_t>(e.offset.value()));
    batch.Put(db_.cf(Cf::stream_index), stream_key(e.stream, e.stream_version), pos);
  }
  if (!events.empty()) batch.Put(db_.cf(Cf::meta), tail_key(p), encode_tail(t));
  StateDelta delta;
  if (build_delta) build_delta(events, delta);
  db_.add_to_batch(delta, batch);
  auto s = db_.write_sync(batch);
  if (!s) {
    for (auto& e : events) e.offset = Offset{-1};
    return s;
  }
  std::lock_guard lock(mu_);
  tails_[p.value()] = t;
  return {};
}

Result<std::vector<Envelope>> RocksDbLog::read(PartitionId p, Offset from, size_t max) {
  std::vector<Envelope> out;
  std::unique_ptr<rocksdb::Iterator> it(db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::log)));
  std::string prefix;
  append_be32(prefix, p.value());
  for (it->Seek(log_key(p, Offset{std::max<int64_t>(from.value(), 0)}));
       it->Valid() && out.size() < max && it->key().starts_with(prefix); it->Next()) {
    auto e = decode_envelope(it->value().ToStringView());
    if (!e) return Error{fmt::format("partition {}: undecodable event: {}", p.value(), e.error().message)};
    // Read-back check: the bytes sit under the key they claim.
    uint64_t key_offset = read_be64(it->key().data() + 4);
    if (e->partition != p || e->offset.value() != static_cast<int64_t>(key_offset))
      return Error{fmt::format("partition {} offset {}: event claims another position", p.value(),
                               key_offset)};
    out.push_back(std::move(e.value()));
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

Result<std::vector<Envelope>> RocksDbLog::read_stream(std::string_view stream, int64_t from_version,
                                                      size_t max) {
  std::vector<Envelope> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::stream_index)));
  std::string prefix(stream);
  prefix.push_back('\0');
  for (it->Seek(stream_key(stream, std::max<int64_t>(from_version, 0)));
       it->Valid() && out.size() < max && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 12) return Error{"corrupt stream index entry"};
    PartitionId p{read_be32(it->value().data())};
    Offset o{static_cast<int64_t>(read_be64(it->value().data() + 4))};
    std::string v;
    auto s = db_.db().Get(rocksdb::ReadOptions(), db_.cf(Cf::log), log_key(p, o), &v);
    if (!s.ok()) return Error{"stream index points at a missing event: " + s.ToString()};
    auto e = decode_envelope(v);
    if (!e) return e.error();
    if (e->stream != stream) return Error{"stream index points at another stream's event"};
    out.push_back(std::move(e.value()));
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

}  // namespace ordo

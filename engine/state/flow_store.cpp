#include "engine/state/flow_store.hpp"

#include <fmt/core.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <memory>

#include "engine/log/json.hpp"

namespace ordo {
namespace {

constexpr std::string_view kParkedPrefix = "flow/parked/";

std::string checkpoint_key(PartitionId p) {
  std::string k = "flow/checkpoint/";
  append_be32(k, p.value());
  return k;
}

rocksdb::WriteOptions synced() {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

std::string encode(const ParkedStep& s) {
  return to_canonical(Json(Json::Object{{"id", Json(s.id)},
                                        {"partition", Json(int64_t(s.partition.value()))},
                                        {"offset", Json(s.offset.value())},
                                        {"event_type", Json(s.event_type)},
                                        {"stream", Json(s.stream)},
                                        {"command", Json(s.command)},
                                        {"error", Json(s.error)},
                                        {"attempts", Json(s.attempts)},
                                        {"parked_at_ms", Json(s.parked_at_ms)},
                                        {"transient", Json(s.transient)}}));
}

Result<ParkedStep> decode(std::string_view v) {
  auto j = parse_json(v);
  if (!j) return j.error();
  auto s = [&](std::string_view k) {
    const Json* x = j->find(k);
    return x && x->is_string() ? x->as_string() : std::string();
  };
  auto n = [&](std::string_view k) {
    const Json* x = j->find(k);
    return x && x->is_int() ? x->as_int() : int64_t{-1};
  };
  // The fields a retry needs must be there and in range; the rest are for people to read.
  const int64_t partition = n("partition");
  if (s("id").empty() || partition < 0 || partition > int64_t{UINT32_MAX} || n("offset") < 0)
    return Error{"corrupt parked step record"};
  return ParkedStep{
      s("id"), PartitionId{static_cast<uint32_t>(partition)}, Offset{n("offset")}, s("event_type"),
      s("stream"), s("command"), s("error"), n("attempts"), n("parked_at_ms"),
      // Records from before the flag: not retried by themselves.
      j->find("transient") && j->find("transient")->is_bool() && j->find("transient")->as_bool()};
}

// The step parked under the key's `id`: what its record says, or, when that cannot be
// decoded or names another id (a retry would park or unpark under the wrong key), only the
// id and why.
ParkedStep step_under(std::string id, std::string_view record) {
  auto s = decode(record);
  if (s && s->id == id) return std::move(s.value());
  ParkedStep bad;
  bad.error = fmt::format("the parked step's record cannot be read ({}); dismiss it",
                          s ? "it names another id" : s.error().message);
  bad.id = std::move(id);
  bad.offset = Offset{-1};
  bad.unreadable = true;
  return bad;
}

}  // namespace

Result<Offset> FlowStore::checkpoint(PartitionId p) {
  const std::string what = fmt::format("flow checkpoint of partition {}", p.value());
  auto n = db_.get_stored_int(Cf::meta, checkpoint_key(p), what, -1);
  if (!n) return Error{n.error().message};
  // The manager reads on from the checkpoint's next offset: the largest int64 has none.
  if (n.value() == INT64_MAX) return Error{fmt::format("corrupt {}: {}", what, INT64_MAX)};
  return Offset{n.value().value_or(-1)};
}

Status FlowStore::set_checkpoints(const std::vector<std::pair<PartitionId, Offset>>& checkpoints,
                                  bool sync) {
  rocksdb::WriteBatch batch;
  for (const auto& [p, o] : checkpoints)
    batch.Put(db_.cf(Cf::meta), checkpoint_key(p), std::to_string(o.value()));
  auto s = db_.db().Write(sync ? synced() : rocksdb::WriteOptions(), &batch);
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  return {};
}

Status FlowStore::park(const ParkedStep& step) {
  auto s =
      db_.db().Put(synced(), db_.cf(Cf::meta), std::string(kParkedPrefix) + step.id, encode(step));
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  return {};
}

Status FlowStore::unpark(const std::string& id) {
  auto s = db_.db().Delete(synced(), db_.cf(Cf::meta), std::string(kParkedPrefix) + id);
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  return {};
}

Result<std::vector<ParkedStep>> FlowStore::parked(size_t limit) {
  return scan_parked(limit, false);
}

Result<std::vector<ParkedStep>> FlowStore::transient_parked(size_t limit) {
  return scan_parked(limit, true);
}

Result<std::vector<ParkedStep>> FlowStore::scan_parked(size_t limit, bool transient_only) {
  std::vector<ParkedStep> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_.db().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::meta)));
  size_t scanned = 0;
  for (it->Seek(kParkedPrefix); it->Valid() && it->key().starts_with(kParkedPrefix) &&
                                out.size() < limit && scanned < kMaxParkedScan;
       it->Next(), ++scanned) {
    // One damaged record must not hide the others (nor stop the manager's own retries).
    ParkedStep step =
        step_under(it->key().ToString().substr(kParkedPrefix.size()), it->value().ToStringView());
    if (transient_only && !step.transient) continue;
    out.push_back(std::move(step));
  }
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return out;
}

Result<std::optional<ParkedStep>> FlowStore::find_parked(const std::string& id) {
  std::string v;
  auto s =
      db_.db().Get(rocksdb::ReadOptions(), db_.cf(Cf::meta), std::string(kParkedPrefix) + id, &v);
  if (s.IsNotFound()) return std::optional<ParkedStep>{};
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  return std::optional<ParkedStep>{step_under(id, v)};
}

}  // namespace ordo

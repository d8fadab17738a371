#include "engine/state/rocks_db.hpp"

#include <fmt/core.h>

#include <charconv>
#include <cstdio>

#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "engine/domain/assert.hpp"
#include "engine/state/state_store.hpp"
#include "engine/state/wal_page_dropper.hpp"

namespace ordo {
namespace {
const char* const kCfNames[] = {"log", "stream_index", "state", "idempotency", "timers", "meta"};

// Drops clients' idempotency records past their retention (and the slack) when compaction
// meets them, so the column family holds about a retention's worth of clients' keys, not
// every key ever used. Stateless but for the clock: RocksDB may call it from several threads.
class IdempotencyExpiry final : public rocksdb::CompactionFilter {
 public:
  IdempotencyExpiry(int64_t retention_ms, std::function<int64_t()> now_ms)
      : retention_ms_(retention_ms), now_ms_(std::move(now_ms)) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    // A flow step's record is what tells a redelivered event that its step already ran,
    // however long ago: never dropped.
    if (key.ToStringView().starts_with(kFlowStepKeyPrefix)) return false;
    auto record = StateStore::decode_idempotency(value.ToStringView());
    if (!record) return false;  // not a record: kept, and reported by whoever reads it
    return !idempotency_record_honoured(record->created_at, retention_ms_,
                                        TimestampMs{now_ms_() - RocksDb::kIdempotencySlackMs});
  }
  const char* Name() const override { return "ordo.IdempotencyExpiry"; }

 private:
  const int64_t retention_ms_;
  const std::function<int64_t()> now_ms_;
};
}  // namespace

Result<std::unique_ptr<RocksDb>> RocksDb::open(const std::string& path, RocksDbOptions opts) {
  ORDO_ASSERT(opts.idempotency_retention_ms >= 0, "a retention is not negative");
  ORDO_ASSERT(opts.idempotency_retention_ms == 0 || opts.now_ms,
              "an idempotency retention needs a clock");
  std::unique_ptr<rocksdb::Env> env = new_wal_page_dropping_env(opts.file_system);
  rocksdb::Options options;
  options.env = env.get();
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.IncreaseParallelism(2);
  // Compactions yield the CPU to the partition writers and committers: the writer is the
  // stage every command waits on, and on a busy machine the scheduler otherwise gives it only
  // its equal share against them. They still run whenever a core is free, and RocksDB slows
  // and then stops writes when they fall far behind, so they do not starve. Flushes keep
  // their priority: a memtable that cannot be flushed stalls the writes at once, and a
  // preempted flush may hold the DB's mutex the writes need. The pool is process-wide
  // (Env::Default); nice 19, best effort.
  if (!opts.read_only)
    (void)options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW,
                                                  rocksdb::CpuPriority::kLow);
  // Bounded file descriptors: the HTTP server sizes its connection cap to what the process
  // may open less this (api/server.cpp, kReservedFds).
  options.max_open_files = kMaxOpenFiles;
  // Bounded memory: a small block cache shared by all column families.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  rocksdb::ColumnFamilyOptions cf_options(options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.write_buffer_size = 32 << 20;
  cf_options.compression = rocksdb::kLZ4Compression;

  std::unique_ptr<rocksdb::CompactionFilter> expiry;
  rocksdb::ColumnFamilyOptions idempotency_options(cf_options);
  if (opts.idempotency_retention_ms > 0) {
    expiry =
        std::make_unique<IdempotencyExpiry>(opts.idempotency_retention_ms, std::move(opts.now_ms));
    idempotency_options.compaction_filter = expiry.get();
    // Files nothing else rewrites are compacted (and filtered) at least this often.
    idempotency_options.periodic_compaction_seconds = 2 * 24 * 3600;
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (const char* name : kCfNames)
    descriptors.emplace_back(
        name, std::string_view(name) == "idempotency" ? idempotency_options : cf_options);

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = opts.read_only
               ? rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(options), path, descriptors,
                                              &handles, &raw)
               : rocksdb::DB::Open(rocksdb::DBOptions(options), path, descriptors, &handles, &raw);
  if (!s.ok()) return Error{"rocksdb open " + path + ": " + s.ToString()};
  std::unique_ptr<RocksDb> out(new RocksDb());
  out->env_ = std::move(env);
  out->idempotency_expiry_ = std::move(expiry);
  out->db_.reset(raw);
  // handles[0] is the default family, unused; keep ours in Cf order.
  for (size_t i = 1; i < handles.size(); ++i) out->handles_.push_back(handles[i]);
  raw->DestroyColumnFamilyHandle(handles[0]);
  if (!opts.read_only)
    if (auto cleared = out->clear_retired_timers(); !cleared)
      // Only disk space is at stake: the next open tries again.
      std::fprintf(stderr, "ordo: clearing the retired timers column family: %s\n",
                   cleared.message().c_str());
  return out;
}

Status RocksDb::clear_retired_timers() {
  // Timers are derived from the orders since they left this column family; what an older
  // binary left there is read by nothing. Deleted once (one range tombstone) and compacted
  // away, so it no longer takes disk. An open after an interrupted cleanup finds no key but
  // files still on disk, and compacts again; an empty family costs an iterator step.
  rocksdb::ColumnFamilyHandle* timers = cf(Cf::timers);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), timers));
  it->SeekToFirst();
  if (!it->status().ok()) return Error{"reading: " + it->status().ToString()};
  if (it->Valid()) {
    const std::string first = it->key().ToString();
    it->SeekToLast();
    if (!it->status().ok() || !it->Valid()) return Error{"reading: " + it->status().ToString()};
    const std::string last = it->key().ToString();
    rocksdb::WriteBatch batch;
    batch.DeleteRange(timers, first, last);  // [first, last)
    batch.Delete(timers, last);
    if (auto s = write_sync(batch); !s) return s;
  }
  it.reset();
  uint64_t sst_bytes = 0;
  if (!db_->GetIntProperty(timers, "rocksdb.total-sst-files-size", &sst_bytes) || sst_bytes == 0)
    return {};
  rocksdb::CompactRangeOptions compact;
  compact.exclusive_manual_compaction = false;  // other compactions go on meanwhile
  // Rewrites the last level too, which drops the tombstones (moved files would keep them).
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  auto s = db_->CompactRange(compact, timers, nullptr, nullptr);
  if (!s.ok()) return Error{"compacting: " + s.ToString()};
  return {};
}

RocksDb::~RocksDb() {
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  if (db_) db_->Close();
}

rocksdb::ColumnFamilyHandle* RocksDb::cf(StateColumn c) {
  switch (c) {
    case StateColumn::state:
      return cf(Cf::state);
    case StateColumn::idempotency:
      return cf(Cf::idempotency);
    case StateColumn::meta:
      return cf(Cf::meta);
  }
  ORDO_ASSERT(false, "unknown state column");
  return nullptr;
}

void RocksDb::add_to_batch(const StateDelta& delta, rocksdb::WriteBatch& batch) {
  for (const auto& w : delta.writes) {
    if (w.value)
      batch.Put(cf(w.column), w.key, *w.value);
    else
      batch.Delete(cf(w.column), w.key);
  }
}

Status RocksDb::write_sync(rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = db_->Write(wo, &batch);
  if (!s.ok()) return Error{"rocksdb write: " + s.ToString()};
  return {};
}

Result<bool> RocksDb::holds_any(Cf c) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(c)));
  it->SeekToFirst();
  if (!it->status().ok()) return Error{"rocksdb: " + it->status().ToString()};
  return it->Valid();
}

Status RocksDb::resume() {
  auto s = db_->Resume();
  if (!s.ok()) return Error{"rocksdb cannot resume writing: " + s.ToString()};
  return {};
}

Result<std::optional<int64_t>> RocksDb::get_stored_int(Cf c, const std::string& key,
                                                       std::string_view what, int64_t min) {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), cf(c), key, &v);
  if (s.IsNotFound()) return std::optional<int64_t>{};
  if (!s.ok()) return Error{"rocksdb: " + s.ToString()};
  auto n = parse_stored_int(v);
  if (!n || *n < min) return Error{fmt::format("corrupt {}: {}", what, v)};
  return n;
}

std::optional<int64_t> parse_stored_int(std::string_view s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

void append_be32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void append_be64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint32_t read_be32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t read_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace ordo

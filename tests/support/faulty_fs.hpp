#pragma once
// A RocksDB file system that fails chosen writes on demand, to drive the real engine (either
// log backend) through a disk's failures: WAL syncs (a full disk or a failing device) and
// table files (a memtable flush's or a compaction's output).
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>

namespace ordo::test {

// A disk whose syncs of RocksDB's write-ahead logs fail on demand. The bytes appended before
// a failed sync still reach the file, as when a real fsync fails: whether they come back on
// a restart is RocksDB's recovery's business, and the tests that use it check what they mean.
struct DiskFaults {
  std::atomic<bool> fail_wal_sync{false};
  std::atomic<bool> disk_full{true};  // the error a full disk gives; else a plain I/O error
  std::atomic<int> failed_syncs{0};
  // Table files (a memtable flush, a compaction's output) cannot be written: a background
  // job fails, not a write's own WAL.
  std::atomic<bool> fail_table_writes{false};
  std::atomic<int> failed_table_writes{0};

  rocksdb::IOStatus sync_error() {
    if (!fail_wal_sync) return rocksdb::IOStatus::OK();
    ++failed_syncs;
    return disk_full ? rocksdb::IOStatus::NoSpace("injected: no space left on device")
                     : rocksdb::IOStatus::IOError("injected: the device failed the sync");
  }
};

class FaultyWal final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWal(std::unique_ptr<rocksdb::FSWritableFile>&& f, std::shared_ptr<DiskFaults> faults)
      : FSWritableFileOwnerWrapper(std::move(f)), faults_(std::move(faults)) {}
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (auto s = faults_->sync_error(); !s.ok()) return s;
    return target()->Sync(o, d);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (auto s = faults_->sync_error(); !s.ok()) return s;
    return target()->Fsync(o, d);
  }

 private:
  std::shared_ptr<DiskFaults> faults_;
};

// A table file whose appends fail while DiskFaults::fail_table_writes is set (no space).
class FaultyTable final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyTable(std::unique_ptr<rocksdb::FSWritableFile>&& f, std::shared_ptr<DiskFaults> faults)
      : FSWritableFileOwnerWrapper(std::move(f)), faults_(std::move(faults)) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* d) override {
    if (faults_->fail_table_writes) {
      ++faults_->failed_table_writes;
      return rocksdb::IOStatus::NoSpace("injected: no space left for a table file");
    }
    return target()->Append(data, o, d);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* d) override {
    if (faults_->fail_table_writes) {
      ++faults_->failed_table_writes;
      return rocksdb::IOStatus::NoSpace("injected: no space left for a table file");
    }
    return target()->Append(data, o, v, d);
  }

 private:
  std::shared_ptr<DiskFaults> faults_;
};

class FaultyFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFs(std::shared_ptr<DiskFaults> faults)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), faults_(std::move(faults)) {}
  const char* Name() const override { return "OrdoTestFaultyFs"; }
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(fname, opts, result, dbg);
    if (s.ok() && fname.ends_with(".log"))
      *result = std::make_unique<FaultyWal>(std::move(*result), faults_);
    if (s.ok() && fname.ends_with(".sst"))
      *result = std::make_unique<FaultyTable>(std::move(*result), faults_);
    return s;
  }

 private:
  std::shared_ptr<DiskFaults> faults_;
};

}  // namespace ordo::test

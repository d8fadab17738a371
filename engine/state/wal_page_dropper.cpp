#include "engine/state/wal_page_dropper.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <rocksdb/file_system.h>

#include <cstdint>
#include <mutex>
#include <string>

namespace ordo {
namespace {

bool is_wal(const std::string& fname) { return fname.ends_with(".log"); }

class PageDroppingFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PageDroppingFile(std::unique_ptr<rocksdb::FSWritableFile>&& f, const std::string& fname)
      : FSWritableFileOwnerWrapper(std::move(f)),
        // Its own descriptor: the wrapped file does not show its own. Advice on any
        // descriptor of the file acts on the file's pages.
        fd_(::open(fname.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~PageDroppingFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return then_drop(o, d, [&] { return target()->Sync(o, d); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return then_drop(o, d, [&] { return target()->Fsync(o, d); });
  }

 private:
  template <class SyncFn>
  rocksdb::IOStatus then_drop(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d,
                              SyncFn sync) {
    // The size before the sync: all of it is covered by the sync. (Bytes appended while it
    // runs, if RocksDB ever syncs alongside appends, wait for the next one.)
    const uint64_t size = target()->GetFileSize(o, d);
    auto s = sync();
    if (s.ok()) drop_up_to(size);
    return s;
  }

  void drop_up_to(uint64_t synced_size) {
    if (fd_ < 0) return;
    static const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    // Whole pages only: the last, partly written page is written again by the next append.
    // (The kernel leaves dirty pages alone anyway: only clean, synced ones go.)
    const uint64_t until = synced_size / kPage * kPage;
    std::lock_guard lock(mu_);
    if (until <= dropped_) return;
    ::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(until - dropped_),
                    POSIX_FADV_DONTNEED);
    dropped_ = until;
  }

  const int fd_;
  std::mutex mu_;         // RocksDB may sync from another thread than the appender
  uint64_t dropped_ = 0;  // [0, dropped_) advised away
};

class WalPageDroppingFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit WalPageDroppingFs(const std::shared_ptr<rocksdb::FileSystem>& target)
      : FileSystemWrapper(target) {}
  const char* Name() const override { return "OrdoWalPageDropping"; }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(fname, opts, result, dbg);
    if (s.ok() && is_wal(fname))
      *result = std::make_unique<PageDroppingFile>(std::move(*result), fname);
    return s;
  }
};

}  // namespace

std::unique_ptr<rocksdb::Env> new_wal_page_dropping_env(std::shared_ptr<rocksdb::FileSystem> base) {
  return rocksdb::NewCompositeEnv(
      std::make_shared<WalPageDroppingFs>(base ? std::move(base) : rocksdb::FileSystem::Default()));
}

}  // namespace ordo

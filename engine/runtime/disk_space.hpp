#pragma once
// How much room is left on the disk under the data directory. Injected, like the clock, so
// tests and the simulation can run a partition out of disk without filling one.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/log/result.hpp"

namespace ordo {

class DiskSpace {
 public:
  virtual ~DiskSpace() = default;
  // Bytes an unprivileged writer may still use there, or why that cannot be told.
  virtual Result<uint64_t> free_bytes() const = 0;
};

// statvfs(2) on a path: what `df` calls available.
class FileSystemSpace final : public DiskSpace {
 public:
  explicit FileSystemSpace(std::string path) : path_(std::move(path)) {}
  Result<uint64_t> free_bytes() const override;

 private:
  std::string path_;
};

// Another DiskSpace's answer, kept for `max_age`: every partition asks before each group
// commit, and one statvfs serves them all. Thread-safe.
class CachedDiskSpace final : public DiskSpace {
 public:
  CachedDiskSpace(std::shared_ptr<const DiskSpace> inner, std::chrono::milliseconds max_age)
      : inner_(std::move(inner)), max_age_(max_age) {}
  Result<uint64_t> free_bytes() const override;

 private:
  const std::shared_ptr<const DiskSpace> inner_;
  const std::chrono::milliseconds max_age_;
  mutable std::mutex mu_;
  mutable std::optional<Result<uint64_t>> last_;
  mutable std::chrono::steady_clock::time_point measured_at_{};
};

}  // namespace ordo

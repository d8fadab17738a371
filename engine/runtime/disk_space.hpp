#pragma once
// How much room is left on the disk under the data directory. Injected, like the clock, so
// tests and the simulation can run a partition out of disk without filling one.
#include <cstdint>
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

}  // namespace ordo

#include "engine/runtime/disk_space.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace ordo {

Result<uint64_t> FileSystemSpace::free_bytes() const {
  struct statvfs st {};
  if (::statvfs(path_.c_str(), &st) != 0)
    return Error{"statvfs " + path_ + ": " + std::strerror(errno)};
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

Result<uint64_t> CachedDiskSpace::free_bytes() const {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!last_ || now - measured_at_ >= max_age_) {
    last_ = inner_->free_bytes();
    measured_at_ = now;
  }
  return *last_;
}

}  // namespace ordo

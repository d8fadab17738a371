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

}  // namespace ordo

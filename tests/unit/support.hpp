#pragma once
// Helpers shared by the unit suites: temporary directories and the partition invariants.
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/domain/decide.hpp"
#include "engine/log/result.hpp"

namespace ordo::test {

// A fresh directory under the system temp directory, removed with everything in it when the
// object goes. Declare it before anything that keeps files open inside it.
class TempDir {
 public:
  explicit TempDir(std::string_view tag) {
    static std::atomic<int> counter{0};
    const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("ordo-unit-{}-{}-{}-{}", tag, ::getpid(), counter++, ticks);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string sub(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The error message of a failed result, for assertion messages; empty when it succeeded.
template <typename T>
std::string error_of(const Result<T>& r) {
  return r.ok() ? std::string() : r.error().message;
}

inline void check_partition_invariants(const PartitionState& s) {
  std::string why;
  CHECK_MESSAGE(check_invariants(s, &why), why);
}

}  // namespace ordo::test

#pragma once
// Infrastructure failures travel as values: a result holds either a T or an error.
#include <string>
#include <utility>
#include <variant>

namespace ordo {

struct Error {
  std::string message;
  // For a failed EventLog::append: true when it certainly wrote nothing (refused before
  // writing, or its transaction aborted). False, the default, means it may have landed.
  bool wrote_nothing = false;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Success or an error, for operations with no value.
class Status {
 public:
  Status() = default;
  Status(Error e)  // NOLINT
      : err_(std::move(e.message)), failed_(true), wrote_nothing_(e.wrote_nothing) {}
  static Status ok_status() { return {}; }
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& message() const noexcept { return err_; }
  // A failed append that certainly wrote nothing (see Error::wrote_nothing).
  bool wrote_nothing() const noexcept { return failed_ && wrote_nothing_; }

 private:
  std::string err_;
  bool failed_ = false;
  bool wrote_nothing_ = false;
};

}  // namespace ordo

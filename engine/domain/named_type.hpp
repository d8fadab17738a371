#pragma once
// A value wrapped in a distinct type so that an order id is never passed where a SKU is
// expected, nor a quantity where money is (the idea of Redpanda's `named_type`).
#include <compare>
#include <functional>
#include <string>
#include <utility>

namespace ordo {

template <typename T, typename Tag>
class named_type {
 public:
  using value_type = T;
  named_type() = default;
  explicit named_type(T v) : value_(std::move(v)) {}
  const T& value() const noexcept { return value_; }
  T& value() noexcept { return value_; }
  friend auto operator<=>(const named_type&, const named_type&) = default;
  friend bool operator==(const named_type&, const named_type&) = default;

 private:
  T value_{};
};

}  // namespace ordo

template <typename T, typename Tag>
struct std::hash<ordo::named_type<T, Tag>> {
  size_t operator()(const ordo::named_type<T, Tag>& v) const noexcept {
    return std::hash<T>{}(v.value());
  }
};

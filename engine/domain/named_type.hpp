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

#if defined(__GLIBCXX__)
// libstdc++'s unordered containers keep each node's hash code only when the hash is not
// "fast"; std::hash<std::string> is marked slow, and a wrapper would otherwise count as fast.
// Without the kept code, a lookup re-hashes the key of every node it passes in a bucket (to
// find where the bucket ends) and compares keys without first comparing codes: with a
// million orders that was most of a fold's time (verify, recovery). A named id hashes as
// its value does, so it is exactly as fast or slow.
template <typename T, typename Tag>
struct std::__is_fast_hash<std::hash<ordo::named_type<T, Tag>>>
    : std::__is_fast_hash<std::hash<T>> {};
static_assert(std::__cache_default<ordo::named_type<std::string, void>,
                                   std::hash<ordo::named_type<std::string, void>>>::value,
              "string ids keep their hash codes in unordered containers");
#endif

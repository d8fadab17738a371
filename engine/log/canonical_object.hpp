#pragma once
// Writes one JSON object in canonical form (keys sorted by their bytes, no whitespace)
// straight into a string, without building a Json tree. The writer's hot path serialises
// every event payload and every aggregate snapshot with this; the Json tree stays for
// reading. Members may be added in any order: write_to() sorts them. Bounded: at most
// kMaxMembers members, keys unique (both asserted; a violation is a bug in the caller).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ordo {

class CanonicalObject {
 public:
  static constexpr size_t kMaxMembers = 24;

  CanonicalObject() { values_.reserve(256); }

  void str(std::string_view key, std::string_view v);
  void num(std::string_view key, int64_t v);
  void boolean(std::string_view key, bool v);
  // `canonical_json` must already be canonical JSON (a nested object or array).
  void raw(std::string_view key, std::string_view canonical_json);

  // Appends `{...}` to `out`.
  void write_to(std::string& out);

 private:
  struct Member {
    std::string_view key;  // keys are string literals or outlive the object
    uint32_t begin = 0;    // the encoded value is values_[begin, end)
    uint32_t end = 0;
  };
  Member& add(std::string_view key);

  std::array<Member, kMaxMembers> members_{};
  size_t count_ = 0;
  std::string values_;
};

// Appends the decimal digits of `v` (no allocation, no locale).
void write_int(int64_t v, std::string& out);

}  // namespace ordo

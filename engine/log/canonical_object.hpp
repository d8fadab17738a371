#pragma once
// Writes one JSON object in canonical form (keys sorted by their bytes, no whitespace)
// straight into a string, without building a Json tree. The writer's hot path serialises
// every event payload and every aggregate snapshot with this; the Json tree stays for
// reading. Members may be added in any order: write_to() sorts them. Bounded: at most
// kMaxMembers members, keys unique and plain (no byte JSON would escape), all asserted: a
// violation is a bug in the caller, whose keys are its own names.
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
  // The same, with the value written in place by `write(std::string& out)` (which appends
  // canonical JSON to `out`): no temporary string for a nested array or object.
  template <class Write>
  void raw_with(std::string_view key, Write&& write) {
    Member& m = add(key);
    write(values_);
    m.end = static_cast<uint32_t>(values_.size());
  }

  // Appends `{...}` to `out`.
  void write_to(std::string& out);

 private:
  struct Member {          // trivial, so the array below is not initialised
    const char* key_data;  // keys are string literals or outlive the object
    uint32_t key_size;
    uint32_t begin;  // the encoded value is values_[begin, end)
    uint32_t end;
    std::string_view key() const { return {key_data, key_size}; }
  };
  Member& add(std::string_view key);

  // Only [0, count_) is ever read, each set whole by add(): left uninitialised, since zeroing
  // all of it cost a memset per object, and one object is built per event.
  std::array<Member, kMaxMembers> members_;
  size_t count_ = 0;
  std::string values_;
};

// Appends the decimal digits of `v` (no allocation, no locale).
void write_int(int64_t v, std::string& out);

}  // namespace ordo

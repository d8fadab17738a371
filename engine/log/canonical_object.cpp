#include "engine/log/canonical_object.hpp"

#include <algorithm>

#include "engine/domain/assert.hpp"
#include "engine/log/json.hpp"

namespace ordo {

void write_int(int64_t v, std::string& out) {
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  // Work on the magnitude as unsigned, so INT64_MIN has no overflow.
  uint64_t m = v < 0 ? uint64_t(0) - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + m % 10);
    m /= 10;
  } while (m);
  if (v < 0) *--p = '-';
  out.append(p, static_cast<size_t>(end - p));
}

namespace {
// A key written as it is, between quotes: it holds no byte write_json_string would escape.
bool plain_key(std::string_view key) {
  return std::none_of(key.begin(), key.end(),
                      [](char c) { return json_escapes(static_cast<unsigned char>(c)); });
}
}  // namespace

CanonicalObject::Member& CanonicalObject::add(std::string_view key) {
  ORDO_ASSERT(count_ < kMaxMembers, "canonical object has more than {} members", kMaxMembers);
  ORDO_ASSERT(plain_key(key), "canonical object key {} needs escaping", key);
  // Duplicate keys are caught in write_to(), next to each other once sorted: checking each
  // new key against all the others here cost a comparison per pair, on every event.
  Member& m = members_[count_++];
  m.key_data = key.data();
  m.key_size = static_cast<uint32_t>(key.size());
  m.begin = static_cast<uint32_t>(values_.size());
  return m;
}

void CanonicalObject::str(std::string_view key, std::string_view v) {
  Member& m = add(key);
  write_json_string(v, values_);
  m.end = static_cast<uint32_t>(values_.size());
}

void CanonicalObject::num(std::string_view key, int64_t v) {
  Member& m = add(key);
  write_int(v, values_);
  m.end = static_cast<uint32_t>(values_.size());
}

void CanonicalObject::boolean(std::string_view key, bool v) {
  Member& m = add(key);
  values_ += v ? "true" : "false";
  m.end = static_cast<uint32_t>(values_.size());
}

void CanonicalObject::raw(std::string_view key, std::string_view canonical_json) {
  Member& m = add(key);
  values_ += canonical_json;
  m.end = static_cast<uint32_t>(values_.size());
}

void CanonicalObject::write_to(std::string& out) {
  // Byte order of the keys, as std::map<std::string> orders the Json tree's members.
  std::sort(members_.begin(), members_.begin() + static_cast<std::ptrdiff_t>(count_),
            [](const Member& a, const Member& b) { return a.key() < b.key(); });
  out.push_back('{');
  for (size_t i = 0; i < count_; ++i) {
    if (i) {
      ORDO_ASSERT(members_[i - 1].key() != members_[i].key(), "duplicate key {}",
                  members_[i].key());
      out.push_back(',');
    }
    out.push_back('"');
    out.append(members_[i].key());  // plain: checked in add()
    out.append("\":", 2);
    out.append(values_, members_[i].begin, members_[i].end - members_[i].begin);
  }
  out.push_back('}');
}

}  // namespace ordo

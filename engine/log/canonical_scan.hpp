#pragma once
// The two canonical spellings both in-place readers of the log check (envelope_view for the
// envelope, canonical_text for payloads): an integer as write_int writes it, and a string as
// write_json_string writes one that needs no escape. Each reads at `pos` and, on success,
// moves `pos` past what it read.
#include <cstdint>
#include <string_view>

namespace ordo::canonical {

// Whether `n` bytes at `a` and `b` are equal. An inline loop, not memcmp: the readers compare
// many short spans per line (literals, keys), where a call into libc costs more than the
// compare; with a constant `n` the compiler unrolls it.
inline bool same_bytes(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// a < b in byte order (std::string_view's, that of Json::Object's keys), deciding on the
// first byte where it can: keys that share their first byte are few.
inline bool bytes_less(std::string_view a, std::string_view b) {
  if (!a.empty() && !b.empty() && a[0] != b[0])
    return static_cast<unsigned char>(a[0]) < static_cast<unsigned char>(b[0]);
  return a < b;
}

// An optional minus, then digits without a leading zero, within int64; not "-0".
inline bool scan_int(std::string_view s, size_t& pos, int64_t& out) {
  size_t p = pos;
  const bool neg = p < s.size() && s[p] == '-';
  if (neg) ++p;
  uint64_t v = 0;
  const size_t digits = p;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
    if (p - digits >= 19) return false;  // 19 digits always fit before the range check
    v = v * 10 + static_cast<uint64_t>(s[p] - '0');
    ++p;
  }
  const size_t n = p - digits;
  if (n == 0 || (n > 1 && s[digits] == '0')) return false;
  if (v > static_cast<uint64_t>(INT64_MAX) + (neg ? 1 : 0)) return false;
  if (neg && v == 0) return false;  // "-0" is not canonical
  out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  pos = p;
  return true;
}

// A quoted string with no backslash and no control byte (the writer would have escaped
// those); `out` is its contents. UTF-8 validity is the caller's check.
inline bool scan_plain_string(std::string_view s, size_t& pos, std::string_view& out) {
  if (pos >= s.size() || s[pos] != '"') return false;
  for (size_t i = pos + 1; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out = s.substr(pos + 1, i - pos - 1);
      pos = i + 1;
      return true;
    }
    if (c == '\\' || c < 0x20) return false;
  }
  return false;
}

}  // namespace ordo::canonical

#include "engine/domain/types.hpp"

#include <algorithm>

namespace ordo {

bool is_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

bool is_valid_id(std::string_view s) noexcept {
  return !s.empty() && s.size() <= kMaxIdLength && std::all_of(s.begin(), s.end(), is_id_char);
}

bool is_valid_stream_name(std::string_view s) noexcept {
  return !s.empty() && s.size() <= kMaxStreamNameLength &&
         std::all_of(s.begin(), s.end(), is_id_char);
}

size_t utf8_length(std::string_view s) noexcept {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // every byte but continuation bytes
  return n;
}

bool is_text_within(std::string_view s, size_t max_chars) noexcept {
  // 4 bytes is the longest UTF-8 character: the byte count bounds the work first.
  return s.size() <= 4 * max_chars && is_valid_utf8(s) && s.find('\0') == std::string_view::npos &&
         utf8_length(s) <= max_chars;
}

bool is_valid_utf8(std::string_view s) noexcept {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

bool is_valid_currency(std::string_view s) noexcept {
  if (s.size() != 3) return false;
  for (char c : s)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

}  // namespace ordo

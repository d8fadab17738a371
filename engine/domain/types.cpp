#include "engine/domain/types.hpp"

namespace ordo {

bool is_valid_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
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

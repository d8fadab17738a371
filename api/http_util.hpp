#pragma once
// Small HTTP helpers shared by the handlers: query strings, integers, JSON responses.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http_types.hpp"

namespace ordo::api {

struct Query {
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string> get(std::string_view k) const {
    for (const auto& [key, v] : items)
      if (key == k) return v;
    return std::nullopt;
  }
};

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (exactly two hex digits each); nullopt for a malformed one. In a query
// string '+' stands for a space (application/x-www-form-urlencoded); in a path it is itself.
enum class PercentPart { query, path };
inline std::optional<std::string> percent_decode(std::string_view s,
                                                 PercentPart part = PercentPart::query) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_digit(s[i + 1]);
      const int lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && part == PercentPart::query) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// ASCII case-insensitive equality (media types, auth schemes: RFC 9110 §8.3.1, §11.1).
inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a Content-Type names application/json, parameters (charset) aside.
inline bool is_json_media_type(std::string_view content_type) {
  return ascii_iequals(trim_ows(content_type.substr(0, content_type.find(';'))),
                       "application/json");
}

// The token of `Authorization: Bearer <token>`, the scheme in any case; empty when the
// header is not a Bearer credential.
inline std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !ascii_iequals(authorization.substr(0, kScheme.size()), kScheme) ||
      authorization[kScheme.size()] != ' ')
    return {};
  return trim_ows(authorization.substr(kScheme.size() + 1));
}

inline std::optional<Query> parse_query(std::string_view q) {
  Query out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    size_t eq = item.find('=');
    auto k = percent_decode(item.substr(0, eq));
    auto v = percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    if (!k || !v) return std::nullopt;
    if (!k->empty()) out.items.emplace_back(*k, *v);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
  }
  return out;
}

inline std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

inline Response json_response(int status, std::string body, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type,
          status >= 400 ? "application/problem+json" : "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace ordo::api

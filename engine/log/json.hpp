#pragma once
// A small JSON value with canonical serialisation: object keys sorted by their UTF-8 bytes,
// no insignificant whitespace, integers only (Ordo has no floating point anywhere in the log),
// strings escaped the same way every time. Two equal values always give equal bytes.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/log/result.hpp"

namespace ordo {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;

  Json() : v_(nullptr) {}
  Json(std::nullptr_t) : v_(nullptr) {}             // NOLINT
  Json(bool b) : v_(b) {}                           // NOLINT
  Json(int64_t i) : v_(i) {}                        // NOLINT
  Json(int i) : v_(static_cast<int64_t>(i)) {}      // NOLINT
  Json(std::string s) : v_(std::move(s)) {}         // NOLINT
  Json(std::string_view s) : v_(std::string(s)) {}  // NOLINT
  Json(const char* s) : v_(std::string(s)) {}       // NOLINT
  Json(Array a) : v_(std::move(a)) {}               // NOLINT
  Json(Object o) : v_(std::move(o)) {}              // NOLINT

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_int() const { return v_.index() == 2; }
  bool is_string() const { return v_.index() == 3; }
  bool is_array() const { return v_.index() == 4; }
  bool is_object() const { return v_.index() == 5; }

  bool as_bool() const { return std::get<1>(v_); }
  int64_t as_int() const { return std::get<2>(v_); }
  const std::string& as_string() const { return std::get<3>(v_); }
  const Array& as_array() const { return std::get<4>(v_); }
  Array& as_array() { return std::get<4>(v_); }
  const Object& as_object() const { return std::get<5>(v_); }
  Object& as_object() { return std::get<5>(v_); }

  // Member of an object, or nullptr when absent or when this is not an object.
  const Json* find(std::string_view key) const;

  friend bool operator==(const Json&, const Json&) = default;

 private:
  std::variant<std::nullptr_t, bool, int64_t, std::string, Array, Object> v_;
};

// Appends the canonical bytes of `v` to `out`.
void write_canonical(const Json& v, std::string& out);
std::string to_canonical(const Json& v);
// Whether write_json_string escapes this byte: a control byte, '"' or '\\'.
inline bool json_escapes(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }
// Appends `s` as a JSON string literal (with quotes), escaped canonically.
void write_json_string(std::string_view s, std::string& out);

// Parses JSON text. Numbers must be integers that fit int64; anything else is an error.
Result<Json> parse_json(std::string_view text);

}  // namespace ordo

#pragma once
// Reading a request body's JSON object field by field at the edge, remembering the first
// problem with the offending field named. Private to api/.
#include <fmt/core.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <variant>

#include "api/command_codec.hpp"
#include "engine/domain/types.hpp"
#include "engine/log/json.hpp"

namespace ordo::api {

// Reads a JSON object field by field, remembering the first problem.
class Fields {
 public:
  Fields(const Json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  bool only(std::initializer_list<std::string_view> allowed) {
    for (const auto& [k, v] : obj_.as_object()) {
      bool ok = false;
      for (auto a : allowed) ok |= (a == k);
      if (!ok) return fail(k, "unknown field");
    }
    return true;
  }

  std::optional<std::string> id(std::string_view k, bool required = true) {
    auto s = string(k, kMaxIdLength, required);
    if (s && !is_valid_id(*s)) {
      fail(k, "must match [A-Za-z0-9._:-]{1,64}");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> string(std::string_view k, size_t max_len, bool required = true) {
    const Json* v = obj_.find(k);
    if (!v) {
      if (required) fail(k, "is required");
      return std::nullopt;
    }
    if (!v->is_string()) {
      fail(k, "must be a string");
      return std::nullopt;
    }
    // is_text_within refuses U+0000 too; said apart here so the client learns which rule.
    if (v->as_string().find('\0') != std::string::npos) {
      fail(k, "must not contain U+0000");
      return std::nullopt;
    }
    // Characters (code points), as JSON Schema's maxLength counts them; simdjson has
    // checked the body is UTF-8.
    if (!is_text_within(v->as_string(), max_len)) {
      fail(k, fmt::format("must be at most {} characters", max_len));
      return std::nullopt;
    }
    return v->as_string();
  }

  std::optional<int64_t> integer(std::string_view k, int64_t min, int64_t max) {
    const Json* v = obj_.find(k);
    if (!v) {
      fail(k, "is required");
      return std::nullopt;
    }
    if (!v->is_int()) {
      fail(k, "must be an integer");
      return std::nullopt;
    }
    if (v->as_int() < min || v->as_int() > max) {
      fail(k, fmt::format("must be between {} and {}", min, max));
      return std::nullopt;
    }
    return v->as_int();
  }

  bool fail(std::string_view k, std::string detail) {
    if (!error_)
      error_ = FieldError{prefix_ + std::string(k),
                          fmt::format("{} {}", prefix_ + std::string(k), detail)};
    return false;
  }
  const std::optional<FieldError>& error() const { return error_; }

 private:
  const Json& obj_;
  std::string prefix_;
  std::optional<FieldError> error_;
};

// Parses the body as a JSON object or explains why not.
inline std::variant<Json, FieldError> parse_object(std::string_view body) {
  if (body.size() > kMaxBodyBytes) return FieldError{"", "body too large"};
  auto j = parse_json(body);
  if (!j) return FieldError{"", j.error().message};
  if (!j->is_object()) return FieldError{"", "body must be a JSON object"};
  return std::move(j.value());
}

}  // namespace ordo::api

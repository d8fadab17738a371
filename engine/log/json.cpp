#include "engine/log/json.hpp"

#include <simdjson.h>

#include <fmt/core.h>

#include <cstdint>
#include <cstring>

namespace ordo {

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  const auto& o = as_object();
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->second;
}

namespace {

// Whether any of the 8 bytes in `x` needs escaping: below 0x20, '"' or '\\'. The classic
// bit tricks: (v - 0x01…) & ~v & 0x80… is non-zero exactly when some byte of v is zero, and
// (v - n·0x01…) & ~v & 0x80… when some byte is below n (n <= 128); bytes >= 0x80 (UTF-8)
// never count, as their top bit is set in v.
inline bool any_needs_escape(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t quote = x ^ (kOnes * '"');
  const uint64_t backslash = x ^ (kOnes * '\\');
  return (((x - kOnes * 0x20) & ~x) | ((quote - kOnes) & ~quote) |
          ((backslash - kOnes) & ~backslash)) &
         kHigh;
}

}  // namespace

void write_json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the current run of bytes that need no escaping
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    // Eight bytes at a time while none needs escaping (most strings: ids, names, hashes).
    while (i + 8 <= n) {
      uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      if (any_needs_escape(x)) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!json_escapes(c)) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void write_canonical(const Json& v, std::string& out) {
  if (v.is_null()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    fmt::format_to(std::back_inserter(out), "{}", v.as_int());
  } else if (v.is_string()) {
    write_json_string(v.as_string(), out);
  } else if (v.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& e : v.as_array()) {
      if (!first) out.push_back(',');
      first = false;
      write_canonical(e, out);
    }
    out.push_back(']');
  } else {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, e] : v.as_object()) {  // std::map: sorted by bytes
      if (!first) out.push_back(',');
      first = false;
      write_json_string(k, out);
      out.push_back(':');
      write_canonical(e, out);
    }
    out.push_back('}');
  }
}

std::string to_canonical(const Json& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

namespace {

constexpr int kMaxDepth = 64;

Result<Json> convert(simdjson::dom::element el, int depth) {
  if (depth > kMaxDepth) return Error{"JSON nested too deeply"};
  switch (el.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return Json(nullptr);
    case simdjson::dom::element_type::BOOL:
      return Json(bool(el.get_bool().value_unsafe()));
    case simdjson::dom::element_type::INT64:
      return Json(int64_t(el.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64:
      return Error{"integer out of range"};
    case simdjson::dom::element_type::DOUBLE:
      return Error{"numbers must be integers"};
    case simdjson::dom::element_type::STRING:
      return Json(std::string(el.get_string().value_unsafe()));
    case simdjson::dom::element_type::ARRAY: {
      Json::Array a;
      simdjson::dom::array arr;
      if (el.get_array().get(arr)) return Error{"bad array"};
      for (auto child : arr) {
        auto r = convert(child, depth + 1);
        if (!r) return r;
        a.push_back(std::move(r.value()));
      }
      return Json(std::move(a));
    }
    case simdjson::dom::element_type::OBJECT: {
      Json::Object o;
      simdjson::dom::object obj;
      if (el.get_object().get(obj)) return Error{"bad object"};
      for (auto field : obj) {
        auto r = convert(field.value, depth + 1);
        if (!r) return r;
        auto [it, inserted] = o.emplace(std::string(field.key), std::move(r.value()));
        if (!inserted) return Error{fmt::format("duplicate key \"{}\"", field.key)};
      }
      return Json(std::move(o));
    }
  }
  return Error{"unknown JSON type"};
}

}  // namespace

Result<Json> parse_json(std::string_view text) {
  // A parser per thread: simdjson's parser owns reusable buffers and is not thread-safe.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  auto err = parser.parse(padded).get(root);
  if (err) return Error{std::string("malformed JSON: ") + simdjson::error_message(err)};
  return convert(root, 0);
}

}  // namespace ordo

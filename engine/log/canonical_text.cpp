#include "engine/log/canonical_text.hpp"

#include "engine/log/canonical_scan.hpp"

namespace ordo {

bool CanonicalText::read(std::string_view text) {
  s_ = text;
  pos_ = 0;
  nodes_.clear();
  nodes_.emplace_back();  // the root
  return value(0, 0) && pos_ == s_.size();
}

uint32_t CanonicalText::push() {
  if (nodes_.size() >= kMaxNodes) return 0;
  nodes_.emplace_back();
  return static_cast<uint32_t>(nodes_.size() - 1);
}

// Reads the value at pos_ into nodes_[at] (and its children after it). Indices, not
// references, across push(): the vector may move.
bool CanonicalText::value(int depth, uint32_t at) {
  if (depth > kMaxDepth || pos_ >= s_.size()) return false;
  const char c = s_[pos_];
  if (c == '"') {
    nodes_[at].kind = Kind::string;
    return canonical::scan_plain_string(s_, pos_, nodes_[at].text);
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    nodes_[at].kind = Kind::integer;
    return canonical::scan_int(s_, pos_, nodes_[at].integer);
  }
  auto literal = [&](std::string_view l) {
    if (s_.compare(pos_, l.size(), l) != 0) return false;
    pos_ += l.size();
    return true;
  };
  if (c == 't' || c == 'f') {
    nodes_[at].kind = Kind::boolean;
    nodes_[at].boolean = c == 't';
    return literal(c == 't' ? "true" : "false");
  }
  if (c == 'n') return literal("null");  // a node is null until read otherwise
  if (c != '{' && c != '[') return false;

  const bool object = c == '{';
  const char close = object ? '}' : ']';
  nodes_[at].kind = object ? Kind::object : Kind::array;
  ++pos_;
  if (pos_ < s_.size() && s_[pos_] == close) {
    ++pos_;
    return true;
  }
  uint32_t prev = 0;
  std::string_view prev_key;
  for (;;) {
    const uint32_t child = push();
    if (child == 0) return false;
    if (object) {
      std::string_view key;
      // Canonical members come in strictly increasing byte order of their keys (the order of
      // Json::Object, a std::map of std::string): so also no key twice.
      if (!canonical::scan_plain_string(s_, pos_, key) ||
          (prev != 0 && !canonical::bytes_less(prev_key, key)) || pos_ >= s_.size() ||
          s_[pos_] != ':')
        return false;
      ++pos_;
      nodes_[child].key = prev_key = key;
    }
    if (prev == 0)
      nodes_[at].first_child = child;
    else
      nodes_[prev].next_sibling = child;
    prev = child;
    if (!value(depth + 1, child) || pos_ >= s_.size()) return false;
    if (s_[pos_] == close) {
      ++pos_;
      return true;
    }
    if (s_[pos_] != ',') return false;
    ++pos_;
  }
}

std::optional<CanonicalText::Value> CanonicalText::Value::find(std::string_view key) const {
  if (!is_object()) return std::nullopt;
  // Sizes and first bytes first: most members differ there.
  for (uint32_t i = n().first_child; i != 0; i = t_->nodes_[i].next_sibling) {
    const std::string_view k = t_->nodes_[i].key;
    if (k.size() == key.size() &&
        (k.empty() || (k[0] == key[0] && canonical::same_bytes(k.data(), key.data(), k.size()))))
      return Value(*t_, i);
  }
  return std::nullopt;
}

}  // namespace ordo

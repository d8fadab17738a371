#pragma once
// JSON text read only if it is already in Ordo's canonical form: what to_canonical() would
// write for the value the text denotes, byte for byte. Verify needs exactly that question
// answered for every payload of the log (a hash over canonical text equals the hash over the
// re-encoded tree only when the text is canonical), and answering it while reading is much
// cheaper than parsing into a tree and re-encoding to compare.
//
// Accepted: objects with members in strictly increasing key byte order (so no duplicate
// key), arrays, `true`, `false`, `null`, integers as write_int spells them (no leading zero,
// no "-0", within int64), and strings without a backslash or a control byte (the canonical
// writer writes every other byte as it is). No whitespace anywhere. Anything else — an
// escaped string, a float, a key out of order — is declined, even where it is canonical
// (a string with an escape can be): the caller then takes the general path, so declining
// costs time, never a verdict. The text must be valid UTF-8; the caller checks that.
//
// The result is a small tape of nodes that views into the text; its capacity is bounded
// (kMaxNodes, kMaxDepth) and reused between calls, so reading allocates nothing once warm.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace ordo {

class CanonicalText {
 public:
  static constexpr size_t kMaxNodes = 4096;
  static constexpr int kMaxDepth = 16;

  enum class Kind : uint8_t { null, boolean, integer, string, array, object };

  struct Node {
    Kind kind = Kind::null;
    bool boolean = false;
    int64_t integer = 0;
    std::string_view key;                        // the member's key, when the parent is an object
    std::string_view text;                       // a string's contents (no quotes)
    uint32_t first_child = 0, next_sibling = 0;  // 0: none (node 0 is the root)
  };

  // Reads `text`; false when it is not canonical JSON as above (the tape is then unusable).
  bool read(std::string_view text);

  // A node of the tape with the interface the payload decoders read (that of Json).
  class Value {
   public:
    Value(const CanonicalText& t, uint32_t i) : t_(&t), i_(i) {}
    bool is_object() const { return n().kind == Kind::object; }
    bool is_array() const { return n().kind == Kind::array; }
    bool is_string() const { return n().kind == Kind::string; }
    bool is_int() const { return n().kind == Kind::integer; }
    bool is_bool() const { return n().kind == Kind::boolean; }
    std::string_view as_string() const { return n().text; }
    int64_t as_int() const { return n().integer; }
    bool as_bool() const { return n().boolean; }
    // The member `key` of an object: a short linear walk (payloads have a few members).
    std::optional<Value> find(std::string_view key) const;

    struct Array {
      const CanonicalText* t;
      uint32_t first;
      struct It {
        const CanonicalText* t;
        uint32_t i;
        Value operator*() const { return Value(*t, i); }
        It& operator++() {
          i = t->nodes_[i].next_sibling;
          return *this;
        }
        bool operator!=(const It& o) const { return i != o.i; }
      };
      It begin() const { return {t, first}; }
      It end() const { return {t, 0}; }
    };
    Array as_array() const { return Array{t_, n().first_child}; }

   private:
    const Node& n() const { return t_->nodes_[i_]; }
    const CanonicalText* t_;
    uint32_t i_;
  };

  Value root() const { return Value(*this, 0); }

 private:
  friend class Value;
  bool value(int depth, uint32_t at);
  uint32_t push();

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<Node> nodes_;
};

}  // namespace ordo

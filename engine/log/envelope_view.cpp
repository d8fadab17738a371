#include "engine/log/envelope_view.hpp"

#include <simdjson.h>

#include <cstring>

#include "engine/log/canonical_scan.hpp"
#include "engine/log/envelope.hpp"

namespace ordo {
namespace {

// A cursor over the line that only moves forward over the exact canonical spelling.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == s_.size(); }

  // A literal of known length, so the compare is inlined (this runs a dozen times a line).
  template <size_t N>
  bool lit(const char (&l)[N]) {
    constexpr size_t n = N - 1;
    if (s_.size() - pos_ < n || !canonical::same_bytes(s_.data() + pos_, l, n)) return false;
    pos_ += n;
    return true;
  }

  bool str(std::string_view& out) { return canonical::scan_plain_string(s_, pos_, out); }

  // A lower-case hex SHA-256 in quotes: fixed length, so no search for the closing quote.
  bool hex64(std::string_view& out) {
    if (s_.size() - pos_ < kSha256HexChars + 2 || s_[pos_] != '"' ||
        s_[pos_ + kSha256HexChars + 1] != '"')
      return false;
    out = s_.substr(pos_ + 1, kSha256HexChars);
    // Copied as they are by export: anything but lower-case hex is not canonical.
    for (char c : out)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    pos_ += kSha256HexChars + 2;
    return true;
  }

  bool num(int64_t& out) { return canonical::scan_int(s_, pos_, out); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<EnvelopeView> view_canonical_envelope(std::string_view line) noexcept {
  // decode_envelope refuses text that is not UTF-8; so does this.
  if (!simdjson::validate_utf8(line.data(), line.size())) return std::nullopt;
  EnvelopeView v;
  Scanner s(line);
  int64_t partition = 0;
  if (!(s.lit("{\"actor\":{\"role\":") && s.str(v.actor_role) && s.lit(",\"sub\":") &&
        s.str(v.actor_sub) && s.lit("},\"causation_id\":") && s.str(v.causation_id) &&
        s.lit(",\"command_id\":") && s.str(v.command_id) && s.lit(",\"correlation_id\":") &&
        s.str(v.correlation_id)))
    return std::nullopt;
  const size_t hash_begin = s.pos();
  if (!(s.lit(",\"hash\":") && s.hex64(v.hash))) return std::nullopt;
  const size_t hash_end = s.pos();
  if (!(s.lit(",\"occurred_at\":") && s.num(v.occurred_at))) return std::nullopt;
  const size_t offset_begin = s.pos();
  if (!(s.lit(",\"offset\":") && s.num(v.offset))) return std::nullopt;
  const size_t offset_end = s.pos();
  if (!(s.lit(",\"partition\":") && s.num(partition) && s.lit(",\"payload\":")))
    return std::nullopt;
  // The members after the payload hold no quote (their strings have no escapes), so they are
  // read from the line's end backwards and the payload is what lies between: its bytes are
  // not scanned here (the hash covers them; the decoder parses them).
  const size_t payload_begin = s.pos();
  std::string_view rest = line.substr(payload_begin);
  constexpr std::string_view kTail = ",\"prev_hash\":\"";
  if (rest.size() < kTail.size() + 2) return std::nullopt;
  // The last `,"prev_hash":"` of the line, found by its commas from the end: the members
  // after it hold four commas (memrchr is vectorised; string_view::rfind would call memcmp
  // at every position).
  size_t tail = 0;
  for (size_t end = rest.size() - kTail.size() + 1; end > 1;) {
    const void* c = memrchr(rest.data() + 1, ',', end - 1);
    if (!c) break;
    const size_t i = static_cast<size_t>(static_cast<const char*>(c) - rest.data());
    if (rest.size() - i >= kTail.size() &&
        canonical::same_bytes(rest.data() + i, kTail.data(), kTail.size())) {
      tail = i;
      break;
    }
    end = i;
  }
  if (tail == 0) return std::nullopt;
  Scanner t(rest.substr(tail));
  if (!(t.lit(",\"prev_hash\":") && t.hex64(v.prev_hash) && t.lit(",\"schema_version\":") &&
        t.num(v.schema_version) && t.lit(",\"stream\":") && t.str(v.stream) &&
        t.lit(",\"stream_version\":") && t.num(v.stream_version) && t.lit(",\"type\":") &&
        t.str(v.type) && t.lit("}") && t.at_end()))
    return std::nullopt;
  v.payload = rest.substr(0, tail);
  if (v.payload.size() < 2 || v.payload.front() != '{' || v.payload.back() != '}')
    return std::nullopt;
  if (partition < 0 || partition > 1'000'000) return std::nullopt;  // decode_envelope's range
  v.partition = static_cast<uint32_t>(partition);
  v.hashed[0] = line.substr(0, hash_begin);
  v.hashed[1] = line.substr(hash_end, offset_begin - hash_end);
  v.hashed[2] = line.substr(offset_end);
  return v;
}

bool hash_matches(const EnvelopeView& v) noexcept {
  if (v.hash.size() != kSha256HexChars) return false;
  char got[kSha256HexChars];
  sha256_hex_of({v.prev_hash, v.hashed[0], v.hashed[1], v.hashed[2]}, got);
  return std::memcmp(got, v.hash.data(), kSha256HexChars) == 0;
}

}  // namespace ordo

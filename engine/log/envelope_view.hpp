#pragma once
// A stored envelope line read in place, for readers that check the log's own bytes (verify):
// no tree, no allocation, every field a view into the line. Only the exact canonical shape
// encode_envelope() writes is accepted (keys in their byte order, no whitespace, envelope
// strings without escapes, plain integers); anything else gives nothing, and the caller falls
// back to decode_envelope(), which accepts any JSON spelling of an envelope. The payload is
// only delimited, not parsed: until hash_matches() holds, nothing says it is even JSON.
//
// Why this is sound for verification: the hash covers the canonical bytes of everything but
// `hash` and `offset`, and those bytes are exactly the line with those two members cut out.
// So when hash_matches() holds, the line *is* the canonical form of what was sealed, and the
// views below are the sealed values. When it does not hold, the caller must decide on the
// decoded envelope (a re-spelled but unaltered line still verifies there).
#include <cstdint>
#include <optional>
#include <string_view>

namespace ordo {

struct EnvelopeView {
  std::string_view actor_role, actor_sub, causation_id, command_id, correlation_id, hash;
  int64_t occurred_at = 0;
  int64_t offset = 0;
  uint32_t partition = 0;
  std::string_view payload;  // the payload object's bytes, braces included
  std::string_view prev_hash;
  int64_t schema_version = 0;
  std::string_view stream;
  int64_t stream_version = 0;
  std::string_view type;
  // The hashed bytes (after prev_hash): the line up to `,"hash":…`, from there up to
  // `,"offset":…`, and the rest.
  std::string_view hashed[3];
};

std::optional<EnvelopeView> view_canonical_envelope(std::string_view line) noexcept;

// SHA-256(prev_hash ‖ hashed bytes) equals the line's own `hash`.
bool hash_matches(const EnvelopeView& v) noexcept;

}  // namespace ordo

#pragma once
// A stored envelope line read in place, for readers that check the log's own bytes (verify):
// no tree, no allocation, every field a view into the line. Only the exact canonical shape
// encode_envelope() writes is accepted (keys in their byte order, no whitespace, envelope
// strings without escapes, plain integers); anything else gives nothing, and the caller falls
// back to decode_envelope(), which accepts any JSON spelling of an envelope. The payload is
// only delimited, not parsed: nothing here says it is even JSON.
//
// What the hash proves, and what it does not: it covers the bytes of everything but `hash`
// and `offset`, and hash_matches() recomputes it over exactly those bytes of the line, so a
// match says the line is what whoever sealed it wrote. It does not say the line is canonical:
// the hash has no key, and a forger can seal non-canonical bytes. So a verifier that wants
// the verdict decode_envelope() + compute_hash() would give must also check that the payload
// bytes are canonical (replay/line_check.cpp reads them with decode_canonical_payload);
// the envelope's own members are checked canonical here (UTF-8, no control bytes, no
// escapes, plain integers, keys in order).

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

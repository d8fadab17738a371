#pragma once
// The event envelope (DESIGN §5) and its canonical encoding and hash chain.
#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "engine/domain/types.hpp"
#include "engine/log/json.hpp"
#include "engine/log/position.hpp"
#include "engine/log/result.hpp"

namespace ordo {

struct Actor {
  std::string sub;
  std::string role;
  friend bool operator==(const Actor&, const Actor&) = default;
};

struct Envelope {
  PartitionId partition{0};
  Offset offset{-1};
  std::string stream;
  int64_t stream_version = 0;
  std::string type;
  int64_t schema_version = 1;
  TimestampMs occurred_at{0};
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  Actor actor;
  Json payload;
  // The payload's canonical bytes, when the writer serialised the event directly (then
  // `payload` is left null: the hot path never builds a tree). Empty on envelopes decoded
  // from the log, which carry `payload`. Encoding prefers these bytes when present.
  std::string payload_bytes;
  std::string prev_hash;  // hex SHA-256 of the previous event of the partition
  std::string hash;       // hex SHA-256(prev_hash ‖ hashed bytes)
  // What seal() hashed, kept so that the appender splices `hash` and `offset` into these
  // bytes (encode_sealed, stored_pieces) instead of encoding every field a second time: the
  // writer and the committer both ran the encoder for every event. Empty unless sealed;
  // right only while the fields are as seal() left them (debug builds check). Not part of
  // the event: equality ignores it, and encode_envelope() does not use it.
  struct Sealed {
    std::string hashed;      // hashed_bytes() as of seal()
    std::string hash;        // the hash seal() gave them: used only while `hash` still is it
    uint32_t hash_at = 0;    // where `,"hash":"…"` goes (after correlation_id)
    uint32_t offset_at = 0;  // where `,"offset":N` goes (after occurred_at)
  } sealed;

  // Equal when every field is, the payload compared by its canonical bytes (however held).
  friend bool operator==(const Envelope& a, const Envelope& b);
};

// The first event of a partition chains to this.
inline const std::string kGenesisHash(64, '0');

// Bytes covered by the hash: the canonical JSON of the envelope without `hash` and without
// `offset`. The offset is left out because a Kafka offset is only known after the write;
// order is still protected, since each event names its predecessor's hash.
std::string hashed_bytes(const Envelope& e);
// SHA-256(prev_hash ‖ hashed_bytes(e)) in lower-case hex.
std::string compute_hash(const Envelope& e);
// Sets `e.prev_hash` and `e.hash`; returns the new hash (the next event's prev_hash).
const std::string& seal(Envelope& e, const std::string& prev_hash);

// The full canonical JSON line of the envelope, as stored in the log and exported, encoded
// from its fields.
std::string encode_envelope(const Envelope& e);
// Whether seal() kept bytes that still go with `e.hash` (not re-hashed some other way since).
inline bool has_sealed_bytes(const Envelope& e) {
  return !e.sealed.hashed.empty() && e.sealed.hash == e.hash;
}
// The same line from the bytes seal() kept, for the appenders of freshly sealed events
// (the offset may have been assigned since): `e` must be unchanged since seal(). From the
// fields when there are no such bytes (an envelope decoded, built or re-hashed by hand).
std::string encode_sealed(const Envelope& e);
// The same line as pieces to concatenate, for writers that gather (RocksDB's SliceParts):
// the sealed bytes with `hash` and `offset` between them, copied nowhere. `e` must be
// sealed (has_sealed_bytes); `offset_member` holds the `,"offset":N` text and must outlive the
// pieces.
inline constexpr size_t kStoredPieces = 7;
std::array<std::string_view, kStoredPieces> stored_pieces(const Envelope& e,
                                                          std::array<char, 32>& offset_member);
Result<Envelope> decode_envelope(std::string_view text);
// The event type of a canonical envelope without decoding it: `type` is the last key, so
// the text ends with `,"type":"<T>"}`. Nothing when the text is not shaped so (then decode).
std::optional<std::string_view> peek_event_type(std::string_view canonical) noexcept;

std::string sha256_hex(std::string_view data);
// SHA-256 of the concatenated parts, as lower-case hex into out[0, kSha256HexChars).
inline constexpr size_t kSha256HexChars = 64;
void sha256_hex_of(std::initializer_list<std::string_view> parts, char* out);

}  // namespace ordo

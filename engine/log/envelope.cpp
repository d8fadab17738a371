#include "engine/log/envelope.hpp"

#include <fmt/core.h>
#include <charconv>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "engine/domain/assert.hpp"
#include "engine/log/canonical_object.hpp"

namespace ordo {
namespace {

// Writes the envelope's canonical JSON directly, keys in byte order, without building a
// tree: this runs for every event, so it is kept cheap. For the hash, `hash` and `offset`
// are left out and, when `sealed` is given, where they go is noted in it.
void write_envelope(const Envelope& e, bool for_hash, std::string& out,
                    Envelope::Sealed* sealed = nullptr) {
  out.reserve(out.size() + 512);
  out += "{\"actor\":{\"role\":";
  write_json_string(e.actor.role, out);
  out += ",\"sub\":";
  write_json_string(e.actor.sub, out);
  out += "},\"causation_id\":";
  write_json_string(e.causation_id, out);
  out += ",\"command_id\":";
  write_json_string(e.command_id, out);
  out += ",\"correlation_id\":";
  write_json_string(e.correlation_id, out);
  if (sealed) sealed->hash_at = static_cast<uint32_t>(out.size());
  if (!for_hash) {
    out += ",\"hash\":";
    write_json_string(e.hash, out);
  }
  out += ",\"occurred_at\":";
  write_int(e.occurred_at.value(), out);
  if (sealed) sealed->offset_at = static_cast<uint32_t>(out.size());
  if (!for_hash) {
    out += ",\"offset\":";
    write_int(e.offset.value(), out);
  }
  out += ",\"partition\":";
  write_int(e.partition.value(), out);
  out += ",\"payload\":";
  if (!e.payload_bytes.empty())
    out += e.payload_bytes;
  else
    write_canonical(e.payload, out);
  out += ",\"prev_hash\":";
  write_json_string(e.prev_hash, out);
  out += ",\"schema_version\":";
  write_int(e.schema_version, out);
  out += ",\"stream\":";
  write_json_string(e.stream, out);
  out += ",\"stream_version\":";
  write_int(e.stream_version, out);
  out += ",\"type\":";
  write_json_string(e.type, out);
  out.push_back('}');
}

}  // namespace

bool operator==(const Envelope& a, const Envelope& b) {
  auto payload_of = [](const Envelope& e) {
    return e.payload_bytes.empty() ? to_canonical(e.payload) : e.payload_bytes;
  };
  return a.partition == b.partition && a.offset == b.offset && a.stream == b.stream &&
         a.stream_version == b.stream_version && a.type == b.type &&
         a.schema_version == b.schema_version && a.occurred_at == b.occurred_at &&
         a.command_id == b.command_id && a.correlation_id == b.correlation_id &&
         a.causation_id == b.causation_id && a.actor == b.actor && a.prev_hash == b.prev_hash &&
         a.hash == b.hash && payload_of(a) == payload_of(b);
}

void sha256_hex_of(std::initializer_list<std::string_view> parts, char* out) {
  // OpenSSL 3's one-shot SHA256() looks the algorithm up (under a lock) on every call; the
  // writer hashes every event, so the algorithm is fetched once and a context kept per thread.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  ORDO_ASSERT(kSha256, "OpenSSL has no SHA256");
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx ctx;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  bool ok = ctx.ctx && EVP_DigestInit_ex(ctx.ctx, kSha256, nullptr) == 1;
  for (std::string_view part : parts)
    ok = ok && EVP_DigestUpdate(ctx.ctx, part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.ctx, digest, &len) == 1 && len == SHA256_DIGEST_LENGTH;
  ORDO_ASSERT(ok, "SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
}

std::string sha256_hex(std::string_view data) {
  std::string out(kSha256HexChars, '\0');
  sha256_hex_of({data}, out.data());
  return out;
}

std::string hashed_bytes(const Envelope& e) {
  std::string out;
  write_envelope(e, true, out);
  return out;
}

std::string compute_hash(const Envelope& e) {
  std::string input;
  input.reserve(e.prev_hash.size() + 512 + e.payload_bytes.size());
  input = e.prev_hash;
  write_envelope(e, true, input);
  return sha256_hex(input);
}

const std::string& seal(Envelope& e, const std::string& prev_hash) {
  e.prev_hash = prev_hash;
  Envelope::Sealed& sealed = e.sealed;
  sealed.hashed.clear();
  write_envelope(e, true, sealed.hashed, &sealed);
  e.hash.resize(kSha256HexChars);
  sha256_hex_of({e.prev_hash, sealed.hashed}, e.hash.data());
  sealed.hash = e.hash;
  return e.hash;
}

std::array<std::string_view, kStoredPieces> stored_pieces(const Envelope& e,
                                                          std::array<char, 32>& offset_member) {
  const Envelope::Sealed& s = e.sealed;
  ORDO_ASSERT(has_sealed_bytes(e) && e.hash.size() == kSha256HexChars && s.hash_at <= s.offset_at &&
                  s.offset_at <= s.hashed.size(),
              "stored_pieces of an envelope that is not sealed");
  constexpr std::string_view kOffsetKey = ",\"offset\":";
  std::copy(kOffsetKey.begin(), kOffsetKey.end(), offset_member.begin());
  // The same digits write_int spells: to_chars writes the shortest decimal, '-' when negative.
  const auto [end, ec] =
      std::to_chars(offset_member.data() + kOffsetKey.size(),
                    offset_member.data() + offset_member.size(), e.offset.value());
  ORDO_ASSERT(ec == std::errc(), "offset text too long");
  const std::string_view h = s.hashed;
#ifndef NDEBUG
  // The sealed bytes are only right while the fields are as seal() left them.
  std::string now;
  write_envelope(e, true, now);
  ORDO_ASSERT(now == h, "an envelope changed after it was sealed");
#endif
  return {h.substr(0, s.hash_at),
          ",\"hash\":\"",
          e.hash,
          "\"",
          h.substr(s.hash_at, s.offset_at - s.hash_at),
          std::string_view(offset_member.data(), static_cast<size_t>(end - offset_member.data())),
          h.substr(s.offset_at)};
}

std::string encode_envelope(const Envelope& e) {
  std::string out;
  write_envelope(e, false, out);
  return out;
}

std::string encode_sealed(const Envelope& e) {
  if (!has_sealed_bytes(e)) return encode_envelope(e);
  std::array<char, 32> offset_member;
  const auto pieces = stored_pieces(e, offset_member);
  size_t size = 0;
  for (std::string_view piece : pieces) size += piece.size();
  std::string out;
  out.reserve(size);
  for (std::string_view piece : pieces) out += piece;
  return out;
}

namespace {

Result<std::string> get_string(const Json& o, std::string_view k) {
  const Json* v = o.find(k);
  if (!v || !v->is_string())
    return Error{fmt::format("envelope field {} missing or not a string", k)};
  return v->as_string();
}

Result<int64_t> get_int(const Json& o, std::string_view k) {
  const Json* v = o.find(k);
  if (!v || !v->is_int())
    return Error{fmt::format("envelope field {} missing or not an integer", k)};
  return v->as_int();
}

}  // namespace

std::optional<std::string_view> peek_event_type(std::string_view t) noexcept {
  constexpr std::string_view kKey = ",\"type\":\"";
  if (t.size() < kKey.size() + 4 || t.front() != '{' || !t.ends_with("\"}")) return std::nullopt;
  const std::string_view body = t.substr(0, t.size() - 2);  // without the closing quote and brace
  const size_t open = body.rfind('"');
  if (open == std::string_view::npos || open + 1 < kKey.size()) return std::nullopt;
  if (body.substr(open + 1 - kKey.size(), kKey.size()) != kKey) return std::nullopt;
  const std::string_view type = body.substr(open + 1);
  if (type.empty() || type.find('\\') != std::string_view::npos) return std::nullopt;
  return type;
}

Result<Envelope> decode_envelope(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return parsed.error();
  const Json& o = parsed.value();
  if (!o.is_object()) return Error{"envelope is not an object"};
  Envelope e;
#define ORDO_GET(kind, field, key) \
  {                                \
    auto r = get_##kind(o, key);   \
    if (!r) return r.error();      \
    field = std::move(r.value());  \
  }
  int64_t partition = 0, offset = 0, occurred = 0;
  ORDO_GET(int, partition, "partition");
  ORDO_GET(int, offset, "offset");
  ORDO_GET(string, e.stream, "stream");
  ORDO_GET(int, e.stream_version, "stream_version");
  ORDO_GET(string, e.type, "type");
  ORDO_GET(int, e.schema_version, "schema_version");
  ORDO_GET(int, occurred, "occurred_at");
  ORDO_GET(string, e.command_id, "command_id");
  ORDO_GET(string, e.correlation_id, "correlation_id");
  ORDO_GET(string, e.causation_id, "causation_id");
  ORDO_GET(string, e.prev_hash, "prev_hash");
  ORDO_GET(string, e.hash, "hash");
#undef ORDO_GET
  if (partition < 0 || partition > 1'000'000) return Error{"partition out of range"};
  e.partition = PartitionId{uint32_t(partition)};
  e.offset = Offset{offset};
  e.occurred_at = TimestampMs{occurred};
  const Json* actor = o.find("actor");
  if (!actor || !actor->is_object()) return Error{"envelope field actor missing"};
  auto sub = get_string(*actor, "sub");
  auto role = get_string(*actor, "role");
  if (!sub || !role) return Error{"actor needs sub and role"};
  // Only the two hashed members: anything else would ride along unprotected by the chain.
  if (actor->as_object().size() != 2) return Error{"actor has unknown fields"};
  e.actor = Actor{sub.value(), role.value()};
  const Json* payload = o.find("payload");
  if (!payload || !payload->is_object()) return Error{"envelope field payload missing"};
  e.payload = *payload;
  if (o.as_object().size() != 14) return Error{"envelope has unknown fields"};
  return e;
}

}  // namespace ordo

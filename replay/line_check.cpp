#include "replay/line_check.hpp"

#include <fmt/core.h>
#include <simdjson.h>

#include "engine/log/envelope_view.hpp"
#include "engine/log/event_codec.hpp"

namespace ordo::replay {
namespace {

bool stored_where_it_claims(const LineBatch::Line& l, int64_t partition, int64_t offset) {
  return l.stored_partition < 0 || (l.stored_partition == partition && l.stored_offset == offset);
}

// The in-place check; nothing when the line must be decoded in full instead. `buffer_end`
// is where the readable bytes behind the line end; `scratch` is reused for the re-encoding.
std::optional<CheckedLine> check_in_place(const LineBatch::Line& l, std::string_view text,
                                          const char* buffer_end, std::string& scratch) {
  auto v = view_canonical_envelope(text);
  if (!v || !stored_where_it_claims(l, v->partition, v->offset) || !hash_matches(*v))
    return std::nullopt;
  // The payload is read in place: the rest of the line (`prev_hash` and on, at least 80
  // bytes) is simdjson's read-ahead padding.
  const bool padded = buffer_end - (v->payload.data() + v->payload.size()) >=
                      static_cast<ptrdiff_t>(simdjson::SIMDJSON_PADDING);
  auto ev = decode_event_text(v->type, v->schema_version, v->payload, padded);
  if (!ev) return std::nullopt;  // the full decode gives the verdict and its wording
  // The hash matched the bytes as they are; the old verdict hashed their canonical form. The
  // two agree when the payload is canonical, i.e. what the writer makes of the decoded event
  // (an unknown member, another spelling or a duplicate key takes the full decode instead).
  scratch.clear();
  write_event_payload(ev.value(), scratch);
  if (scratch != v->payload) return std::nullopt;
  EventFacts f{PartitionId{v->partition},
               Offset{v->offset},
               v->stream,
               v->stream_version,
               TimestampMs{v->occurred_at},
               v->command_id,
               v->prev_hash,
               v->hash,
               true};
  return CheckedLine{f, std::move(ev)};
}

}  // namespace

void check_lines(CheckedBatch& out) {
  out.events.clear();
  out.decoded.clear();
  out.error.reset();
  out.error_line = 0;
  out.block_lines = out.batch.block ? out.batch.split_block() : 0;
  out.events.reserve(out.batch.lines.size());
  std::string scratch;
  for (const auto& l : out.batch.lines) {
    const std::string_view text = out.batch.text(l);
    if (auto c =
            check_in_place(l, text, out.batch.bytes.data() + out.batch.bytes.size(), scratch)) {
      out.events.push_back(std::move(*c));
      continue;
    }
    auto e = decode_envelope(text);
    if (!e) {
      out.error_line = l.line_no;
      out.error = l.line_no > 0
                      ? "not a valid event envelope: " + e.error().message
                      : fmt::format("partition {} offset {}: undecodable event: {}",
                                    l.stored_partition, l.stored_offset, e.error().message);
      break;
    }
    if (!stored_where_it_claims(l, e->partition.value(), e->offset.value())) {
      out.error = fmt::format("partition {} offset {}: event claims another position",
                              l.stored_partition, l.stored_offset);
      break;
    }
    const Envelope& d = out.decoded.emplace_back(std::move(e.value()));
    EventFacts f{d.partition,  d.offset,    d.stream, d.stream_version,         d.occurred_at,
                 d.command_id, d.prev_hash, d.hash,   compute_hash(d) == d.hash};
    out.events.push_back(CheckedLine{f, decode_event(d.type, d.schema_version, d.payload)});
  }
}

}  // namespace ordo::replay

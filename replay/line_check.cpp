#include "replay/line_check.hpp"

#include <fmt/core.h>

#include "engine/log/canonical_text.hpp"
#include "engine/log/envelope_view.hpp"
#include "engine/log/event_codec.hpp"

namespace ordo::replay {
namespace {

// The in-place check into `c`; false when the line must be decoded in full instead (and
// `c` holds nothing of meaning).
bool check_in_place(const LineBatch::Line& l, std::string_view text, CheckedLine& c) {
  auto v = view_canonical_envelope(text);
  if (!v || !stored_where_it_claims(l, v->partition, v->offset) || !hash_matches(*v)) return false;
  // The hash matched the bytes as they are; the full decode hashes their canonical form.
  // The two agree when the payload is canonical, which decode_canonical_payload insists on
  // (another spelling or a duplicate key takes the full decode instead), as the envelope
  // view does for the envelope's own members.
  Event& ev = c.event.value();
  if (!decode_canonical_payload(v->type, v->schema_version, v->payload, ev))
    return false;  // the full decode gives the verdict and its wording
  c.facts = EventFacts{PartitionId{v->partition},
                       Offset{v->offset},
                       v->stream,
                       v->stream_version,
                       TimestampMs{v->occurred_at},
                       v->command_id,
                       v->prev_hash,
                       v->hash,
                       true,
                       v->stream == event_stream(ev)};
  return true;
}

}  // namespace

Status read_stored_lines(
    EventSource& source, size_t batch_lines,
    const std::function<Status(const EnvelopeView&, std::string_view)>& in_place,
    const std::function<Status(const Envelope&)>& decoded) {
  LineBatch b;
  CanonicalText payload;
  int64_t file_lines = 0;  // lines of a file's blocks read before this one, for messages
  for (;;) {
    b.clear();
    auto r = source.next_lines(b, batch_lines);
    if (!r) return Error{r.error().message};
    if (!r.value()) return {};
    const int64_t block_lines = b.block ? b.split_block() : 0;
    for (const auto& l : b.lines) {
      const std::string_view text = b.text(l);
      Status s;
      if (auto v = view_canonical_envelope(text);
          v && stored_where_it_claims(l, v->partition, v->offset) && payload.read(v->payload)) {
        s = in_place(*v, text);
      } else {
        auto e = decode_stored_line(l, text);
        if (!e)
          return Error{l.line_no > 0 ? fmt::format("{} line {}: {}", b.origin,
                                                   file_lines + l.line_no, e.error().message)
                                     : e.error().message};
        s = decoded(e.value());
      }
      if (!s) return s;
    }
    file_lines += block_lines;
  }
}

Result<Envelope> decode_stored_line(const LineBatch::Line& l, std::string_view text) {
  auto e = decode_envelope(text);
  if (!e)
    return Error{l.line_no > 0
                     ? "not a valid event envelope: " + e.error().message
                     : fmt::format("partition {} offset {}: undecodable event: {}",
                                   l.stored_partition, l.stored_offset, e.error().message)};
  if (!stored_where_it_claims(l, e->partition.value(), e->offset.value()))
    return Error{fmt::format("partition {} offset {}: event claims another position",
                             l.stored_partition, l.stored_offset)};
  return e;
}

EventFacts facts_of(const Envelope& e, const Result<Event>& ev) {
  return EventFacts{e.partition,
                    e.offset,
                    e.stream,
                    e.stream_version,
                    e.occurred_at,
                    e.command_id,
                    e.prev_hash,
                    e.hash,
                    compute_hash(e) == e.hash,
                    ev && e.stream == event_stream(ev.value())};
}

void check_lines(CheckedBatch& out) {
  out.events.clear();
  out.decoded.clear();
  out.error.reset();
  out.error_line = 0;
  out.block_lines = out.batch.block ? out.batch.split_block() : 0;
  out.events.reserve(out.batch.lines.size());
  for (const auto& l : out.batch.lines) {
    const std::string_view text = out.batch.text(l);
    if (check_in_place(l, text, out.events.emplace_back())) continue;
    out.events.pop_back();
    auto e = decode_stored_line(l, text);
    if (!e) {
      out.error_line = l.line_no;
      out.error = e.error().message;
      break;
    }
    const Envelope& d = out.decoded.emplace_back(std::move(e.value()));
    auto ev = decode_event(d.type, d.schema_version, d.payload);
    out.events.push_back(CheckedLine{facts_of(d, ev), std::move(ev)});
  }
}

}  // namespace ordo::replay

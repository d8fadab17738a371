#pragma once
// Verify's first stage, which needs no state and so runs on worker threads: each stored line
// is read, its hash recomputed and its payload decoded, ready for the fold (Verifier), which
// is sequential per partition. Canonical lines are checked in place (EnvelopeView); any other
// line, or one whose hash does not match in place, is decoded in full and judged on its
// decoded form, so the verdict is the same as decoding every line would give.
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/domain/events.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/envelope_view.hpp"
#include "engine/log/result.hpp"
#include "replay/event_source.hpp"

namespace ordo::replay {

// What the fold needs of one event; the views point into the batch's lines or its decoded
// envelopes.
struct EventFacts {
  PartitionId partition{0};
  Offset offset{-1};
  std::string_view stream;
  int64_t stream_version = 0;
  TimestampMs occurred_at{0};
  std::string_view command_id, prev_hash, hash;
  bool hash_ok = false;  // the hash recomputed from the content equals `hash`
  // `stream` is the stream of the decoded payload (checked here, where it costs the fold
  // nothing; meaningless when the payload does not decode).
  bool stream_ok = false;
};

// The facts of an envelope decoded in full, and of its payload as decoded.
EventFacts facts_of(const Envelope& e, const Result<Event>& ev);

struct CheckedLine {
  EventFacts facts;
  Result<Event> event = Event{};  // the decoded payload, or why it does not decode
};

struct CheckedBatch {
  LineBatch batch;
  std::deque<Envelope> decoded;  // lines that were not checked in place
  std::vector<CheckedLine> events;
  // Set when the line after the last of `events` is not an envelope (or not where it is
  // stored): the source cannot be read past it. For a file, `error_line` is its number
  // within the block, and the message still lacks the "PATH line N: " the caller prefixes.
  std::optional<std::string> error;
  int64_t error_line = 0;
  int64_t block_lines = 0;  // lines in a file's block, blank ones included
};

// A line from a log is where the log stored it (a file's lines have no stored position).
inline bool stored_where_it_claims(const LineBatch::Line& l, int64_t partition, int64_t offset) {
  return l.stored_partition < 0 || (l.stored_partition == partition && l.stored_offset == offset);
}

// A stored line decoded in full (the path for a line the in-place readers decline), with the
// check that a log stored it where it claims to be; the error is worded as verify reports it
// (a file's line still lacks the "PATH line N: " the caller prefixes).
Result<Envelope> decode_stored_line(const LineBatch::Line& l, std::string_view text);

// The read export and stats share: `source`'s stored lines in batches of `batch_lines`. A line
// that is canonical (its envelope read in place, its payload accepted by CanonicalText, a
// log's line stored where it claims) goes to `in_place` with its text; any other line is
// decoded in full and goes to `decoded`. No hash is checked. Stops at the first line that is
// no envelope (its error names the line, in a file "PATH line N: …"), at the source's error,
// or at a callback's error, and returns it.
Status read_stored_lines(
    EventSource& source, size_t batch_lines,
    const std::function<Status(const EnvelopeView&, std::string_view)>& in_place,
    const std::function<Status(const Envelope&)>& decoded);

// Checks `b.batch` into `b.events` (and `b.decoded`, `b.error`), replacing what they held;
// their buffers are kept, so a batch can be refilled and checked again without allocating.
void check_lines(CheckedBatch& b);

}  // namespace ordo::replay

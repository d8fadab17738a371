#pragma once
// Domain events ↔ JSON payloads of the log. `schema_version` is per event type; an old
// version is upcast to the current one when decoded (events are never rewritten).
#include <string>
#include <string_view>
#include <vector>

#include "engine/domain/events.hpp"
#include "engine/log/json.hpp"
#include "engine/log/result.hpp"

namespace ordo {

// The schema version written for new events of this type.
int64_t current_schema_version(std::string_view type) noexcept;

Json encode_event_payload(const Event& e);
// Appends the canonical bytes of the payload: the same bytes as
// to_canonical(encode_event_payload(e)), written directly (the writer's hot path).
void write_event_payload(const Event& e, std::string& out);
// Appends priced lines as a canonical array of {qty, sku, unit_price_minor} (OrderPlaced's
// `lines`, and the order snapshot's).
void write_priced_lines(const std::vector<PricedLine>& lines, std::string& out);
Result<Event> decode_event(std::string_view type, int64_t schema_version, const Json& payload);
// The same read in place from the payload's text, without a tree (verify's path for every
// stored event), but only when that text is canonical — to_canonical() of the value it
// denotes, byte for byte (canonical_text.hpp) — and decodes. Nothing otherwise: the caller
// then parses the text and takes decode_event, which gives the verdict and its wording.
// Decodes into `out`, which holds nothing of meaning when the answer is false.
bool decode_canonical_payload(std::string_view type, int64_t schema_version,
                              std::string_view payload, Event& out);

}  // namespace ordo

#include "replay/csv.hpp"

#include <fmt/core.h>

#include <map>

#include "engine/log/event_codec.hpp"

namespace ordo::replay {
namespace {

constexpr const char* kEnvelopeColumns[] = {
    "partition",   "offset",     "stream",         "stream_version", "type",      "schema_version",
    "occurred_at", "command_id", "correlation_id", "causation_id",   "actor_sub", "actor_role",
    "prev_hash",   "hash"};

// Flattens a payload into column → text.
void flatten(const Json& v, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object())
      flatten(child, prefix.empty() ? k : prefix + "." + k, out);
  } else if (v.is_string()) {
    out[prefix] = v.as_string();
  } else {
    out[prefix] = to_canonical(v);  // numbers, booleans, null and arrays as JSON text
  }
}

}  // namespace

void append_csv_field(std::string_view f, std::string& out) {
  if (f.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(f);
    return;
  }
  out.push_back('"');
  for (char c : f) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

Status CsvWriter::write(const Envelope& e) {
  auto ev = decode_event(e.type, e.schema_version, e.payload);
  if (!ev)
    return Error{fmt::format("partition {} offset {}: {}", e.partition.value(), e.offset.value(),
                             ev.error().message)};
  std::map<std::string, std::string> fields;
  flatten(encode_event_payload(ev.value()), "", fields);
  line_.clear();
  if (!header_done_) {
    for (const auto& [k, _] : fields) payload_columns_.push_back(k);
    bool first = true;
    for (const char* c : kEnvelopeColumns) {
      if (!first) line_.push_back(',');
      first = false;
      append_csv_field(c, line_);
    }
    for (const auto& c : payload_columns_) {
      line_.push_back(',');
      append_csv_field(c, line_);
    }
    line_ += "\r\n";
    header_done_ = true;
  }
  const std::string cells[] = {std::to_string(e.partition.value()),
                               std::to_string(e.offset.value()),
                               e.stream,
                               std::to_string(e.stream_version),
                               e.type,
                               std::to_string(e.schema_version),
                               std::to_string(e.occurred_at.value()),
                               e.command_id,
                               e.correlation_id,
                               e.causation_id,
                               e.actor.sub,
                               e.actor.role,
                               e.prev_hash,
                               e.hash};
  bool first = true;
  for (const auto& c : cells) {
    if (!first) line_.push_back(',');
    first = false;
    append_csv_field(c, line_);
  }
  for (const auto& c : payload_columns_) {
    line_.push_back(',');
    auto it = fields.find(c);
    if (it != fields.end()) append_csv_field(it->second, line_);
  }
  line_ += "\r\n";
  if (std::fwrite(line_.data(), 1, line_.size(), out_) != line_.size())
    return Error{"write failed"};
  return {};
}

}  // namespace ordo::replay

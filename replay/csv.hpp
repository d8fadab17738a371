#pragma once
// CSV for analysts: one file per event type, envelope columns then the payload's fields
// flattened (nested objects as `a.b`, arrays as their canonical JSON text). RFC 4180: fields
// with a comma, quote, CR or LF are quoted, quotes doubled, records end in CRLF.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/log/envelope.hpp"
#include "engine/log/result.hpp"

namespace ordo::replay {

void append_csv_field(std::string_view field, std::string& out);

// Writes the events of one type. The payload is first upcast to the type's current schema
// (decode, then encode), so every row of a type has the same columns whatever version it was
// recorded in; the `schema_version` column still says what was recorded.
class CsvWriter {
 public:
  explicit CsvWriter(std::FILE* out) : out_(out) {}
  // Writes the header before the first row.
  Status write(const Envelope& e);

 private:
  std::FILE* out_;
  std::vector<std::string> payload_columns_;  // fixed by the first event
  bool header_done_ = false;
  std::string line_;
};

}  // namespace ordo::replay

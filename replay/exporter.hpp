#pragma once
// `ordo replay export`: the events a filter keeps, as JSON Lines (each line byte-identical to
// the log's canonical envelope, so an export verifies and re-exports to the same bytes) or as
// CSV per event type.
#include <string>

#include "replay/event_source.hpp"
#include "replay/filter.hpp"
#include "replay/verifier.hpp"

namespace ordo::replay {

enum class ExportFormat { jsonl, csv };

struct ExportOptions {
  EventFilter filter;
  ExportFormat format = ExportFormat::jsonl;
  // jsonl: a file, or stdout when empty or "-". csv with filter.type: the same. csv without a
  // type: a directory (created) that receives one `{Type}.csv` per event type.
  std::string out;
};

struct ExportSummary {
  int64_t read = 0;
  int64_t written = 0;
};

Result<ExportSummary> export_events(EventSource& source, const ExportOptions& options,
                                    const Progress& progress = {});

}  // namespace ordo::replay

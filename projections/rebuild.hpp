#pragma once
// Rebuilds the views from the log into a fresh schema and swaps it in atomically, so
// readers see either the old views or the complete new ones, never a half-built one.
#include <iosfwd>
#include <string>

#include "engine/log/event_log.hpp"
#include "engine/log/result.hpp"

namespace ordo::projections {

struct RebuildReport {
  uint64_t events = 0;
  std::string built_schema;  // the schema the views were built in before the swap
};

// Builds `schema`'s views anew from every partition of `log`, then, in one transaction,
// renames the old schema away and the new one into its place, and drops the old one.
// A running projector notices the moved checkpoint and continues from it.
Result<RebuildReport> rebuild_views(EventLog& log, const std::string& conninfo,
                                    const std::string& schema, std::ostream& progress);

}  // namespace ordo::projections

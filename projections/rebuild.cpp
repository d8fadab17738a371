#include "projections/rebuild.hpp"

#include <fmt/core.h>

#include <chrono>
#include <ostream>
#include <pqxx/pqxx>

#include "projections/migrations.hpp"
#include "projections/view_writer.hpp"

namespace ordo::projections {

Result<RebuildReport> rebuild_views(EventLog& log, const std::string& conninfo,
                                    const std::string& schema, std::ostream& progress) {
  RebuildReport report;
  const auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  report.built_schema = fmt::format("{}_rebuild_{}", schema, stamp);
  try {
    pqxx::connection conn(conninfo);
    apply_migrations(conn, report.built_schema);
    ViewWriter writer(conn, report.built_schema);
    for (uint32_t p = 0; p < log.partition_count(); ++p) {
      int64_t position = -1;
      for (;;) {
        auto events = log.read(PartitionId{p}, Offset{position + 1}, 4000);
        if (!events) return Error{"log read: " + events.error().message};
        if (events->empty()) break;
        position = writer.apply_batch(p, events.value(), position);
        report.events += events->size();
        if (report.events % 100'000 < events->size())
          progress << "rebuild: " << report.events << " events\n" << std::flush;
      }
    }
    // The swap: one transaction, holding every partition's writer lock of the live schema,
    // so no projector batch lands in the old views mid-swap.
    const std::string old_name = fmt::format("{}_old_{}", schema, stamp);
    {
      pqxx::work w(conn);
      for (uint32_t p = 0; p < log.partition_count(); ++p)
        w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1), $2)", schema,
                      static_cast<int>(p));
      auto exists = w.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema);
      if (!exists.empty())
        w.exec("ALTER SCHEMA " + quote_ident(schema) + " RENAME TO " + quote_ident(old_name));
      w.exec("ALTER SCHEMA " + quote_ident(report.built_schema) + " RENAME TO " +
             quote_ident(schema));
      w.commit();
    }
    {
      pqxx::work w(conn);
      w.exec("DROP SCHEMA IF EXISTS " + quote_ident(old_name) + " CASCADE");
      w.commit();
    }
  } catch (const std::exception& e) {
    return Error{std::string("rebuild: ") + e.what()};
  }
  progress << "rebuild: " << report.events << " events into " << schema << "\n";
  return report;
}

}  // namespace ordo::projections

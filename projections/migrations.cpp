#include "projections/migrations.hpp"

namespace ordo::projections {

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void apply_migrations(pqxx::connection& c, const std::string& schema) {
  const std::string q = quote_ident(schema);
  {
    pqxx::work w(c);
    w.exec("SELECT pg_advisory_xact_lock(7250001)");
    w.exec("CREATE SCHEMA IF NOT EXISTS " + q);
    w.exec("CREATE TABLE IF NOT EXISTS " + q +
           ".schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
    w.commit();
  }
  for (const auto& m : migrations()) {
    pqxx::work w(c);
    w.exec("SELECT pg_advisory_xact_lock(7250001)");
    w.exec("SET LOCAL search_path TO " + q);
    auto r = w.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
    if (!r.empty()) continue;
    w.exec(m.sql);
    w.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                  std::string(m.name));
    w.commit();
  }
}

}  // namespace ordo::projections

#pragma once
// Versioned schema migrations for the views, embedded from schemas/sql at build time.
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace ordo::projections {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& migrations();

// Creates `schema` if missing and applies the migrations it has not seen, each in its own
// transaction, under an advisory lock so two processes never migrate at once.
// Throws pqxx exceptions on failure.
void apply_migrations(pqxx::connection& c, const std::string& schema);

// Quotes an identifier for SQL (schema names are configuration, never user input, but
// quoting keeps them safe anyway).
std::string quote_ident(const std::string& s);

}  // namespace ordo::projections

#pragma once
// The money views' half of the writer: COPY into staging tables, then one upsert per view,
// inside the batch's transaction (projections/view_writer.cpp owns it and the checkpoint).
#include <pqxx/pqxx>

#include "projections/money_changes.hpp"

namespace ordo::projections {

// Temporary staging tables of the money views (ON COMMIT DELETE ROWS), for the session.
extern const char* const kMoneyStagingDdl;

// Writes `changes` in `w`. Upserts run in a fixed order (payouts before wallets, whose
// released holds are read from the payouts rows) and lock rows in key order.
void write_money_changes(pqxx::work& w, const MoneyChanges& changes);

}  // namespace ordo::projections

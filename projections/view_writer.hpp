#pragma once
// Writes folded batches into PostgreSQL: each batch is one transaction that locks the
// partition's checkpoint, skips events it already holds, COPYs into staging tables,
// upserts the views with INSERT … ON CONFLICT, and moves every projection's checkpoint —
// so a crash or a redelivery never applies a row twice.
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "engine/log/envelope.hpp"

namespace ordo::projections {

// The projections this writer maintains; each has a checkpoint row per partition.
inline const std::vector<std::string> kProjections = {"events", "products", "orders", "sales_daily"};

class ViewWriter {
 public:
  // `schema` must already be migrated.
  ViewWriter(pqxx::connection& c, std::string schema);

  // Applies `events` (all of partition `p`, in offset order) and returns the partition's
  // checkpoint afterwards. Throws pqxx exceptions; then nothing was applied.
  int64_t apply_batch(uint32_t p, const std::vector<Envelope>& events);

  // The checkpoint of partition `p` (-1: nothing applied).
  int64_t checkpoint(uint32_t p);

 private:
  pqxx::connection& c_;
  std::string schema_;
};

// "YYYY-MM-DD HH:MM:SS.mmm+00" for COPY into timestamptz columns.
std::string utc_timestamp(int64_t ms);

}  // namespace ordo::projections

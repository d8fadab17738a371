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
inline const std::vector<std::string> kProjections = {"events",      "products", "orders",
                                                      "sales_daily", "wallets",  "ledger_entries",
                                                      "escrows",     "payments", "payouts"};

class ViewWriter {
 public:
  // `schema` must already be migrated.
  ViewWriter(pqxx::connection& c, std::string schema);

  // Applies `events` (all of partition `p`, in offset order, read after `expected`, the
  // caller's idea of the checkpoint) and returns the partition's checkpoint afterwards.
  // When the stored checkpoint differs from `expected` (the views were rebuilt or restored
  // under the caller), nothing is applied and the stored checkpoint is returned, so the
  // caller re-reads the log from there. Throws pqxx exceptions; then nothing was applied.
  int64_t apply_batch(uint32_t p, const std::vector<Envelope>& events, int64_t expected);

  // Writes folded changes in `w` (COPY into staging + upserts), without touching the
  // checkpoint: the part of apply_batch a benchmark compares against.
  static void write_changes(pqxx::work& w, const struct ViewChanges& changes);

  // The checkpoints of partitions 0..count-1, in one query (-1: nothing applied).
  std::vector<int64_t> checkpoints(uint32_t count);

 private:
  pqxx::connection& c_;
  std::string schema_;
};

// "YYYY-MM-DD HH:MM:SS.mmm+00" for COPY into timestamptz columns.
std::string utc_timestamp(int64_t ms);

}  // namespace ordo::projections

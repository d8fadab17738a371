#pragma once
// The pure half of the projections: a batch of events folded into the row changes of each
// view. No SQL and no I/O here; the writer turns these into COPY + upserts.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "engine/domain/events.hpp"
#include "engine/log/envelope.hpp"
#include "projections/money_changes.hpp"

namespace ordo::projections {

inline constexpr int64_t kUnset = -1;

struct ProductChange {
  bool defined = false;  // ProductDefined in this batch: insert the row
  std::string seller_id, name, currency;
  int64_t price_minor = 0;
  int64_t on_hand = kUnset;   // absolute on hand after this batch, when it changed
  int64_t on_hand_delta = 0;  // commits and restocks while the absolute is unknown
  int64_t reserved_delta = 0;
  int64_t version = 0;  // highest stream version seen
  int64_t updated_ms = 0;
};

struct OrderChange {
  bool placed = false;  // OrderPlaced in this batch: insert the row and its lines
  std::string customer_id, seller_id, currency;
  int64_t total_minor = 0;
  int64_t placed_ms = 0;
  int64_t expires_ms = 0;
  std::vector<PricedLine> lines;
  std::string status;  // status after this batch
  int64_t version = 0;
  int64_t updated_ms = 0;
  uint32_t partition = 0;
  int64_t last_offset = 0;
};

struct SalesDelta {
  int64_t orders = 0, units = 0;
  // Logs written before totals were capped at 10^15 may hold orders up to INT64_MAX: two of
  // them in one batch would overflow an int64 sum (the column is numeric, migration 003).
  __int128 gross_minor = 0;
};

// `v` in decimal, for a numeric column.
std::string decimal_string(__int128 v);

// An order that left `reserved` without a sale, to be counted against its placement day.
struct OrderClosed {
  std::string order_id;
  bool expired = false;
};

struct ViewChanges {
  std::vector<const Envelope*> events;
  std::map<std::string, ProductChange> products;
  std::map<std::string, OrderChange> orders;
  std::map<std::tuple<std::string, std::string, std::string>, SalesDelta>
      sales;  // day, seller, currency
  std::vector<OrderClosed> closed;
  MoneyChanges money;

  void add(const Envelope& envelope, const Event& event);
  bool empty() const { return events.empty(); }
};

// "YYYY-MM-DD" of a UTC instant given in milliseconds since the epoch.
std::string utc_day(int64_t ms);

}  // namespace ordo::projections

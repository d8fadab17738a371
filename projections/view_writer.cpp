#include "projections/view_writer.hpp"

#include <fmt/core.h>

#include "engine/log/event_codec.hpp"
#include "projections/migrations.hpp"
#include "projections/money_writer.hpp"
#include "projections/view_changes.hpp"

namespace ordo::projections {

std::string utc_timestamp(int64_t ms) {
  int64_t day_ms = ((ms % 86'400'000) + 86'400'000) % 86'400'000;
  return fmt::format("{} {:02}:{:02}:{:02}.{:03}+00", utc_day(ms), day_ms / 3'600'000,
                     day_ms / 60'000 % 60, day_ms / 1000 % 60, day_ms % 1000);
}

namespace {

constexpr const char* kEpoch = "timestamptz 'epoch' + interval '1 millisecond' * ";

const char* kStagingDdl = R"(
CREATE TEMP TABLE IF NOT EXISTS stage_products (
  sku text, seller_id text, name text, currency text, price_minor bigint, on_hand bigint,
  on_hand_delta bigint, reserved_delta bigint, version bigint, updated_ms bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_orders (
  order_id text, customer_id text, seller_id text, currency text, total_minor bigint,
  placed_ms bigint, expires_ms bigint, status text, version bigint, updated_ms bigint,
  partition int, last_offset bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_sales (
  day date, seller_id text, currency text, orders bigint, units bigint, gross_minor numeric)
  ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_closed (order_id text, expired boolean) ON COMMIT DELETE ROWS;
)";

// kProjections as a PostgreSQL text[] literal.
std::string projection_array() {
  std::string out = "{";
  for (const auto& name : kProjections) out += (out.size() > 1 ? "," : "") + name;
  return out + "}";
}

}  // namespace

ViewWriter::ViewWriter(pqxx::connection& c, std::string schema)
    : c_(c), schema_(std::move(schema)) {
  pqxx::work w(c_);
  w.exec(kStagingDdl);
  w.exec(kMoneyStagingDdl);
  w.commit();
}

void ViewWriter::write_changes(pqxx::work& w, const ViewChanges& changes) {
  {
    pqxx::stream_to s(
        w, "events",
        std::vector<std::string>{"partition", "log_offset", "stream", "stream_version", "type",
                                 "schema_version", "occurred_at", "command_id", "correlation_id",
                                 "causation_id", "actor_sub", "actor_role", "payload", "prev_hash",
                                 "hash"});
    for (const Envelope* e : changes.events)
      s << std::make_tuple(static_cast<int64_t>(e->partition.value()), e->offset.value(), e->stream,
                           e->stream_version, e->type, e->schema_version,
                           utc_timestamp(e->occurred_at.value()), e->command_id, e->correlation_id,
                           e->causation_id, e->actor.sub, e->actor.role, to_canonical(e->payload),
                           e->prev_hash, e->hash);
    s.complete();
  }
  if (!changes.products.empty()) {
    pqxx::stream_to s(
        w, "stage_products",
        std::vector<std::string>{"sku", "seller_id", "name", "currency", "price_minor", "on_hand",
                                 "on_hand_delta", "reserved_delta", "version", "updated_ms"});
    for (const auto& [sku, c] : changes.products)
      s << std::make_tuple(sku, c.seller_id, c.name, c.currency, c.price_minor, c.on_hand,
                           c.on_hand_delta, c.reserved_delta, c.version, c.updated_ms);
    s.complete();
    w.exec(std::string(R"(
      INSERT INTO products AS p (sku, seller_id, name, price_minor, currency, on_hand, reserved, version, updated_at)
      SELECT sku, seller_id, name, price_minor, currency, on_hand, reserved_delta, version, )") +
           kEpoch + R"(updated_ms
      FROM stage_products
      ON CONFLICT (sku) DO UPDATE SET
        on_hand = CASE WHEN EXCLUDED.on_hand >= 0 THEN EXCLUDED.on_hand ELSE p.on_hand END,
        reserved = p.reserved + EXCLUDED.reserved,
        version = GREATEST(p.version, EXCLUDED.version),
        updated_at = GREATEST(p.updated_at, EXCLUDED.updated_at))");
    // Commits and restocks of products whose absolute on hand this batch does not know.
    w.exec(R"(
      UPDATE products p SET on_hand = p.on_hand + s.on_hand_delta
      FROM stage_products s WHERE p.sku = s.sku AND s.on_hand_delta <> 0)");
  }
  if (!changes.orders.empty()) {
    {
      pqxx::stream_to s(
          w, "stage_orders",
          std::vector<std::string>{"order_id", "customer_id", "seller_id", "currency",
                                   "total_minor", "placed_ms", "expires_ms", "status", "version",
                                   "updated_ms", "partition", "last_offset"});
      for (const auto& [id, c] : changes.orders)
        s << std::make_tuple(id, c.customer_id, c.seller_id, c.currency, c.total_minor, c.placed_ms,
                             c.expires_ms, c.status, c.version, c.updated_ms,
                             static_cast<int64_t>(c.partition), c.last_offset);
      s.complete();
    }
    w.exec(std::string(R"(
      INSERT INTO orders AS o (order_id, customer_id, seller_id, status, total_minor, currency,
                               placed_at, expires_at, version, updated_at, partition, last_offset)
      SELECT order_id, customer_id, seller_id, status, total_minor, currency, )") +
           kEpoch + "placed_ms, " + kEpoch + "expires_ms, version, " + kEpoch +
           R"(updated_ms, partition, last_offset
      FROM stage_orders
      ON CONFLICT (order_id) DO UPDATE SET
        status = EXCLUDED.status,
        version = GREATEST(o.version, EXCLUDED.version),
        updated_at = GREATEST(o.updated_at, EXCLUDED.updated_at),
        last_offset = GREATEST(o.last_offset, EXCLUDED.last_offset))");
    bool any_lines = false;
    for (const auto& [id, c] : changes.orders) any_lines |= c.placed;
    if (any_lines) {
      pqxx::stream_to s(
          w, "order_lines",
          std::vector<std::string>{"order_id", "line_no", "sku", "qty", "unit_price_minor"});
      for (const auto& [id, c] : changes.orders) {
        if (!c.placed) continue;
        int64_t n = 0;
        for (const auto& l : c.lines)
          s << std::make_tuple(id, ++n, l.sku.value(), l.qty.value(), l.unit_price_minor.value());
      }
      s.complete();
    }
  }
  if (!changes.sales.empty()) {
    pqxx::stream_to s(
        w, "stage_sales",
        std::vector<std::string>{"day", "seller_id", "currency", "orders", "units", "gross_minor"});
    for (const auto& [key, d] : changes.sales)
      s << std::make_tuple(std::get<0>(key), std::get<1>(key), std::get<2>(key), d.orders, d.units,
                           decimal_string(d.gross_minor));
    s.complete();
    w.exec(R"(
      INSERT INTO sales_daily AS d (day, seller_id, currency, orders_placed, units_placed, gross_minor)
      SELECT day, seller_id, currency, orders, units, gross_minor FROM stage_sales
      ON CONFLICT (day, seller_id, currency) DO UPDATE SET
        orders_placed = d.orders_placed + EXCLUDED.orders_placed,
        units_placed = d.units_placed + EXCLUDED.units_placed,
        gross_minor = d.gross_minor + EXCLUDED.gross_minor)");
  }
  if (!changes.closed.empty()) {
    pqxx::stream_to s(w, "stage_closed", std::vector<std::string>{"order_id", "expired"});
    for (const auto& c : changes.closed) s << std::make_tuple(c.order_id, c.expired);
    s.complete();
    w.exec(R"(
      INSERT INTO sales_daily AS d (day, seller_id, currency, orders_cancelled, cancelled_minor,
                                    orders_expired, expired_minor)
      SELECT (o.placed_at AT TIME ZONE 'UTC')::date, o.seller_id, o.currency,
             count(*) FILTER (WHERE NOT c.expired),
             coalesce(sum(o.total_minor) FILTER (WHERE NOT c.expired), 0),
             count(*) FILTER (WHERE c.expired),
             coalesce(sum(o.total_minor) FILTER (WHERE c.expired), 0)
      FROM stage_closed c JOIN orders o USING (order_id)
      GROUP BY 1, 2, 3
      ON CONFLICT (day, seller_id, currency) DO UPDATE SET
        orders_cancelled = d.orders_cancelled + EXCLUDED.orders_cancelled,
        cancelled_minor = d.cancelled_minor + EXCLUDED.cancelled_minor,
        orders_expired = d.orders_expired + EXCLUDED.orders_expired,
        expired_minor = d.expired_minor + EXCLUDED.expired_minor)");
  }
  write_money_changes(w, changes.money);
}

std::vector<int64_t> ViewWriter::checkpoints(uint32_t count) {
  pqxx::work w(c_);
  w.exec("SET LOCAL search_path TO " + quote_ident(schema_));
  auto r = w.exec_params(
      "SELECT partition, position FROM projection_checkpoints "
      "WHERE projection = 'events' AND partition < $1",
      static_cast<int>(count));
  w.commit();
  std::vector<int64_t> out(count, -1);
  for (const auto& row : r) out.at(row[0].as<uint32_t>()) = row[1].as<int64_t>();
  return out;
}

int64_t ViewWriter::apply_batch(uint32_t p, const std::vector<Envelope>& events, int64_t expected) {
  pqxx::work w(c_);
  w.exec("SET LOCAL search_path TO " + quote_ident(schema_) + ", pg_temp");
  // One writer per partition and schema at a time, whoever runs it (server or rebuild).
  w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1), $2)", schema_, static_cast<int>(p));
  auto r = w.exec_params(
      "SELECT position FROM projection_checkpoints WHERE projection = 'events' AND partition = $1",
      static_cast<int>(p));
  const int64_t done = r.empty() ? -1 : r[0][0].as<int64_t>();
  if (done != expected) {
    w.commit();
    return done;
  }

  // Fold what is new. Decoded events must outlive `changes`, which points into `events`.
  ViewChanges changes;
  std::vector<Event> decoded;
  decoded.reserve(events.size());
  for (const auto& env : events) {
    if (env.offset.value() <= done) continue;  // redelivered: already applied
    auto ev = decode_event(env.type, env.schema_version, env.payload);
    if (!ev)
      throw std::runtime_error(
          fmt::format("partition {} offset {}: {}", p, env.offset.value(), ev.error().message));
    decoded.push_back(std::move(ev.value()));
    changes.add(env, decoded.back());
  }
  if (changes.empty()) {
    w.commit();
    return done;
  }

  write_changes(w, changes);
  const int64_t position = changes.events.back()->offset.value();
  w.exec_params(
      "INSERT INTO projection_checkpoints (projection, partition, position) "
      "SELECT unnest($1::text[]), $2, $3 "
      "ON CONFLICT (projection, partition) DO UPDATE SET position = EXCLUDED.position, updated_at "
      "= now()",
      projection_array(), static_cast<int>(p), position);
  w.commit();
  return position;
}

}  // namespace ordo::projections

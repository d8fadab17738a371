#include "projections/queries.hpp"

#include <fmt/core.h>

#include "projections/migrations.hpp"

namespace ordo::projections {
namespace {

constexpr const char* kOrderJson = R"(json_build_object(
  'order_id', o.order_id, 'customer_id', o.customer_id, 'seller_id', o.seller_id,
  'status', o.status, 'total_minor', o.total_minor, 'currency', o.currency,
  'placed_at', to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'expires_at', to_char(o.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'version', o.version, 'position', o.partition || '-' || o.last_offset,
  'lines', coalesce((SELECT json_agg(json_build_object('sku', l.sku, 'qty', l.qty,
                       'unit_price_minor', l.unit_price_minor) ORDER BY l.line_no)
                     FROM order_lines l WHERE l.order_id = o.order_id), '[]'::json)))";

constexpr const char* kProductJson = R"(json_build_object(
  'sku', p.sku, 'seller_id', p.seller_id, 'name', p.name, 'price_minor', p.price_minor,
  'currency', p.currency, 'on_hand', p.on_hand, 'reserved', p.reserved,
  'available', p.available, 'version', p.version))";

}  // namespace

// Returns the connection to the pool when done; drops it if it broke.
class ViewQueries::Lease {
 public:
  explicit Lease(ViewQueries& q) : q_(q), c_(q.acquire()) {}
  ~Lease() { q_.release(std::move(c_)); }
  pqxx::connection& operator*() { return *c_; }
  void broken() { c_.reset(); }

 private:
  ViewQueries& q_;
  std::unique_ptr<pqxx::connection> c_;
};

ViewQueries::ViewQueries(std::string conninfo, std::string schema, size_t pool_size,
                         int statement_timeout_ms)
    : conninfo_(std::move(conninfo)),
      schema_(std::move(schema)),
      statement_timeout_ms_(statement_timeout_ms),
      capacity_(pool_size) {}

ViewQueries::~ViewQueries() = default;

std::unique_ptr<pqxx::connection> ViewQueries::acquire() {
  std::unique_ptr<pqxx::connection> c;
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(statement_timeout_ms_),
                      [&] { return !idle_.empty() || out_ < capacity_; }))
      throw std::runtime_error("no database connection free");
    ++out_;
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!c || !c->is_open()) {
    try {
      c = std::make_unique<pqxx::connection>(conninfo_);
      pqxx::nontransaction n(*c);
      n.exec(fmt::format("SET statement_timeout = {}", statement_timeout_ms_));
      n.exec("SET search_path TO " + quote_ident(schema_));
    } catch (...) {
      std::lock_guard lock(mu_);
      --out_;
      cv_.notify_one();
      throw;
    }
  }
  return c;
}

void ViewQueries::release(std::unique_ptr<pqxx::connection> c) {
  std::lock_guard lock(mu_);
  --out_;
  if (c && c->is_open()) idle_.push_back(std::move(c));
  cv_.notify_one();
}

template <typename F>
auto ViewQueries::run(F&& f) {
  Lease lease(*this);
  try {
    pqxx::read_transaction tx(*lease);
    return f(tx);
  } catch (const pqxx::broken_connection&) {
    lease.broken();
    throw;
  }
}

std::optional<OrderView> ViewQueries::order(const std::string& order_id) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<OrderView> {
    auto r = tx.exec_params(std::string("SELECT o.customer_id, o.seller_id, ") + kOrderJson +
                                "::text FROM orders o WHERE o.order_id = $1",
                            order_id);
    if (r.empty()) return std::nullopt;
    return OrderView{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>()};
  });
}

Page ViewQueries::orders(const OrderFilter& f) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        std::string("SELECT coalesce(json_agg(x.j ORDER BY x.order_id), '[]'::json)::text, "
                    "max(x.order_id), count(*) FROM (SELECT o.order_id, ") +
            kOrderJson +
            " AS j FROM orders o WHERE ($1 = '' OR o.customer_id = $1) AND ($2 = '' OR o.seller_id = $2)"
            " AND ($3 = '' OR o.status = $3) AND o.order_id > $4 ORDER BY o.order_id LIMIT $5) x",
        f.customer_id, f.seller_id, f.status, f.after_order_id, f.limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][2].as<int64_t>() == f.limit) page.last_key = r[0][1].as<std::string>();
    return page;
  });
}

std::optional<std::string> ViewQueries::product(const std::string& sku) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<std::string> {
    auto r = tx.exec_params(std::string("SELECT ") + kProductJson + "::text FROM products p WHERE p.sku = $1", sku);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

Page ViewQueries::products(const std::string& seller_id, const std::string& after_sku, int limit) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        std::string("SELECT coalesce(json_agg(x.j ORDER BY x.sku), '[]'::json)::text, max(x.sku), count(*) "
                    "FROM (SELECT p.sku, ") +
            kProductJson +
            " AS j FROM products p WHERE ($1 = '' OR p.seller_id = $1) AND p.sku > $2 ORDER BY p.sku LIMIT $3) x",
        seller_id, after_sku, limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][2].as<int64_t>() == limit) page.last_key = r[0][1].as<std::string>();
    return page;
  });
}

std::string ViewQueries::sales_report(const std::string& seller_id, const std::string& from_day,
                                      const std::string& to_day) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        "SELECT coalesce(json_agg(json_build_object('day', to_char(day, 'YYYY-MM-DD'), "
        "'seller_id', seller_id, 'currency', currency, 'orders_placed', orders_placed, "
        "'units_placed', units_placed, 'gross_minor', gross_minor, 'orders_cancelled', orders_cancelled, "
        "'cancelled_minor', cancelled_minor, 'orders_expired', orders_expired, 'expired_minor', expired_minor, "
        "'net_minor', gross_minor - cancelled_minor - expired_minor) ORDER BY day, seller_id, currency), "
        "'[]'::json)::text FROM sales_daily WHERE ($1 = '' OR seller_id = $1) "
        "AND ($2 = '' OR day >= $2::date) AND ($3 = '' OR day <= $3::date)",
        seller_id, from_day, to_day);
    return r[0][0].as<std::string>();
  });
}

std::string ViewQueries::low_stock(const std::string& seller_id) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        "SELECT coalesce(json_agg(json_build_object('sku', sku, 'seller_id', seller_id, 'name', name, "
        "'on_hand', on_hand, 'reserved', reserved, 'available', available) ORDER BY available, sku), "
        "'[]'::json)::text FROM low_stock WHERE ($1 = '' OR seller_id = $1)",
        seller_id);
    return r[0][0].as<std::string>();
  });
}

}  // namespace ordo::projections

#include "projections/queries.hpp"

#include <fmt/core.h>

#include <chrono>
#include <limits>
#include <string_view>

#include "engine/domain/types.hpp"
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

constexpr const char* kWalletJson = R"(json_build_object(
  'owner', w.owner, 'currency', w.currency, 'balance_minor', w.balance_minor,
  'held_minor', w.held_minor, 'available_minor', w.available_minor, 'version', w.version,
  'updated_at', to_char(w.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))";

constexpr const char* kEntryJson = R"(json_build_object(
  'account', e.account, 'currency', e.currency, 'amount_minor', e.amount_minor, 'type', e.type,
  'order_id', e.order_id, 'position', e.partition || '-' || e.log_offset, 'leg', e.idx,
  'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))";

constexpr const char* kEscrowJson = R"(json_build_object(
  'order_id', x.order_id, 'payment_id', x.payment_id, 'buyer', x.buyer, 'seller', x.seller,
  'currency', x.currency, 'amount_minor', x.amount_minor, 'held_minor', x.held_minor,
  'status', x.status, 'fee_minor', x.fee_minor, 'version', x.version,
  'updated_at', to_char(x.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))";

constexpr const char* kPaymentJson = R"(json_build_object(
  'payment_id', p.payment_id, 'order_id', p.order_id, 'method', p.method, 'buyer', p.buyer,
  'seller', p.seller, 'amount_minor', p.amount_minor, 'currency', p.currency, 'status', p.status,
  'refunded_minor', p.refunded_minor, 'reason', p.reason, 'version', p.version,
  'updated_at', to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))";

constexpr const char* kPayoutJson = R"(json_build_object(
  'payout_id', p.payout_id, 'owner', p.owner, 'currency', p.currency, 'amount_minor', p.amount_minor,
  'destination', p.destination, 'status', p.status, 'reason', p.reason, 'version', p.version,
  'updated_at', to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))";

}  // namespace

namespace {
// 1..18 decimal digits (so no overflow), nothing else.
std::optional<int64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}
}  // namespace

std::optional<EntryKey> parse_entry_key(const std::string& s) {
  EntryKey k;
  int64_t* parts[] = {&k.at_ms, &k.partition, &k.offset, &k.idx};
  size_t at = 0;
  for (size_t i = 0; i < 4; ++i) {
    const size_t end = i < 3 ? s.find('.', at) : s.size();
    if (end == std::string::npos) return std::nullopt;
    auto v = parse_digits(std::string_view(s).substr(at, end - at));
    if (!v) return std::nullopt;
    *parts[i] = *v;
    at = end + 1;
  }
  // A time past the year 9999 cannot name an entry, and PostgreSQL would refuse the query.
  constexpr int64_t kLastMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
  if (k.at_ms > kLastMs || k.partition > 1'000'000 || k.idx > 1'000'000) return std::nullopt;
  return k;
}

bool is_valid_day(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (s[i] < '0' || s[i] > '9') return false;
  const int y = std::stoi(s.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(s.substr(5, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(s.substr(8, 2)));
  return y >= 1 && std::chrono::year_month_day{std::chrono::year{y}, std::chrono::month{m},
                                               std::chrono::day{d}}
                       .ok();
}

namespace {
// `s` cut at '|' into exactly `n` parts, or nothing.
std::optional<std::vector<std::string>> split_key(const std::string& s, size_t n) {
  std::vector<std::string> parts;
  size_t at = 0;
  for (;;) {
    const size_t bar = s.find('|', at);
    parts.push_back(s.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
    if (bar == std::string::npos || parts.size() > n) break;
    at = bar + 1;
  }
  if (parts.size() != n) return std::nullopt;
  return parts;
}
}  // namespace

std::optional<SalesKey> parse_sales_key(const std::string& s) {
  auto parts = split_key(s, 3);
  if (!parts || !is_valid_day((*parts)[0]) || !is_valid_id((*parts)[1]) ||
      !is_valid_currency((*parts)[2]))
    return std::nullopt;
  return SalesKey{(*parts)[0], (*parts)[1], (*parts)[2]};
}

std::optional<LowStockKey> parse_low_stock_key(const std::string& s) {
  auto parts = split_key(s, 2);
  if (!parts || !is_valid_id((*parts)[1])) return std::nullopt;
  std::string_view n = (*parts)[0];
  const bool negative = n.starts_with('-');
  auto v = parse_digits(n.substr(negative ? 1 : 0));
  if (!v) return std::nullopt;
  return LowStockKey{negative ? -*v : *v, (*parts)[1]};
}

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
    return OrderView{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                     r[0][2].as<std::string>()};
  });
}

Page ViewQueries::orders(const OrderFilter& f) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        std::string("SELECT coalesce(json_agg(x.j ORDER BY x.order_id), '[]'::json)::text, "
                    "max(x.order_id), count(*) FROM (SELECT o.order_id, ") +
            kOrderJson +
            " AS j FROM orders o WHERE ($1 = '' OR o.customer_id = $1) AND ($2 = '' OR o.seller_id "
            "= $2)"
            " AND ($3 = '' OR o.status = $3) AND o.order_id > $4 ORDER BY o.order_id LIMIT $5) x",
        f.customer_id, f.seller_id, f.status, f.after_order_id, f.limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][2].as<int64_t>() == f.limit) page.last_key = r[0][1].as<std::string>();
    return page;
  });
}

std::optional<std::string> ViewQueries::product(const std::string& sku) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<std::string> {
    auto r = tx.exec_params(
        std::string("SELECT ") + kProductJson + "::text FROM products p WHERE p.sku = $1", sku);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

Page ViewQueries::products(const std::string& seller_id, const std::string& after_sku, int limit) {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec_params(
        std::string(
            "SELECT coalesce(json_agg(x.j ORDER BY x.sku), '[]'::json)::text, max(x.sku), count(*) "
            "FROM (SELECT p.sku, ") +
            kProductJson +
            " AS j FROM products p WHERE ($1 = '' OR p.seller_id = $1) AND p.sku > $2 ORDER BY "
            "p.sku LIMIT $3) x",
        seller_id, after_sku, limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][2].as<int64_t>() == limit) page.last_key = r[0][1].as<std::string>();
    return page;
  });
}

Page ViewQueries::sales_report(const std::string& seller_id, const std::string& from_day,
                               const std::string& to_day, const std::optional<SalesKey>& after,
                               int limit) {
  return run([&](pqxx::read_transaction& tx) {
    // Without a cursor the keyset starts before every day ('-infinity' sorts first).
    const SalesKey k = after.value_or(SalesKey{"-infinity", "", ""});
    auto r = tx.exec_params(
        "SELECT coalesce(json_agg(x.j ORDER BY x.day, x.seller_id, x.currency), '[]'::json)::text, "
        "count(*), (array_agg(to_char(x.day, 'YYYY-MM-DD') || '|' || x.seller_id || '|' || "
        "x.currency ORDER BY x.day DESC, x.seller_id DESC, x.currency DESC))[1] FROM (SELECT day, "
        "seller_id, currency, json_build_object('day', to_char(day, 'YYYY-MM-DD'), 'seller_id', "
        "seller_id, 'currency', currency, 'orders_placed', orders_placed, 'units_placed', "
        "units_placed, 'gross_minor', gross_minor, 'orders_cancelled', orders_cancelled, "
        "'cancelled_minor', cancelled_minor, 'orders_expired', orders_expired, 'expired_minor', "
        "expired_minor, 'net_minor', gross_minor - cancelled_minor - expired_minor) AS j "
        "FROM sales_daily WHERE ($1 = '' OR seller_id = $1) "
        "AND ($2 = '' OR day >= $2::date) AND ($3 = '' OR day <= $3::date) "
        "AND (day, seller_id, currency) > ($4::date, $5, $6) "
        "ORDER BY day, seller_id, currency LIMIT $7) x",
        seller_id, from_day, to_day, k.day, k.seller_id, k.currency, limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][1].as<int64_t>() == limit) page.last_key = r[0][2].as<std::string>();
    return page;
  });
}

Page ViewQueries::low_stock(const std::string& seller_id, const std::optional<LowStockKey>& after,
                            int limit) {
  return run([&](pqxx::read_transaction& tx) {
    const LowStockKey k = after.value_or(LowStockKey{std::numeric_limits<int64_t>::min(), ""});
    auto r = tx.exec_params(
        "SELECT coalesce(json_agg(x.j ORDER BY x.available, x.sku), '[]'::json)::text, count(*), "
        "(array_agg(x.available || '|' || x.sku ORDER BY x.available DESC, x.sku DESC))[1] FROM "
        "(SELECT available, sku, json_build_object('sku', sku, 'seller_id', seller_id, 'name', "
        "name, 'on_hand', on_hand, 'reserved', reserved, 'available', available) AS j "
        "FROM low_stock WHERE ($1 = '' OR seller_id = $1) AND (available, sku) > ($2, $3) "
        "ORDER BY available, sku LIMIT $4) x",
        seller_id, k.available, k.sku, limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][1].as<int64_t>() == limit) page.last_key = r[0][2].as<std::string>();
    return page;
  });
}

}  // namespace ordo::projections

namespace ordo::projections {

std::optional<std::string> ViewQueries::wallet(const std::string& owner,
                                               const std::string& currency) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<std::string> {
    // The chosen wallet's fields at the top level, and every currency of the owner below.
    std::string top = kWalletJson;
    top.insert(top.size() - 1, ", 'wallets', a.ws");
    auto r = tx.exec_params(
        "SELECT " + top + "::text FROM wallets w, (SELECT json_agg(" + kWalletJson +
            " ORDER BY w.currency) AS ws FROM wallets w WHERE w.owner = $1) a "
            "WHERE w.owner = $1 AND ($2 = '' OR w.currency = $2) ORDER BY w.currency LIMIT 1",
        owner, currency);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

Page ViewQueries::wallet_entries(const std::string& owner, const std::optional<EntryKey>& after,
                                 int limit) {
  return run([&](pqxx::read_transaction& tx) {
    const EntryKey k = after.value_or(EntryKey{std::numeric_limits<int64_t>::max(), 0, 0, 0});
    auto r = tx.exec_params(
        std::string(
            "SELECT coalesce(json_agg(x.j ORDER BY x.n), '[]'::json)::text, count(*), "
            "(array_agg(x.k ORDER BY x.n DESC))[1] FROM (SELECT row_number() OVER (ORDER BY "
            "e.occurred_at DESC, e.partition DESC, e.log_offset DESC, e.idx DESC) AS n, "
            "(extract(epoch FROM e.occurred_at) * 1000)::bigint || '.' || e.partition || '.' || "
            "e.log_offset || '.' || e.idx AS k, ") +
            kEntryJson +
            " AS j FROM ledger_entries e WHERE e.account = $1 AND "
            "(e.occurred_at, e.partition, e.log_offset, e.idx) < "
            "(timestamptz 'epoch' + interval '1 millisecond' * $2, $3, $4, $5) "
            "ORDER BY e.occurred_at DESC, e.partition DESC, e.log_offset DESC, e.idx DESC LIMIT "
            "$6) x",
        "wallet:" + owner,
        k.at_ms == std::numeric_limits<int64_t>::max() ? int64_t{253'402'300'799'000} : k.at_ms,
        k.partition, k.offset, k.idx, limit);
    Page page{r[0][0].as<std::string>(), std::nullopt};
    if (r[0][1].as<int64_t>() == limit) page.last_key = r[0][2].as<std::string>();
    return page;
  });
}

std::optional<MoneyView> ViewQueries::escrow(const std::string& order_id) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<MoneyView> {
    auto r = tx.exec_params(std::string("SELECT x.buyer, x.seller, ") + kEscrowJson +
                                "::text FROM escrows x WHERE x.order_id = $1",
                            order_id);
    if (r.empty()) return std::nullopt;
    return MoneyView{r[0][0].as<std::string>(), r[0][1].as<std::string>(), "",
                     r[0][2].as<std::string>()};
  });
}

std::optional<MoneyView> ViewQueries::payment(const std::string& payment_id) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<MoneyView> {
    auto r = tx.exec_params(std::string("SELECT p.buyer, p.seller, ") + kPaymentJson +
                                "::text FROM payments p WHERE p.payment_id = $1",
                            payment_id);
    if (r.empty()) return std::nullopt;
    return MoneyView{r[0][0].as<std::string>(), r[0][1].as<std::string>(), "",
                     r[0][2].as<std::string>()};
  });
}

std::optional<MoneyView> ViewQueries::payout(const std::string& payout_id) {
  return run([&](pqxx::read_transaction& tx) -> std::optional<MoneyView> {
    auto r = tx.exec_params(std::string("SELECT p.owner, ") + kPayoutJson +
                                "::text FROM payouts p WHERE p.payout_id = $1",
                            payout_id);
    if (r.empty()) return std::nullopt;
    return MoneyView{"", "", r[0][0].as<std::string>(), r[0][1].as<std::string>()};
  });
}

std::string ViewQueries::ledger_balances() {
  return run([&](pqxx::read_transaction& tx) {
    auto r = tx.exec(
        // Accounts at zero are left out (every settled order's escrow): they add nothing to
        // a currency's total, and the answer grows with the money held, not the history.
        "WITH b AS (SELECT account, currency, balance_minor AS balance FROM account_balances "
        "WHERE balance_minor <> 0), "
        "t AS (SELECT currency, sum(balance) AS total FROM b GROUP BY currency) "
        "SELECT json_build_object("
        "'accounts', coalesce((SELECT json_agg(json_build_object('account', account, 'currency', "
        "currency, "
        // Byte order, whatever the database's collation: as `ordo replay state-at --kind
        // account` lists them.
        "'balance_minor', balance) ORDER BY currency COLLATE \"C\", account COLLATE \"C\") "
        "FROM b), '[]'::json), "
        "'totals', coalesce((SELECT json_agg(json_build_object('currency', currency, "
        "'total_minor', total) "
        "ORDER BY currency COLLATE \"C\") FROM t), '[]'::json), "
        "'balanced', NOT EXISTS (SELECT 1 FROM t WHERE total <> 0))::text");
    return r[0][0].as<std::string>();
  });
}

}  // namespace ordo::projections

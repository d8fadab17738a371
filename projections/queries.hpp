#pragma once
// The read side: queries over the PostgreSQL views, answering JSON built by PostgreSQL.
// A small pool of connections; every statement has a timeout. Throws on database errors.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace ordo::projections {

struct OrderView {
  std::string customer_id;
  std::string seller_id;
  std::string json;
};

struct Page {
  std::string items_json;               // a JSON array
  std::optional<std::string> last_key;  // set when the page is full (there may be more)
};

struct OrderFilter {
  std::string customer_id, seller_id, status;  // "" = any
  std::string after_order_id;                  // keyset cursor
  int limit = 50;
};

// A money row and who it belongs to, for the access rule: buyer and seller (escrows and
// payments) or owner (payouts).
struct MoneyView {
  std::string buyer, seller, owner;
  std::string json;
};

// The keyset of ledger entries, newest first: "{occurred ms}.{partition}.{offset}.{idx}".
struct EntryKey {
  int64_t at_ms = 0, partition = 0, offset = 0, idx = 0;
};
std::optional<EntryKey> parse_entry_key(const std::string& s);

// A real calendar day "YYYY-MM-DD" (year 1 or later): "2026-02-30" would fail in PostgreSQL.
bool is_valid_day(const std::string& s);

// The reports' keysets, in their sort order. The sales report: "{day}|{seller}|{currency}".
struct SalesKey {
  std::string day, seller_id, currency;
};
std::optional<SalesKey> parse_sales_key(const std::string& s);
// The low-stock report, scarcest first: "{available}|{sku}".
struct LowStockKey {
  int64_t available = 0;
  std::string sku;
};
std::optional<LowStockKey> parse_low_stock_key(const std::string& s);

class ViewQueries {
 public:
  ViewQueries(std::string conninfo, std::string schema, size_t pool_size = 4,
              int statement_timeout_ms = 5000);
  ~ViewQueries();

  std::optional<OrderView> order(const std::string& order_id);
  Page orders(const OrderFilter& f);
  std::optional<std::string> product(const std::string& sku);
  Page products(const std::string& seller_id, const std::string& after_sku, int limit);
  // One page of a report, after `after` in its sort order ("" seller = every seller).
  Page sales_report(const std::string& seller_id, const std::string& from_day,
                    const std::string& to_day, const std::optional<SalesKey>& after, int limit);
  Page low_stock(const std::string& seller_id, const std::optional<LowStockKey>& after, int limit);

  // The owner's wallet in `currency` ("" = the first by currency) with all its currencies
  // under "wallets"; nullopt when the owner has none (in that currency).
  std::optional<std::string> wallet(const std::string& owner, const std::string& currency);
  // The wallet's ledger entries, all currencies, newest first, after `after` (keyset).
  Page wallet_entries(const std::string& owner, const std::optional<EntryKey>& after, int limit);
  std::optional<MoneyView> escrow(const std::string& order_id);
  std::optional<MoneyView> payment(const std::string& payment_id);
  std::optional<MoneyView> payout(const std::string& payout_id);
  // The trial balance: every account's balance per currency, and each currency's total.
  std::string ledger_balances();

 private:
  class Lease;
  template <typename F>
  auto run(F&& f);
  std::unique_ptr<pqxx::connection> acquire();
  void release(std::unique_ptr<pqxx::connection> c);

  const std::string conninfo_;
  const std::string schema_;
  const int statement_timeout_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t capacity_;
  size_t out_ = 0;
};

}  // namespace ordo::projections

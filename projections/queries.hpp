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

class ViewQueries {
 public:
  ViewQueries(std::string conninfo, std::string schema, size_t pool_size = 4,
              int statement_timeout_ms = 5000);
  ~ViewQueries();

  std::optional<OrderView> order(const std::string& order_id);
  Page orders(const OrderFilter& f);
  std::optional<std::string> product(const std::string& sku);
  Page products(const std::string& seller_id, const std::string& after_sku, int limit);
  std::string sales_report(const std::string& seller_id, const std::string& from_day,
                           const std::string& to_day);
  std::string low_stock(const std::string& seller_id);

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

#pragma once
// Who may do what: one declarative table of endpoint × roles × ownership rule, consulted by
// the router before any handler runs. Handlers contain no access checks of their own.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.hpp"
#include "api/jwt.hpp"

namespace ordo::api {

enum class Endpoint {
  livez,
  readyz,
  create_product,
  adjust_stock,
  place_order,
  cancel_order,
  stream_events,
  events,        // GET /v1/events: the raw history of a partition (replay/audit_api)
  audit_verify,  // GET /v1/audit/verify: the hash chain and domain verdict per partition
  get_order,
  list_orders,
  get_product,
  list_products,
  sales_report,
  low_stock_report,
  metrics,
  openapi,  // GET /v1/openapi.json: the API description (schemas/openapi.yaml)
  // The order lifecycle and the money (issue 3).
  pay_order,
  ship_order,
  deliver_order,
  confirm_order,
  dispute_order,
  escrow_release,
  escrow_refund,
  deposit,
  request_payout,
  complete_payout,
  reject_payout,
  payment_webhook,  // open to the network, authenticated by its HMAC signature instead
  admin_parked,
  admin_parked_retry,
  admin_parked_dismiss,
  // Reads of the money views (projections/queries.hpp).
  get_wallet,
  wallet_entries,
  get_escrow,
  get_payment,
  get_payout,
  ledger_balances,
  subscribe,  // GET /v1/subscribe: live events over a WebSocket (api/subscribe.cpp)
};

// How a caller must relate to the resource. Admin passes every ownership rule.
enum class Ownership {
  none,            // the role is enough
  body_seller,     // merchant: the body's seller_id is the caller
  body_customer,   // customer: the body's customer_id is the caller
  sku_seller,      // merchant: the SKU in the path belongs to the caller
  order_party,     // customer: the order's customer; merchant: the order's seller
  scoped_list,     // customer / merchant: the list is narrowed to the caller's own rows
  order_customer,  // customer: the order's customer only
  order_seller,    // merchant: the order's seller only
  path_owner,      // the `{owner}` in the path is the caller (a wallet's owner)
  // Reads of money: customer / merchant as named; every other role the rule lists (finance,
  // auditor) by its role alone. Someone else's resource answers 404.
  path_owner_or_staff,  // customer / merchant: the `{owner}` in the path is the caller
  money_party,          // customer: the buyer; merchant: the seller (an escrow, a payment)
  owner_or_staff,       // customer / merchant: the resource's owner is the caller (a payout)
  // Allowed; customer / merchant: only the events that name the caller; finance the money
  // events, analyst the catalogue's; auditor and admin every event (api/live_feed.hpp).
  scoped_events,
};

using RoleMask = unsigned;
constexpr RoleMask role_bit(Role r) { return 1u << static_cast<unsigned>(r); }
template <typename... R>
constexpr RoleMask roles(R... r) {
  return (role_bit(r) | ...);
}

struct AccessRule {
  Endpoint endpoint;
  http::verb method;
  std::string_view pattern;  // segments; `{name}` matches one path segment
  bool open;                 // no token needed (ops endpoints)
  RoleMask roles;
  Ownership ownership;
};

std::span<const AccessRule> access_table();

// Matches `method path` against the table. `params` receives the `{…}` segments in order.
// Sets `path_known` when some rule has this path with another method (→ 405).
const AccessRule* match_rule(http::verb method, std::string_view path,
                             std::vector<std::string>& params, bool& path_known);
// The methods the table has for `path`, for the Allow header of a 405 ("GET, POST").
std::string allowed_methods(std::string_view path);

// Facts about the resource, looked up by the caller of authorize() for the rule's ownership.
struct ResourceFacts {
  std::optional<std::string> body_seller_id;
  std::optional<std::string> body_customer_id;
  std::optional<std::string> sku_seller_id;      // nullopt: SKU unknown
  std::optional<std::string> order_customer_id;  // nullopt: order unknown
  std::optional<std::string> order_seller_id;
  std::optional<std::string> path_owner;  // the `{owner}` of the path
  std::optional<std::string> buyer_id;    // nullopt: escrow or payment unknown
  std::optional<std::string> seller_id;
  std::optional<std::string> resource_owner;  // nullopt: payout unknown
};

enum class Verdict { allow, forbidden, not_found };

Verdict authorize(const AccessRule& rule, const Claims& who, const ResourceFacts& facts);

// For `scoped_list` rules: the filter a caller's role forces on a list ("" = no filter).
// A customer sees only their orders; a merchant only orders and reports of their shop.
struct ListScope {
  std::string customer_id;
  std::string seller_id;
};
ListScope scope_for(const Claims& who);

}  // namespace ordo::api

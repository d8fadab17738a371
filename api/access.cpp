#include "api/access.hpp"

#include <algorithm>
#include <cstdint>

namespace ordo::api {
namespace {

using enum Role;
constexpr RoleMask kAnyRole = roles(customer, merchant, finance, admin, auditor, analyst);

constexpr AccessRule kTable[] = {
    {Endpoint::livez, http::verb::get, "/livez", true, kAnyRole, Ownership::none},
    {Endpoint::readyz, http::verb::get, "/readyz", true, kAnyRole, Ownership::none},
    {Endpoint::create_product, http::verb::post, "/v1/products", false, roles(merchant, admin),
     Ownership::body_seller},
    {Endpoint::adjust_stock, http::verb::post, "/v1/products/{sku}/stock", false,
     roles(merchant, admin), Ownership::sku_seller},
    {Endpoint::place_order, http::verb::post, "/v1/orders", false, roles(customer, admin),
     Ownership::body_customer},
    {Endpoint::cancel_order, http::verb::post, "/v1/orders/{id}/cancel", false,
     roles(customer, merchant, admin), Ownership::order_party},
    {Endpoint::stream_events, http::verb::get, "/v1/streams/{stream}/events", false,
     roles(auditor, admin), Ownership::none},
    {Endpoint::events, http::verb::get, "/v1/events", false, roles(auditor, admin),
     Ownership::none},
    {Endpoint::audit_verify, http::verb::get, "/v1/audit/verify", false, roles(auditor, admin),
     Ownership::none},
    {Endpoint::get_order, http::verb::get, "/v1/orders/{id}", false,
     roles(customer, merchant, admin), Ownership::order_party},
    {Endpoint::list_orders, http::verb::get, "/v1/orders", false, roles(customer, merchant, admin),
     Ownership::scoped_list},
    {Endpoint::get_product, http::verb::get, "/v1/products/{sku}", false, kAnyRole,
     Ownership::none},
    {Endpoint::list_products, http::verb::get, "/v1/products", false, kAnyRole, Ownership::none},
    {Endpoint::sales_report, http::verb::get, "/v1/reports/sales", false,
     roles(merchant, finance, admin, analyst), Ownership::scoped_list},
    {Endpoint::low_stock_report, http::verb::get, "/v1/reports/low-stock", false,
     roles(merchant, admin, analyst), Ownership::scoped_list},
    {Endpoint::metrics, http::verb::get, "/metrics", true, kAnyRole, Ownership::none},
    {Endpoint::openapi, http::verb::get, "/v1/openapi.json", true, kAnyRole, Ownership::none},
    {Endpoint::pay_order, http::verb::post, "/v1/orders/{id}/pay", false, roles(customer, admin),
     Ownership::order_customer},
    {Endpoint::ship_order, http::verb::post, "/v1/orders/{id}/ship", false, roles(merchant, admin),
     Ownership::order_seller},
    {Endpoint::deliver_order, http::verb::post, "/v1/orders/{id}/deliver", false,
     roles(merchant, admin), Ownership::order_seller},
    {Endpoint::confirm_order, http::verb::post, "/v1/orders/{id}/confirm", false,
     roles(customer, admin), Ownership::order_customer},
    {Endpoint::dispute_order, http::verb::post, "/v1/orders/{id}/dispute", false,
     roles(customer, admin), Ownership::order_customer},
    {Endpoint::escrow_release, http::verb::post, "/v1/escrows/{order_id}/release", false,
     roles(admin), Ownership::none},
    {Endpoint::escrow_refund, http::verb::post, "/v1/escrows/{order_id}/refund", false,
     roles(admin), Ownership::none},
    {Endpoint::deposit, http::verb::post, "/v1/wallets/{owner}/deposits", false,
     roles(finance, admin), Ownership::none},
    {Endpoint::request_payout, http::verb::post, "/v1/wallets/{owner}/payouts", false,
     roles(customer, merchant, admin), Ownership::path_owner},
    {Endpoint::complete_payout, http::verb::post, "/v1/payouts/{id}/complete", false,
     roles(finance, admin), Ownership::none},
    {Endpoint::reject_payout, http::verb::post, "/v1/payouts/{id}/reject", false,
     roles(finance, admin), Ownership::none},
    {Endpoint::payment_webhook, http::verb::post, "/v1/payments/webhook", true, kAnyRole,
     Ownership::none},
    {Endpoint::admin_parked, http::verb::get, "/v1/admin/parked", false, roles(admin),
     Ownership::none},
    {Endpoint::get_wallet, http::verb::get, "/v1/wallets/{owner}", false,
     roles(customer, merchant, finance, admin), Ownership::path_owner_or_staff},
    {Endpoint::wallet_entries, http::verb::get, "/v1/wallets/{owner}/entries", false,
     roles(customer, merchant, finance, admin), Ownership::path_owner_or_staff},
    {Endpoint::get_escrow, http::verb::get, "/v1/escrows/{order_id}", false,
     roles(customer, merchant, finance, admin, auditor), Ownership::money_party},
    {Endpoint::get_payment, http::verb::get, "/v1/payments/{id}", false,
     roles(customer, merchant, finance, admin, auditor), Ownership::money_party},
    {Endpoint::get_payout, http::verb::get, "/v1/payouts/{id}", false,
     roles(customer, merchant, finance, admin), Ownership::owner_or_staff},
    {Endpoint::ledger_balances, http::verb::get, "/v1/ledger/balances", false,
     roles(finance, admin, auditor), Ownership::none},
    {Endpoint::admin_parked_retry, http::verb::post, "/v1/admin/parked/{id}/retry", false,
     roles(admin), Ownership::none},
    {Endpoint::admin_parked_dismiss, http::verb::delete_, "/v1/admin/parked/{id}", false,
     roles(admin), Ownership::none},
    {Endpoint::subscribe, http::verb::get, "/v1/subscribe", false, kAnyRole,
     Ownership::scoped_events},
};

bool match_pattern(std::string_view pattern, std::string_view path,
                   std::vector<std::string>& params) {
  params.clear();
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    size_t pe = pattern.find('/');
    size_t se = path.find('/');
    std::string_view pseg = pattern.substr(0, pe);
    std::string_view sseg = path.substr(0, se);
    if (!pseg.empty() && pseg.front() == '{') {
      if (sseg.empty()) return false;
      params.emplace_back(sseg);
    } else if (pseg != sseg) {
      return false;
    }
    pattern = pe == std::string_view::npos ? std::string_view{} : pattern.substr(pe);
    path = se == std::string_view::npos ? std::string_view{} : path.substr(se);
  }
  return true;
}

}  // namespace

std::span<const AccessRule> access_table() { return kTable; }

ListScope scope_for(const Claims& who) {
  if (who.role == Role::customer) return {who.sub, ""};
  if (who.role == Role::merchant) return {"", who.sub};
  return {};
}

namespace {

// A literal segment beats a `{param}` one: /v1/payments/webhook is the webhook, not the
// payment named "webhook". Only the rules with the fewest parameters that match a path
// count for it (for the route and for Allow).
size_t fewest_params(std::string_view path) {
  size_t best = SIZE_MAX;
  std::vector<std::string> params;
  for (const auto& rule : kTable)
    if (match_pattern(rule.pattern, path, params)) best = std::min(best, params.size());
  return best;
}

}  // namespace

const AccessRule* match_rule(http::verb method, std::string_view path,
                             std::vector<std::string>& params, bool& path_known) {
  path_known = false;
  const size_t best = fewest_params(path);
  for (const auto& rule : kTable) {
    if (!match_pattern(rule.pattern, path, params) || params.size() != best) continue;
    path_known = true;
    // HEAD is GET without the body (RFC 9110 §9.3.2); the server drops the body.
    if (rule.method == method || (method == http::verb::head && rule.method == http::verb::get))
      return &rule;
  }
  params.clear();
  return nullptr;
}

std::string allowed_methods(std::string_view path) {
  std::string out;
  std::vector<std::string> params;
  const size_t best = fewest_params(path);
  for (const auto& rule : kTable) {
    if (!match_pattern(rule.pattern, path, params) || params.size() != best) continue;
    if (!out.empty()) out += ", ";
    out += std::string_view(http::to_string(rule.method));
    if (rule.method == http::verb::get) out += ", HEAD";
  }
  return out;
}

Verdict authorize(const AccessRule& rule, const Claims& who, const ResourceFacts& f) {
  if ((rule.roles & role_bit(who.role)) == 0) return Verdict::forbidden;
  if (who.role == Role::admin) return Verdict::allow;
  switch (rule.ownership) {
    case Ownership::none:
      return Verdict::allow;
    case Ownership::body_seller:
      return who.role == Role::merchant && f.body_seller_id == who.sub ? Verdict::allow
                                                                       : Verdict::forbidden;
    case Ownership::body_customer:
      return who.role == Role::customer && f.body_customer_id == who.sub ? Verdict::allow
                                                                         : Verdict::forbidden;
    case Ownership::sku_seller:
      // Someone else's product is indistinguishable from a missing one.
      return who.role == Role::merchant && f.sku_seller_id == who.sub ? Verdict::allow
                                                                      : Verdict::not_found;
    case Ownership::order_party:
      if (who.role == Role::customer && f.order_customer_id == who.sub) return Verdict::allow;
      if (who.role == Role::merchant && f.order_seller_id == who.sub) return Verdict::allow;
      return Verdict::not_found;
    case Ownership::order_customer:
      return who.role == Role::customer && f.order_customer_id == who.sub ? Verdict::allow
                                                                          : Verdict::not_found;
    case Ownership::order_seller:
      return who.role == Role::merchant && f.order_seller_id == who.sub ? Verdict::allow
                                                                        : Verdict::not_found;
    case Ownership::path_owner:
      // Someone else's wallet is indistinguishable from a missing one.
      return f.path_owner == who.sub ? Verdict::allow : Verdict::not_found;
    case Ownership::path_owner_or_staff:
    case Ownership::money_party:
    case Ownership::owner_or_staff: {
      if (who.role != Role::customer && who.role != Role::merchant) return Verdict::allow;
      if (rule.ownership == Ownership::path_owner_or_staff)
        return f.path_owner == who.sub ? Verdict::allow : Verdict::not_found;
      if (rule.ownership == Ownership::owner_or_staff)
        return f.resource_owner == who.sub ? Verdict::allow : Verdict::not_found;
      const auto& party = who.role == Role::customer ? f.buyer_id : f.seller_id;
      return party == who.sub ? Verdict::allow : Verdict::not_found;
    }
    case Ownership::scoped_list:
      // Allowed; the handler narrows the query with scope_for() below.
      return Verdict::allow;
    case Ownership::scoped_events:
      // Allowed; the live feed filters each event for the caller.
      return Verdict::allow;
  }
  return Verdict::forbidden;
}

}  // namespace ordo::api

// The whole authorization matrix, generated from the access table itself: every endpoint ×
// every role × (the caller's own resource, someone else's), against the real binary. Each
// cell's status is derived from the rule's declared roles and ownership — independently of
// api/access.cpp's authorize() — and compared with what the server answers. The denial
// counters in /metrics must add up to the denied cells.
//
// Without PostgreSQL the query endpoints answer 503 views_not_configured once access is
// granted, so there only the role part is checked; with ORDO_TEST_POSTGRES (the integration
// run) the server gets --postgres and ownership of reads is checked too.
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "api/access.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/security/security_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::AccessRule;
using api::Endpoint;
using api::Ownership;
using api::Role;

namespace {

constexpr Role kRoles[] = {Role::customer, Role::merchant, Role::finance,
                           Role::admin,    Role::auditor,  Role::analyst};
enum class Rel { owner, other };
enum class Expect { allow, forbidden, not_found };

const char* name(Rel r) { return r == Rel::owner ? "owner" : "other"; }
const char* name(Expect e) {
  return e == Expect::allow ? "allow" : e == Expect::forbidden ? "403" : "404";
}

// What the table says about this cell (DESIGN §7): the role must be listed; admin passes
// every ownership rule; a body naming someone else is forbidden; someone else's resource
// is not found.
Expect expected(const AccessRule& rule, Role role, Rel rel) {
  if (rule.open) return Expect::allow;
  if ((rule.roles & api::role_bit(role)) == 0) return Expect::forbidden;
  if (role == Role::admin) return Expect::allow;
  const bool own = rel == Rel::owner;
  switch (rule.ownership) {
    case Ownership::none:
    case Ownership::scoped_list:
    case Ownership::scoped_events:
      return Expect::allow;
    case Ownership::body_seller:
      return role == Role::merchant && own ? Expect::allow : Expect::forbidden;
    case Ownership::body_customer:
      return role == Role::customer && own ? Expect::allow : Expect::forbidden;
    case Ownership::sku_seller:
      return role == Role::merchant && own ? Expect::allow : Expect::not_found;
    case Ownership::order_party:
      return (role == Role::customer || role == Role::merchant) && own ? Expect::allow
                                                                       : Expect::not_found;
    case Ownership::order_customer:
      return role == Role::customer && own ? Expect::allow : Expect::not_found;
    case Ownership::order_seller:
      return role == Role::merchant && own ? Expect::allow : Expect::not_found;
    case Ownership::path_owner:
      return own ? Expect::allow : Expect::not_found;
    case Ownership::path_owner_or_staff:
    case Ownership::money_party:
    case Ownership::owner_or_staff:
      return (role == Role::customer || role == Role::merchant) && !own ? Expect::not_found
                                                                        : Expect::allow;
  }
  return Expect::forbidden;
}

bool reads_views(Endpoint e) {
  switch (e) {
    case Endpoint::get_order:
    case Endpoint::list_orders:
    case Endpoint::get_product:
    case Endpoint::list_products:
    case Endpoint::sales_report:
    case Endpoint::low_stock_report:
    case Endpoint::get_wallet:
    case Endpoint::wallet_entries:
    case Endpoint::get_escrow:
    case Endpoint::get_payment:
    case Endpoint::get_payout:
    case Endpoint::ledger_balances:
      return true;
    default:
      return false;
  }
}

struct Cell {
  http::verb method;
  std::string target;
  std::string body;
  int ok_status;  // the status of an allowed, well-formed request
};

class Matrix {
 public:
  Matrix(HttpClient& c, bool views) : c_(c), views_(views) {}

  // A well-formed request for `rule` whose resource belongs to `owner`; resources are
  // created by an admin first, fresh for every cell so an allowed command never meets the
  // leftovers of another.
  std::optional<Cell> build(const AccessRule& rule, const std::string& owner) {
    const std::string n = std::to_string(++seq_);
    switch (rule.endpoint) {
      case Endpoint::livez:
      case Endpoint::readyz:
      case Endpoint::metrics:
      case Endpoint::openapi:
      case Endpoint::events:
      case Endpoint::audit_verify:
        return Cell{http::verb::get, std::string(rule.pattern), "", 200};
      case Endpoint::create_product:
        return Cell{http::verb::post, "/v1/products", product_body("new-" + n, owner, 5), 201};
      case Endpoint::adjust_stock: {
        const std::string sku = product("s" + n, owner);
        return Cell{http::verb::post, "/v1/products/" + sku + "/stock", R"({"delta":1})", 200};
      }
      case Endpoint::place_order:
        return Cell{http::verb::post, "/v1/orders", order_body(owner, {{shared_sku(), 1}}), 201};
      case Endpoint::cancel_order:
        return Cell{http::verb::post, "/v1/orders/" + order(n, owner) + "/cancel", "{}", 200};
      case Endpoint::get_order:
        return Cell{http::verb::get, "/v1/orders/" + order(n, owner), "", 200};
      case Endpoint::stream_events:
        return Cell{http::verb::get, "/v1/streams/product-" + shared_sku() + "/events", "", 200};
      case Endpoint::list_orders:
        return Cell{http::verb::get, "/v1/orders", "", 200};
      case Endpoint::get_product:
        return Cell{http::verb::get, "/v1/products/" + product("g" + n, owner), "", 200};
      case Endpoint::list_products:
        return Cell{http::verb::get, "/v1/products", "", 200};
      case Endpoint::sales_report:
        return Cell{http::verb::get, "/v1/reports/sales", "", 200};
      case Endpoint::low_stock_report:
        return Cell{http::verb::get, "/v1/reports/low-stock", "", 200};
      case Endpoint::pay_order:
        return Cell{http::verb::post, "/v1/orders/" + order(n, owner) + "/pay",
                    R"({"method":"card"})", 202};
      case Endpoint::ship_order:
        return Cell{http::verb::post, "/v1/orders/" + paid_order(n, owner, 0) + "/ship", "", 200};
      case Endpoint::deliver_order:
        return Cell{http::verb::post, "/v1/orders/" + paid_order(n, owner, 1) + "/deliver", "",
                    200};
      case Endpoint::confirm_order:
        return Cell{http::verb::post, "/v1/orders/" + paid_order(n, owner, 2) + "/confirm", "",
                    200};
      case Endpoint::dispute_order:
        return Cell{http::verb::post, "/v1/orders/" + paid_order(n, owner, 2) + "/dispute", "",
                    200};
      case Endpoint::escrow_release:
        return Cell{http::verb::post, "/v1/escrows/" + paid_order(n, owner, 2) + "/release", "",
                    200};
      case Endpoint::escrow_refund:
        return Cell{http::verb::post, "/v1/escrows/" + paid_order(n, owner, 2) + "/refund", "",
                    200};
      case Endpoint::deposit:
        return Cell{http::verb::post, "/v1/wallets/" + owner + "/deposits",
                    R"({"amount_minor":5,"currency":"EUR"})", 201};
      case Endpoint::request_payout:
        deposit(owner, 10);
        return Cell{http::verb::post, "/v1/wallets/" + owner + "/payouts",
                    R"({"payout_id":"po)" + n +
                        R"(","amount_minor":1,"currency":"EUR","destination":"bank"})",
                    201};
      case Endpoint::complete_payout:
        return Cell{http::verb::post, "/v1/payouts/" + payout(n, owner) + "/complete", "", 200};
      case Endpoint::reject_payout:
        return Cell{http::verb::post, "/v1/payouts/" + payout(n, owner) + "/reject", "", 200};
      // Open, but this server has no webhook secret: refused as not configured, changing nothing.
      case Endpoint::payment_webhook:
        return Cell{http::verb::post, "/v1/payments/webhook", "{}", 404};
      case Endpoint::admin_parked:
        return Cell{http::verb::get, "/v1/admin/parked", "", 200};
      case Endpoint::admin_parked_retry:
        return Cell{http::verb::post, "/v1/admin/parked/0-0/retry", "", 404};
      case Endpoint::admin_parked_dismiss:
        return Cell{http::verb::delete_, "/v1/admin/parked/0-0", "", 404};
      // A plain GET, no upgrade: an admitted caller is told to upgrade (the WebSocket itself
      // is tested in tests/e2e/subscribe_e2e_test.cpp).
      case Endpoint::subscribe:
        return Cell{http::verb::get, "/v1/subscribe", "", 426};
      case Endpoint::get_wallet:
        deposit(owner, 5);
        return Cell{http::verb::get, "/v1/wallets/" + owner, "", 200};
      case Endpoint::wallet_entries:
        deposit(owner, 5);
        return Cell{http::verb::get, "/v1/wallets/" + owner + "/entries", "", 200};
      // The ledger's events may land in other partitions than Ordo-Min-Position names.
      case Endpoint::get_escrow: {
        const std::string id = paid_order(n, owner, 0);
        settle();
        return Cell{http::verb::get, "/v1/escrows/" + id, "", 200};
      }
      case Endpoint::get_payment:
        paid_order(n, owner, 0);
        settle();
        return Cell{http::verb::get, "/v1/payments/" + last_payment_, "", 200};
      case Endpoint::get_payout: {
        const std::string id = payout(n, owner);
        settle();
        return Cell{http::verb::get, "/v1/payouts/" + id, "", 200};
      }
      case Endpoint::ledger_balances:
        return Cell{http::verb::get, "/v1/ledger/balances", "", 200};
      default:
        break;  // a new endpoint: the test fails until build() knows its request
    }
    return std::nullopt;
  }

  std::map<std::string, std::string> read_headers() const {
    if (!views_ || position_.empty()) return {};
    return {{"Ordo-Min-Position", position_}};
  }

 private:
  HttpResult admin_post(const std::string& target, const std::string& body) {
    auto r = c_.post(target, body, bearer(admin_));
    REQUIRE_MESSAGE((r.status == 201 || r.status == 200), target, " ", r.body);
    position_ = r.header("Ordo-Position");
    return r;
  }
  std::string product(const std::string& sku, const std::string& seller) {
    admin_post("/v1/products", product_body(sku, seller, 100));
    return sku;
  }
  std::string shared_sku() {
    if (shared_.empty()) shared_ = product("shared", "seller-shared");
    return shared_;
  }
  // An order whose customer and seller are both `owner`.
  std::string order(const std::string& n, const std::string& owner) {
    const std::string sku = product("os" + n, owner);
    admin_post("/v1/orders", order_body(owner, {{sku, 1}}, "o" + n));
    return "o" + n;
  }

  void deposit(const std::string& owner, int64_t amount) {
    admin_post("/v1/wallets/" + owner + "/deposits",
               fmt::format(R"({{"amount_minor":{},"currency":"EUR"}})", amount));
  }
  // An order of `owner` paid from its wallet, then shipped (stage ≥ 1) and delivered (≥ 2).
  std::string paid_order(const std::string& n, const std::string& owner, int stage) {
    const std::string id = order(n, owner);
    deposit(owner, 1000);
    auto r =
        c_.post("/v1/orders/" + id + "/pay?wait=true", R"({"method":"wallet"})", bearer(admin_));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    last_payment_ = body_json(r).find("payment_id")->as_string();
    if (stage >= 1) admin_post("/v1/orders/" + id + "/ship", "");
    if (stage >= 2) admin_post("/v1/orders/" + id + "/deliver", "");
    return id;
  }
  std::string payout(const std::string& n, const std::string& owner) {
    deposit(owner, 10);
    admin_post(
        "/v1/wallets/" + owner + "/payouts",
        R"({"payout_id":"pa)" + n + R"(","amount_minor":1,"currency":"EUR","destination":"bank"})");
    return "pa" + n;
  }

  // With the views: waits (bounded) until they applied everything the log holds.
  void settle() {
    if (!views_) return;
    for (int i = 0; i < 3000; ++i) {
      const Json status = body_json(c_.get("/readyz"));  // alive while iterating over it
      bool done = true;
      for (const auto& p : status.find("partitions")->as_array())
        done &= p.find("views_lag_events") && p.find("views_lag_events")->as_int() == 0;
      if (done) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("the views did not catch up with the log within the bound");
  }

  HttpClient& c_;
  bool views_;
  std::string last_payment_;
  std::string admin_ = token("root", Role::admin);
  int seq_ = 0;
  std::string shared_;
  std::string position_;
};

std::string fresh_schema() {
  return "t_authz_" + std::to_string(std::random_device{}() % 1000000000);
}

}  // namespace

TEST_CASE("authorization matrix: every endpoint × role × owner/other answers as the table says") {
  const auto pg = test_postgres();
  TempDir dir{"authz"};
  const std::string schema = fresh_schema();
  std::vector<std::string> args;
  if (pg) args = {"--postgres", *pg, "--views-schema", schema};
  ServerProcess server{dir.path() + "/data", args};
  const std::string log = dir.path() + "/stderr.log";
  server.capture_stderr(log);
  server.start();
  HttpClient c(server.port());
  Matrix m(c, pg.has_value());

  int want_forbidden = 0, want_not_found = 0, want_unauthenticated = 0, cells = 0;
  std::vector<std::string> tokens;
  for (const AccessRule& rule : api::access_table()) {
    const std::string what =
        fmt::format("{} {}", std::string_view(http::to_string(rule.method)), rule.pattern);
    for (Role role : kRoles) {
      for (Rel rel : {Rel::owner, Rel::other}) {
        const std::string sub = fmt::format("{}-1", api::to_string(role));
        auto cell = m.build(rule, rel == Rel::owner ? sub : "someone-else");
        REQUIRE_MESSAGE(cell, "no request for ", what, ": add it to Matrix::build");
        const Expect want = expected(rule, role, rel);
        const std::string tok = token(sub, role);
        tokens.push_back(tok);
        auto headers = bearer(tok);
        if (reads_views(rule.endpoint))
          for (auto& [k, v] : m.read_headers()) headers[k] = v;
        auto r = c.request(cell->method, cell->target, cell->body, headers);
        ++cells;
        INFO(what, " as ", api::to_string(role), " (", name(rel), "): want ", name(want), ", got ",
             r.status, " ", r.body);
        // Without the views, a granted read stops at 503 before ownership can be known.
        const bool views_missing = reads_views(rule.endpoint) && !pg;
        if (want == Expect::forbidden) {
          CHECK(r.status == 403);
          CHECK(problem_code(r) == "forbidden");
          ++want_forbidden;
        } else if (views_missing) {
          CHECK(r.status == 503);
          CHECK(problem_code(r) == "views_not_configured");
        } else if (want == Expect::not_found) {
          CHECK(r.status == 404);
          CHECK(problem_code(r) == "not_found");
          ++want_not_found;
        } else {
          CHECK(r.status == cell->ok_status);
        }
      }
    }
    // No token, and a token that does not verify: 401 for everything that is not open.
    for (std::string auth : {"", "Bearer not.a.token"}) {
      auto cell = m.build(rule, "someone-else");
      std::map<std::string, std::string> h;
      if (!auth.empty()) h["Authorization"] = auth;
      auto r = c.request(cell->method, cell->target, cell->body, h);
      INFO(what, " with Authorization '", auth, "': ", r.status, " ", r.body);
      if (rule.open) {
        CHECK(r.status == cell->ok_status);
      } else {
        CHECK(r.status == 401);
        CHECK(problem_code(r) == "unauthenticated");
        CHECK(!r.header("WWW-Authenticate").empty());
        ++want_unauthenticated;
      }
    }
  }
  MESSAGE(cells, " cells over ", api::access_table().size(), " endpoints");
  CHECK(cells == static_cast<int>(api::access_table().size() * std::size(kRoles) * 2));

  // Every denial was counted under its reason, and nothing else was.
  CHECK(denied(c, "forbidden") == want_forbidden);
  CHECK(denied(c, "not_found_ownership") == want_not_found);
  CHECK(denied(c, "unauthenticated") == want_unauthenticated);
  CHECK(denied(c, "rate_limited") == 0);

  // …and logged, one line each, without any token.
  server.terminate();
  const std::string text = read_file(log);
  size_t lines = 0;
  for (size_t p = 0; (p = text.find("ordo: denied reason=", p)) != std::string::npos; ++p) ++lines;
  // The log is throttled per second, so under a fast matrix some lines may be folded into a
  // "suppressed" count; at least the first of each second is there.
  CHECK(lines > 0);
  CHECK(text.find("reason=forbidden method=POST path=\"/v1/products\" sub=\"customer-1\"") !=
        std::string::npos);
  for (const auto& t : tokens)
    CHECK_MESSAGE(text.find(t.substr(t.rfind('.') + 1)) == std::string::npos,
                  "a token signature was logged");
  CHECK(text.find(kTestSecret) == std::string::npos);

  if (pg) {
    pqxx::connection conn(*pg);
    pqxx::work w(conn);
    w.exec("DROP SCHEMA IF EXISTS " + w.quote_name(schema) + " CASCADE");
    w.commit();
  }
}

TEST_CASE("routing: a literal segment beats a parameter, as OpenAPI has it") {
  namespace http = boost::beast::http;
  std::vector<std::string> params;
  bool known = false;
  // /v1/payments/webhook is the webhook's path only (it takes POST); no payment has that
  // name (api/money_codec.cpp refuses it), so nothing is lost at GET.
  const AccessRule* r = api::match_rule(http::verb::post, "/v1/payments/webhook", params, known);
  REQUIRE(r);
  CHECK(r->endpoint == Endpoint::payment_webhook);
  CHECK(params.empty());
  r = api::match_rule(http::verb::get, "/v1/payments/webhook", params, known);
  CHECK(r == nullptr);
  CHECK(known);
  CHECK(api::allowed_methods("/v1/payments/webhook") == "POST");
  r = api::match_rule(http::verb::get, "/v1/payments/p1", params, known);
  REQUIRE(r);
  CHECK(r->endpoint == Endpoint::get_payment);
  CHECK(params == std::vector<std::string>{"p1"});
  CHECK(api::allowed_methods("/v1/payments/p1") == "GET, HEAD");
  // HEAD takes the GET route (and its access rule); it is no way into a POST-only path.
  r = api::match_rule(http::verb::head, "/v1/payments/p1", params, known);
  REQUIRE(r);
  CHECK(r->endpoint == Endpoint::get_payment);
  CHECK(api::match_rule(http::verb::head, "/v1/payments/webhook", params, known) == nullptr);
  r = api::match_rule(http::verb::get, "/v1/nowhere", params, known);
  CHECK(r == nullptr);
  CHECK_FALSE(known);
}

// The OpenAPI document served at /v1/openapi.json: it parses, it is 3.1, it describes every
// endpoint of the access table (and nothing else), and real responses use documented codes.
#include <set>

#include "api/access.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/security/security_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// The response codes the document lists for `method path`.
std::set<std::string> documented(const Json& doc, const std::string& path,
                                 const std::string& method) {
  std::set<std::string> out;
  const Json* op = doc.find("paths")->find(path)->find(method);
  for (const auto& [code, v] : op->find("responses")->as_object()) out.insert(code);
  return out;
}

}  // namespace

TEST_CASE("openapi: /v1/openapi.json is open, OpenAPI 3.1, and covers the access table exactly") {
  TempDir dir{"openapi"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  auto r = c.get("/v1/openapi.json");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  Json doc = body_json(r);
  REQUIRE(doc.find("openapi"));
  CHECK(doc.find("openapi")->as_string().rfind("3.1", 0) == 0);
  const Json* paths = doc.find("paths");
  REQUIRE(paths);

  std::set<std::pair<std::string, std::string>> table, described;
  for (const auto& rule : api::access_table())
    table.emplace(std::string(rule.pattern), lower(http::to_string(rule.method)));
  for (const auto& [path, item] : paths->as_object())
    for (const auto& [method, op] : item.as_object())
      if (method != "parameters") described.emplace(path, method);
  for (const auto& e : table)
    CHECK_MESSAGE(described.count(e), "undocumented: ", e.second, " ", e.first);
  for (const auto& e : described)
    CHECK_MESSAGE(table.count(e), "documented but not routed: ", e.second, " ", e.first);

  // Command bodies are closed objects naming their required fields, as the codec demands.
  const Json* schemas = doc.find("components")->find("schemas");
  for (const char* s : {"DefineProduct", "AdjustStock", "PlaceOrder", "CancelOrder"}) {
    INFO(s);
    const Json* schema = schemas->find(s);
    REQUIRE(schema);
    REQUIRE(schema->find("additionalProperties"));
    CHECK(schema->find("additionalProperties")->is_bool());
    CHECK(!schema->find("additionalProperties")->as_bool());
  }
  CHECK(schemas->find("Id")->find("pattern")->as_string() == "^[A-Za-z0-9._:-]{1,64}$");

  // Real responses of several kinds carry codes the document lists for their operation.
  const auto merchant = bearer(token("m1", Role::merchant));
  const auto customer = bearer(token("c1", Role::customer));
  struct Probe {
    std::string path, method;
    HttpResult result;
  };
  std::vector<Probe> probes{
      {"/v1/products", "post", c.post("/v1/products", product_body("p1", "m1", 5), merchant)},
      {"/v1/products", "post",
       c.post("/v1/products", product_body("p1", "m1", 5), merchant)},                // 409
      {"/v1/products", "post", c.post("/v1/products", R"({"sku":"p2"})", merchant)},  // 400
      {"/v1/products", "post",
       c.post("/v1/products", product_body("p3", "m2", 5), merchant)},                // 403
      {"/v1/products", "post", c.post("/v1/products", product_body("p3", "m1", 5))},  // 401
      {"/v1/products/{sku}/stock", "post",
       c.post("/v1/products/p1/stock", R"({"delta":2})", merchant)},
      {"/v1/orders", "post", c.post("/v1/orders", order_body("c1", {{"p1", 1}}, "o1"), customer)},
      {"/v1/orders", "post",
       c.post("/v1/orders", order_body("c1", {{"p1", 100}}), customer)},  // 409
      {"/v1/orders", "post",
       c.post("/v1/orders", order_body("c1", {{"nope", 1}}), customer)},  // 422
      {"/v1/orders/{id}/cancel", "post", c.post("/v1/orders/o1/cancel", "{}", customer)},
      {"/v1/orders/{id}", "get", c.get("/v1/orders/o1", customer)},             // 503
      {"/v1/subscribe", "get", c.get("/v1/subscribe", customer)},               // 426
      {"/v1/subscribe", "get", c.get("/v1/subscribe?types=Order,", customer)},  // 400
  };
  // An undeclared method: 405 with the Allow header RFC 9110 requires.
  auto del = c.request(http::verb::delete_, "/v1/products", "", merchant);
  check_problem(del, 405, "method_not_allowed");
  CHECK(del.header("Allow") == "POST, GET, HEAD");
  for (const auto& p : probes) {
    INFO(p.method, " ", p.path, " → ", p.result.status, " ", p.result.body);
    CHECK(documented(doc, p.path, p.method).count(std::to_string(p.result.status)) == 1);
    if (p.result.status >= 400)
      CHECK(p.result.header("Content-Type") == "application/problem+json");
  }
}

#pragma once
#include <doctest/doctest.h>
#include <fmt/core.h>

#include "engine/log/json.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/server_process.hpp"

namespace ordo::test {

inline Json body_json(const HttpResult& r) {
  auto j = parse_json(r.body);
  REQUIRE_MESSAGE(j.ok(), "not JSON: " << r.body);
  return j.value();
}

inline std::string str_field(const HttpResult& r, const std::string& k) {
  Json j = body_json(r);
  const Json* v = j.find(k);
  return v && v->is_string() ? v->as_string() : "";
}

// A problem+json response with the given status and code.
inline void check_problem(const HttpResult& r, int status, const std::string& code) {
  CHECK_MESSAGE(r.status == status, r.body);
  CHECK(r.header("Content-Type") == "application/problem+json");
  Json j = body_json(r);
  const Json* c = j.find("code");
  REQUIRE(c);
  CHECK(c->as_string() == code);
  CHECK(j.find("type"));
  CHECK(j.find("title"));
  CHECK(j.find("detail"));
  CHECK(j.find("status")->as_int() == status);
}

struct Streams {
  HttpClient& client;
  std::string auditor = token("auditor-1", api::Role::auditor);

  std::vector<Json> events(const std::string& stream) {
    std::vector<Json> out;
    int64_t from = 1;
    for (;;) {
      auto r =
          client.get(fmt::format("/v1/streams/{}/events?from_version={}&limit=1000", stream, from),
                     bearer(auditor));
      REQUIRE_MESSAGE(r.status == 200, r.body);
      Json j = body_json(r);
      for (const auto& e : j.find("events")->as_array()) out.push_back(e);
      const Json* next = j.find("next_from_version");
      if (!next || next->is_null()) return out;
      from = next->as_int();
    }
  }

  // Sum of reserved quantity a product stream records (reserved minus released).
  int64_t reserved(const std::string& sku) {
    int64_t r = 0;
    for (const auto& e : events("product-" + sku)) {
      const std::string& t = e.find("type")->as_string();
      int64_t q = t == "StockReserved" || t == "StockReleased"
                      ? e.find("payload")->find("qty")->as_int()
                      : 0;
      r += t == "StockReserved" ? q : -q;
    }
    return r;
  }

  int64_t last_offset() {
    auto r = client.get("/readyz");
    REQUIRE(r.status == 200);
    return body_json(r).find("partitions")->as_array().at(0).find("last_offset")->as_int();
  }
};

inline std::string product_body(const std::string& sku, const std::string& seller, int64_t stock,
                                int64_t price = 1000, const std::string& currency = "EUR") {
  return fmt::format(
      R"({{"sku":"{}","seller_id":"{}","name":"Item {}","price_minor":{},"currency":"{}","stock":{}}})",
      sku, seller, sku, price, currency, stock);
}

inline std::string order_body(const std::string& customer,
                              const std::vector<std::pair<std::string, int64_t>>& lines,
                              const std::string& order_id = "") {
  std::string ls;
  for (const auto& [sku, qty] : lines)
    ls += fmt::format(R"({}{{"sku":"{}","qty":{}}})", ls.empty() ? "" : ",", sku, qty);
  if (order_id.empty()) return fmt::format(R"({{"customer_id":"{}","lines":[{}]}})", customer, ls);
  return fmt::format(R"({{"order_id":"{}","customer_id":"{}","lines":[{}]}})", order_id, customer,
                     ls);
}

}  // namespace ordo::test

// Header and query input the HTTP handler must read as RFC 9110 says, and refuse when it is
// malformed, before anything is submitted: media types and auth schemes in any case, one
// non-empty Idempotency-Key, ?wait=true|false, percent escapes of exactly two hex digits.
#include <doctest/doctest.h>

#include "api/http_util.hpp"
#include "tests/unit/app_support.hpp"

using namespace ordo;
using namespace ordo::api;
using namespace ordo::test::app;

TEST_CASE("percent escapes are two hex digits; '+' is a space only in a query") {
  CHECK(percent_decode("%41%7a") == std::optional<std::string>("Az"));
  CHECK(percent_decode("a+b") == std::optional<std::string>("a b"));
  CHECK(percent_decode("a+b", PercentPart::path) == std::optional<std::string>("a+b"));
  CHECK_FALSE(percent_decode("%-1"));  // from_chars would read it as -1, a byte 0xFF
  CHECK_FALSE(percent_decode("%-0"));
  CHECK_FALSE(percent_decode("%+1"));
  CHECK_FALSE(percent_decode("%4"));
  CHECK_FALSE(percent_decode("%zz"));
  CHECK_FALSE(parse_query("a=%-1"));
}

TEST_CASE("media types and the Bearer scheme are compared without regard to case") {
  CHECK(is_json_media_type("application/json"));
  CHECK(is_json_media_type("Application/JSON; charset=utf-8"));
  CHECK(is_json_media_type(" application/json ;charset=UTF-8"));
  CHECK_FALSE(is_json_media_type("application/json-seq"));
  CHECK_FALSE(is_json_media_type("application/jsonfoo"));
  CHECK_FALSE(is_json_media_type("text/plain"));
  CHECK_FALSE(is_json_media_type(""));

  CHECK(bearer_token("Bearer abc") == "abc");
  CHECK(bearer_token("bearer abc") == "abc");
  CHECK(bearer_token("BEARER   abc ") == "abc");
  CHECK(bearer_token("Bearerabc").empty());
  CHECK(bearer_token("Bearer ").empty());
  CHECK(bearer_token("Basic abc").empty());
}

TEST_CASE("the handler reads headers as RFC 9110 says and refuses malformed ones untouched") {
  AppRig rig("app-input");
  auto& clock = rig.clock;
  auto& proc = rig.proc;
  auto& app = rig.app;
  auto& io = rig.io;
  // Runs a request to its answer, running the partition for whatever it submitted.
  auto call = [&](Request req) {
    auto p = start(io, app, std::move(req));
    io.restart();
    io.poll();
    while (proc.queue_depth() > 0) proc.run_once();
    io.restart();
    io.run();
    REQUIRE(p->res);
    return std::move(*p->res);
  };
  const std::string merchant = bearer(clock, "m1", Role::merchant);
  const std::string product =
      R"({"sku":"mug","seller_id":"m1","name":"Mug","price_minor":1000,"currency":"EUR","stock":5})";

  SUBCASE("an auth scheme and a media type in another case are understood") {
    Request req = post("/v1/products", product, "bearer" + merchant.substr(6), "");
    req.set(http::field::content_type, "Application/JSON; charset=UTF-8");
    Response res = call(std::move(req));
    CHECK_MESSAGE(res.result_int() == 201, res.body());
    CHECK(proc.state_for_test().find_product(Sku{"mug"}) != nullptr);
  }
  SUBCASE("a media type that only starts like JSON is refused") {
    Request req = post("/v1/products", product, merchant, "");
    req.set(http::field::content_type, "application/json-seq");
    Response res = call(std::move(req));
    CHECK(res.result_int() == 415);
    CHECK(problem_code(res) == "unsupported_media_type");
    CHECK(proc.state_for_test().products.empty());
  }
  SUBCASE("an empty or repeated Idempotency-Key is refused, not ignored") {
    Request empty = post("/v1/products", product, merchant, "");
    empty.set("Idempotency-Key", "");
    Response res = call(std::move(empty));
    CHECK(res.result_int() == 400);
    CHECK(problem_code(res) == "validation_failed");
    CHECK(res.body().find("Idempotency-Key") != std::string::npos);

    Request twice = post("/v1/products", product, merchant, "k-1");
    twice.insert("Idempotency-Key", "k-2");
    res = call(std::move(twice));
    CHECK(res.result_int() == 400);
    CHECK(problem_code(res) == "validation_failed");
    CHECK(proc.state_for_test().products.empty());
  }
  SUBCASE("?wait takes true or false only") {
    REQUIRE(call(post("/v1/products", product, merchant, "")).result_int() == 201);
    const std::string customer = bearer(clock, "c1", Role::customer);
    Response placed = call(post("/v1/orders",
                                R"({"order_id":"o-1","customer_id":"c1",)"
                                R"("lines":[{"sku":"mug","qty":1}]})",
                                customer, ""));
    REQUIRE_MESSAGE(placed.result_int() == 201, placed.body());
    for (const char* bad : {"yes", "TRUE", "1"}) {
      Response res = call(post(fmt::format("/v1/orders/o-1/pay?wait={}", bad),
                               R"({"method":"card"})", customer, ""));
      CHECK_MESSAGE(res.result_int() == 400, bad);
      CHECK(problem_code(res) == "validation_failed");
      CHECK(res.body().find("wait") != std::string::npos);
    }
    CHECK(proc.state_for_test().find_order(OrderId{"o-1"})->status == OrderStatus::reserved);
    Response paid =
        call(post("/v1/orders/o-1/pay?wait=false", R"({"method":"card"})", customer, ""));
    CHECK_MESSAGE(paid.result_int() / 100 == 2, paid.body());
    CHECK(proc.state_for_test().find_order(OrderId{"o-1"})->status == OrderStatus::payment_pending);
  }
  SUBCASE("a malformed escape in the path is a 400") {
    Response res = call(post("/v1/orders/o%-1/cancel", "{}", merchant, ""));
    CHECK(res.result_int() == 400);
    CHECK(problem_code(res) == "bad_path");
  }
}

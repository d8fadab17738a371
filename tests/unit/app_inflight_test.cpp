// The HTTP handler over a real engine whose partition the test runs by hand: a command that
// outlives its handler (the handler answered 503 outcome_unknown) keeps its Idempotency-Key
// in flight until the partition has decided it, so a retry can neither run it a second time
// nor be told it never happened.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <fmt/core.h>

#include "api/app.hpp"
#include "engine/log/json.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"
#include "tests/unit/app_support.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;
using namespace ordo::api;

using namespace ordo::test::app;

TEST_CASE("a command that outlives its handler keeps its Idempotency-Key until it is decided") {
  AppConfig ac = app_config();
  // The handler stops waiting after this long; the test never runs the partition before
  // it has, so the bound decides nothing but how long the test takes.
  ac.command_timeout = std::chrono::milliseconds(50);
  // Not started: a command waits in the partition's queue until the test runs it.
  AppRig rig("app-inflight", ac);
  auto& clock = rig.clock;
  auto& proc = rig.proc;
  auto& app = rig.app;
  auto& io = rig.io;

  // A product, through the handler: it waits while the test runs the partition.
  auto defined = start(io, app,
                       post("/v1/products",
                            R"({"sku":"mug","seller_id":"m1","name":"Mug","price_minor":1000,)"
                            R"("currency":"EUR","stock":5})",
                            bearer(clock, "m1", Role::merchant), ""));
  io.poll();
  REQUIRE(proc.queue_depth() == 1u);
  CHECK(proc.run_once() == 1u);
  io.restart();
  io.run();
  REQUIRE(defined->res);
  REQUIRE_MESSAGE(defined->res->result_int() == 201, defined->res->body());

  // An order with a key; no order id, so the server names it and a second run of the
  // command would place a second order.
  const std::string customer = bearer(clock, "c1", Role::customer);
  const std::string body = R"({"customer_id":"c1","lines":[{"sku":"mug","qty":2}]})";
  auto first = start(io, app, post("/v1/orders", body, customer, "k-1"));
  io.restart();
  io.run();  // ends when the handler's wait has run out
  REQUIRE(first->res);
  CHECK(first->res->result_int() == 503);
  CHECK(problem_code(*first->res) == "outcome_unknown");
  REQUIRE(proc.queue_depth() == 1u);  // the command is still queued

  // A retry while the command is undecided is told to wait; it submits nothing.
  auto retry = start(io, app, post("/v1/orders", body, customer, "k-1"));
  io.restart();
  io.run();
  REQUIRE(retry->res);
  CHECK(retry->res->result_int() == 409);
  CHECK(problem_code(*retry->res) == "idempotency_in_flight");
  CHECK(proc.queue_depth() == 1u);

  // The partition decides the command: the key is free again, and a retry replays the
  // first run's answer instead of running it again.
  CHECK(proc.run_once() == 1u);
  io.restart();
  io.run();  // the late completion's wake-up, for a handler that is gone
  auto replay = start(io, app, post("/v1/orders", body, customer, "k-1"));
  io.restart();
  io.run();
  REQUIRE(replay->res);
  CHECK_MESSAGE(replay->res->result_int() == 201, replay->res->body());
  CHECK((*replay->res)["Idempotent-Replayed"] == "true");
  CHECK(proc.queue_depth() == 0u);
  CHECK(proc.state_for_test().orders.size() == 1u);
  CHECK(proc.state_for_test().find_product(Sku{"mug"})->reserved.value() == 2);
  CHECK(replay->res->body().find(proc.state_for_test().orders.begin()->first.value()) !=
        std::string::npos);
}

TEST_CASE("a path id that a failed write may have created answers 503 to retry, not 404") {
  AppRig rig("app-doubt");
  auto& clock = rig.clock;
  auto& engine = rig.engine;
  auto& app = rig.app;
  auto& io = rig.io;
  const std::string customer = bearer(clock, "c1", Role::customer);
  auto pay = [&] {
    auto p = start(io, app, post("/v1/orders/o-doubt/pay", R"({"method":"card"})", customer, ""));
    io.restart();
    io.run();
    REQUIRE(p->res);
    return std::move(*p->res);
  };

  // The order's PlaceOrder was written with its outcome unknown (held in doubt as the
  // partition does after such a failure): the order may exist, so the customer is told
  // to retry rather than that it does not exist.
  const Command placed =
      PlaceOrder{OrderId{"o-doubt"}, CustomerId{"c1"}, {OrderLineRequest{Sku{"mug"}, Quantity{1}}}};
  engine.router().hold_in_doubt(placed);
  Response unknown = pay();
  CHECK(unknown.result_int() == 503);
  CHECK(problem_code(unknown) == "storage_unavailable");
  CHECK(!unknown["Retry-After"].empty());
  CHECK(!unknown["Ordo-Position"].empty());

  // Its partition recovered and the order was not there: now it does not exist.
  engine.router().settle_in_doubt(placed, false);
  Response missing = pay();
  CHECK(missing.result_int() == 404);
  CHECK(problem_code(missing) == "not_found");
}

TEST_CASE("a stop waits as long as the longest request in hand may take, settles included") {
  AppConfig c;
  c.flow_wait_timeout = std::chrono::milliseconds(10'000);
  c.settle_timeout = std::chrono::milliseconds(10'000);
  c.query_timeout = std::chrono::milliseconds(10'000);
  CHECK(drain_timeout_for(c) == std::chrono::milliseconds(15'000));
  c.query_timeout = std::chrono::milliseconds(60'000);
  CHECK(drain_timeout_for(c) == std::chrono::milliseconds(65'000));
  // A short query bound does not cut a settle in progress short.
  c.query_timeout = std::chrono::milliseconds(1);
  c.flow_wait_timeout = std::chrono::milliseconds(2'000);
  CHECK(drain_timeout_for(c) == std::chrono::milliseconds(15'000));
  c.settle_timeout = std::chrono::milliseconds(1);
  CHECK(drain_timeout_for(c) == std::chrono::milliseconds(7'000));
}

// The read models against a real PostgreSQL (started by the CTest fixture): every view equals
// an independent fold of the log; crashes and database restarts neither lose nor double rows;
// Ordo-Min-Position gives read-your-writes; ownership narrows what callers see.
#include <algorithm>
#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "engine/log/event_codec.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "projections/view_writer.hpp"
#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

std::string pg_conninfo() {
  const char* c = std::getenv("ORDO_TEST_POSTGRES");
  REQUIRE_MESSAGE(c, "ORDO_TEST_POSTGRES is not set (run through ctest)");
  return c;
}

std::string fresh_schema(const std::string& tag) {
  std::random_device rd;
  return "t_" + tag + "_" + std::to_string(rd() % 1000000000);
}

void drop_schema(const std::string& schema) {
  pqxx::connection c(pg_conninfo());
  pqxx::work w(c);
  w.exec("DROP SCHEMA IF EXISTS " + w.quote_name(schema) + " CASCADE");
  w.commit();
}

// What the views must hold, folded here from the raw log — not by the projector's code.
struct Expected {
  struct Product {
    std::string seller;
    int64_t on_hand = 0, reserved = 0, version = 0;
  };
  struct Order {
    std::string customer, seller, status;
    int64_t total = 0, version = 0;
    std::vector<std::pair<std::string, int64_t>> lines;
  };
  struct Sales {
    int64_t placed = 0, units = 0, gross = 0, cancelled = 0, cancelled_minor = 0, expired = 0,
            expired_minor = 0;
  };
  std::map<std::string, Product> products;
  std::map<std::string, Order> orders;
  std::map<std::tuple<std::string, std::string, std::string>, Sales> sales;
  std::map<std::string, std::string> order_day;
  int64_t events = 0;
};

Expected fold_log(const std::string& data_dir, uint32_t partitions) {
  Expected x;
  auto db = RocksDb::open(data_dir + "/rocksdb");
  REQUIRE(db.ok());
  auto log = RocksDbLog::open(*db.value(), partitions);
  REQUIRE(log.ok());
  for (uint32_t p = 0; p < partitions; ++p) {
    for (Offset from{0};;) {
      auto batch = log.value()->read(PartitionId{p}, from, 2000);
      REQUIRE(batch.ok());
      if (batch->empty()) break;
      for (const auto& e : batch.value()) {
        ++x.events;
        const Json& pl = e.payload;
        auto s = [&](const char* k) { return pl.find(k)->as_string(); };
        auto n = [&](const char* k) { return pl.find(k)->as_int(); };
        if (e.type == "ProductDefined") {
          x.products[s("sku")] = {s("seller_id"), n("initial_stock"), 0, e.stream_version};
        } else if (e.type == "StockAdjusted") {
          auto& pr = x.products[s("sku")];
          pr.on_hand += n("delta");
          pr.version = e.stream_version;
        } else if (e.type == "StockReserved" || e.type == "StockReleased") {
          auto& pr = x.products[s("sku")];
          pr.reserved += e.type == "StockReserved" ? n("qty") : -n("qty");
          pr.version = e.stream_version;
        } else if (e.type == "OrderPlaced") {
          Expected::Order o{s("customer_id"), s("seller_id"),   "reserved",
                            n("total_minor"), e.stream_version, {}};
          int64_t units = 0;
          for (const auto& l : pl.find("lines")->as_array()) {
            o.lines.emplace_back(l.find("sku")->as_string(), l.find("qty")->as_int());
            units += l.find("qty")->as_int();
          }
          std::string day = projections::utc_timestamp(e.occurred_at.value()).substr(0, 10);
          x.order_day[s("order_id")] = day;
          auto& sd = x.sales[{day, o.seller, s("currency")}];
          sd.placed += 1;
          sd.units += units;
          sd.gross += o.total;
          x.orders[s("order_id")] = o;
        } else if (e.type == "OrderCancelled" || e.type == "OrderExpired") {
          auto& o = x.orders[s("order_id")];
          bool cancelled = e.type == "OrderCancelled";
          o.status = cancelled ? "cancelled" : "expired";
          o.version = e.stream_version;
          auto& sd = x.sales[{x.order_day[s("order_id")], o.seller, "EUR"}];
          (cancelled ? sd.cancelled : sd.expired) += 1;
          (cancelled ? sd.cancelled_minor : sd.expired_minor) += o.total;
        }
      }
      from = Offset{batch->back().offset.value() + 1};
    }
  }
  return x;
}

void check_views_equal(const std::string& schema, const Expected& x) {
  pqxx::connection c(pg_conninfo());
  pqxx::work w(c);
  w.exec("SET search_path TO " + w.quote_name(schema));
  CHECK(w.exec("SELECT count(*) FROM events")[0][0].as<int64_t>() == x.events);
  auto products =
      w.exec("SELECT sku, seller_id, on_hand, reserved, available, version FROM products");
  CHECK(products.size() == x.products.size());
  for (const auto& r : products) {
    auto it = x.products.find(r[0].as<std::string>());
    REQUIRE(it != x.products.end());
    CHECK(r[1].as<std::string>() == it->second.seller);
    CHECK(r[2].as<int64_t>() == it->second.on_hand);
    CHECK(r[3].as<int64_t>() == it->second.reserved);
    CHECK(r[4].as<int64_t>() == it->second.on_hand - it->second.reserved);
    CHECK(r[5].as<int64_t>() == it->second.version);
  }
  auto orders =
      w.exec("SELECT order_id, customer_id, seller_id, status, total_minor, version FROM orders");
  CHECK(orders.size() == x.orders.size());
  for (const auto& r : orders) {
    auto it = x.orders.find(r[0].as<std::string>());
    REQUIRE(it != x.orders.end());
    CHECK(r[1].as<std::string>() == it->second.customer);
    CHECK(r[2].as<std::string>() == it->second.seller);
    CHECK(r[3].as<std::string>() == it->second.status);
    CHECK(r[4].as<int64_t>() == it->second.total);
    CHECK(r[5].as<int64_t>() == it->second.version);
  }
  size_t expected_lines = 0;
  for (const auto& [id, o] : x.orders) expected_lines += o.lines.size();
  CHECK(w.exec("SELECT count(*) FROM order_lines")[0][0].as<size_t>() == expected_lines);
  auto sales = w.exec(
      "SELECT to_char(day, 'YYYY-MM-DD'), seller_id, currency, orders_placed, units_placed, "
      "gross_minor, "
      "orders_cancelled, cancelled_minor, orders_expired, expired_minor FROM sales_daily");
  CHECK(sales.size() == x.sales.size());
  for (const auto& r : sales) {
    auto it =
        x.sales.find({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
    REQUIRE(it != x.sales.end());
    CHECK(r[3].as<int64_t>() == it->second.placed);
    CHECK(r[4].as<int64_t>() == it->second.units);
    CHECK(r[5].as<int64_t>() == it->second.gross);
    CHECK(r[6].as<int64_t>() == it->second.cancelled);
    CHECK(r[7].as<int64_t>() == it->second.cancelled_minor);
    CHECK(r[8].as<int64_t>() == it->second.expired);
    CHECK(r[9].as<int64_t>() == it->second.expired_minor);
  }
}

// Polls /readyz (bounded) until the views have applied everything the log holds.
void wait_views_caught_up(HttpClient& c) {
  for (int i = 0; i < 3000; ++i) {
    auto r = c.get("/readyz");
    REQUIRE(r.status == 200);
    bool done = true;
    const Json status = body_json(r);  // keep the value alive while iterating over it
    for (const auto& p : status.find("partitions")->as_array())
      done &= p.find("views_position") && p.find("views_lag_events")->as_int() == 0;
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the views did not catch up");
}

struct Workload {
  Workload(uint16_t p, uint64_t seed) : port(p), rng(seed) {}
  uint16_t port;
  std::mt19937_64 rng;
  int next_order = 0;
  std::vector<std::string> skus;
  std::map<std::string, std::string> seller_of;
  std::vector<std::pair<std::string, std::string>> orders;  // id, customer

  void define(int sellers, int per_seller) {
    HttpClient c(port);
    for (int s = 0; s < sellers; ++s)
      for (int i = 0; i < per_seller; ++i) {
        std::string seller = fmt::format("seller{}", s), sku = fmt::format("sku{}-{}", s, i);
        REQUIRE(c.post("/v1/products",
                       product_body(sku, seller, 40 + int(rng() % 40), 100 + int(rng() % 900)),
                       bearer(token(seller, Role::merchant)))
                    .status == 201);
        skus.push_back(sku);
        seller_of[sku] = seller;
      }
  }

  // One random command; returns its HTTP status (0: the connection failed).
  int step(HttpClient& c) {
    int pick = int(rng() % 10);
    if (pick < 6 || orders.empty()) {
      const std::string& sku = skus[rng() % skus.size()];
      std::vector<std::pair<std::string, int64_t>> lines{{sku, int64_t(1 + rng() % 3)}};
      // A second line from the same seller now and then.
      const std::string& other = skus[rng() % skus.size()];
      if (rng() % 3 == 0 && other != sku && seller_of[other] == seller_of[sku])
        lines.push_back({other, 1});
      std::string customer = fmt::format("cust{}", rng() % 5);
      std::string id = fmt::format("w{}-{}", rng() % 1000000, next_order++);
      auto r = c.post("/v1/orders", order_body(customer, lines, id),
                      bearer(token(customer, Role::customer)));
      if (r.status == 201) orders.emplace_back(id, customer);
      return r.status;
    }
    if (pick < 8) {
      const auto& [id, customer] = orders[rng() % orders.size()];
      return c.post("/v1/orders/" + id + "/cancel", "{}", bearer(token(customer, Role::customer)))
          .status;
    }
    const std::string& sku = skus[rng() % skus.size()];
    return c
        .post("/v1/products/" + sku + "/stock", fmt::format(R"({{"delta":{}}})", 1 + rng() % 20),
              bearer(token(seller_of[sku], Role::merchant)))
        .status;
  }
};

std::vector<std::string> server_args(const std::string& schema, uint32_t partitions) {
  return {"--postgres", pg_conninfo(),  "--views-schema",
          schema,       "--partitions", std::to_string(partitions)};
}

}  // namespace

TEST_CASE("views equal an independent fold of the log after a random workload") {
  const uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  for (uint32_t partitions : {1u, 3u}) {
    TempDir dir{"views"};
    const std::string schema = fresh_schema("fold");
    ServerProcess server{dir.path() + "/data", server_args(schema, partitions)};
    server.start();
    Workload w(server.port(), seed + partitions);
    w.define(3, 4);
    HttpClient c(server.port());
    for (int i = 0; i < 600; ++i) {
      int st = w.step(c);
      REQUIRE_MESSAGE((st == 200 || st == 201 || st == 409), "status " << st);
    }
    wait_views_caught_up(c);
    server.terminate();
    check_views_equal(schema, fold_log(dir.path() + "/data", partitions));
    drop_schema(schema);
  }
}

TEST_CASE("kill -9 mid-stream and restart: no row twice, none missing") {
  TempDir dir{"views-crash"};
  const std::string schema = fresh_schema("crash");
  ServerProcess server{dir.path() + "/data", server_args(schema, 2)};
  server.start();
  Workload w(server.port(), std::random_device{}());
  w.define(2, 3);
  for (int round = 0; round < 3; ++round) {
    if (!server.running()) server.start();
    w.port = server.port();
    HttpClient c(server.port());
    for (int i = 0; i < 150; ++i) w.step(c);
    server.kill9();  // the projector is usually mid-batch or just behind
  }
  server.start();
  HttpClient c(server.port());
  wait_views_caught_up(c);
  server.terminate();
  check_views_equal(schema, fold_log(dir.path() + "/data", 2));
  drop_schema(schema);
}

TEST_CASE("PostgreSQL restarts under load: commands never fail, views converge") {
  const char* pg_dir = std::getenv("ORDO_TEST_PG_DIR");
  const char* pg_script = std::getenv("ORDO_TEST_PG_SCRIPT");
  const char* pg_port = std::getenv("ORDO_TEST_PG_PORT");
  REQUIRE((pg_dir && pg_script && pg_port));
  TempDir dir{"views-pgrestart"};
  const std::string schema = fresh_schema("pgr");
  ServerProcess server{dir.path() + "/data", server_args(schema, 1)};
  server.start();
  Workload w(server.port(), std::random_device{}());
  w.define(2, 3);
  HttpClient c(server.port());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, done{0};
  std::thread load([&] {
    HttpClient lc(server.port());
    Workload lw = w;
    while (!stop) {
      int st = lw.step(lc);
      if (!(st == 200 || st == 201 || st == 409)) ++failures;
      ++done;
    }
  });
  auto run = [](const std::string& cmd) { REQUIRE(std::system(cmd.c_str()) == 0); };
  // Bounded waits for the load's progress: a load that stalls fails the test, not hangs it.
  auto wait_done = [&](int n) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (done < n && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (done < n) {
      stop = true;
      load.join();
      FAIL("the load made ", done.load(), " of ", n, " commands within the bound");
    }
  };
  wait_done(100);
  run(fmt::format("bash {} stop {}", pg_script, pg_dir));
  // The projector notices: /readyz says degraded while commands keep succeeding.
  bool degraded = false;
  std::string degraded_body;
  for (int i = 0; i < 1000 && !degraded; ++i) {
    auto ready = c.get("/readyz");
    degraded = str_field(ready, "views") == "degraded";
    if (degraded) degraded_body = ready.body;
    if (!degraded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Says that, not why: PostgreSQL's error (host, port, user) is in the server's log only.
  CHECK_MESSAGE(degraded_body.find("error") == std::string::npos, degraded_body);
  wait_done(done + 100);
  run(fmt::format("bash {} start {} {} >/dev/null", pg_script, pg_dir, pg_port));
  wait_done(done + 100);
  stop = true;
  load.join();
  CHECK(degraded);
  CHECK(failures == 0);
  wait_views_caught_up(c);
  server.terminate();
  check_views_equal(schema, fold_log(dir.path() + "/data", 1));
  drop_schema(schema);
}

TEST_CASE("queries stuck in PostgreSQL: past --max-pending-queries refused at once, then served") {
  TempDir dir{"views-busy"};
  const std::string schema = fresh_schema("busy");
  auto args = server_args(schema, 1);
  args.insert(args.end(), {"--max-pending-queries", "2"});
  ServerProcess server{dir.path() + "/data", args};
  server.start();
  HttpClient c(server.port());
  const std::string tok = token("c-busy", Role::customer);
  REQUIRE(c.post("/v1/products", product_body("busy-sku", "m-busy", 10),
                 bearer(token("m-busy", Role::merchant)))
              .status == 201);
  REQUIRE(
      c.post("/v1/orders", order_body("c-busy", {{"busy-sku", 1}}, "busy-1"), bearer(tok)).status ==
      201);
  wait_views_caught_up(c);
  REQUIRE(c.get("/v1/orders/busy-1", bearer(tok)).status == 200);

  // Another session holds the orders view: every query on it waits (until PostgreSQL's
  // statement timeout), as it would behind a hung database.
  pqxx::connection locker(pg_conninfo());
  pqxx::work lock_tx(locker);
  lock_tx.exec("LOCK TABLE " + locker.quote_name(schema) + ".orders IN ACCESS EXCLUSIVE MODE");
  constexpr int kClients = 8;
  std::vector<HttpResult> got(kClients);
  {
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
      clients.emplace_back([&, i] {
        HttpClient own(server.port());
        got[i] = own.get("/v1/orders/busy-1", bearer(tok));
      });
    for (auto& t : clients) t.join();
  }
  lock_tx.abort();
  int busy = 0;
  for (const auto& r : got) {
    // Two were let in and waited for the lock; the rest were refused without running.
    CHECK_MESSAGE(r.status == 503, r.body);
    if (r.body.find("\"views_busy\"") != std::string::npos) {
      ++busy;
      CHECK(!r.header("Retry-After").empty());
    } else {
      // An admitted one: PostgreSQL's statement timeout (5 s) cancels it before the API's
      // own wait (10 s, views_timeout) is over.
      CHECK_MESSAGE(r.body.find("\"views_unavailable\"") != std::string::npos, r.body);
      CHECK(!r.header("Retry-After").empty());
    }
  }
  CHECK(busy >= kClients - 2);
  // Nothing is left queued behind the lock: the view answers again. (The two admitted
  // queries gave their slots back before their clients got an answer: PostgreSQL's
  // statement timeout, 5 s, ends them before the API's 10 s wait; were it longer, this
  // query could still meet them in the lane.)
  auto again = c.get("/v1/orders/busy-1", bearer(tok));
  CHECK_MESSAGE(again.status == 200, again.body);
  server.terminate();
  drop_schema(schema);
}

TEST_CASE("read your writes with Ordo-Min-Position; owners see only their rows") {
  TempDir dir{"views-ryw"};
  const std::string schema = fresh_schema("ryw");
  ServerProcess server{dir.path() + "/data", server_args(schema, 2)};
  server.start();
  HttpClient c(server.port());
  REQUIRE(c.post("/v1/products", product_body("a1", "alice", 1000),
                 bearer(token("alice", Role::merchant)))
              .status == 201);
  REQUIRE(
      c.post("/v1/products", product_body("b1", "bob", 1000), bearer(token("bob", Role::merchant)))
          .status == 201);
  for (int i = 0; i < 60; ++i) {
    std::string customer = i % 2 ? "c-odd" : "c-even";
    std::string sku = i % 3 ? "a1" : "b1";
    std::string id = fmt::format("ryw-{}", i);
    auto tok = token(customer, Role::customer);
    auto placed = c.post("/v1/orders", order_body(customer, {{sku, 1}}, id), bearer(tok));
    REQUIRE(placed.status == 201);
    auto h = bearer(tok);
    h["Ordo-Min-Position"] = placed.header("Ordo-Position");
    auto got = c.get("/v1/orders/" + id, h);
    REQUIRE_MESSAGE(got.status == 200, got.body << got.error);
    CHECK(str_field(got, "status") == "reserved");
    if (i % 5 == 0) {
      auto cancelled = c.post("/v1/orders/" + id + "/cancel", "{}", bearer(tok));
      REQUIRE(cancelled.status == 200);
      h["Ordo-Min-Position"] = cancelled.header("Ordo-Position");
      CHECK(str_field(c.get("/v1/orders/" + id, h), "status") == "cancelled");
    }
  }
  wait_views_caught_up(c);
  // Someone else's order is 404; lists are narrowed to the caller.
  check_problem(c.get("/v1/orders/ryw-0", bearer(token("c-odd", Role::customer))), 404,
                "not_found");
  check_problem(c.get("/v1/orders/ryw-0", bearer(token("bob-not", Role::merchant))), 404,
                "not_found");
  CHECK(c.get("/v1/orders/ryw-0", bearer(token("bob", Role::merchant))).status ==
        200);  // b1 is bob's
  auto count_pages = [&](const std::string& tok, const std::string& query, const std::string& field,
                         const std::string& expect) {
    int n = 0;
    std::string cursor;
    for (int guard = 0; guard < 100; ++guard) {
      auto r = c.get("/v1/orders?limit=7" + query + (cursor.empty() ? "" : "&cursor=" + cursor),
                     bearer(tok));
      REQUIRE_MESSAGE(r.status == 200, r.body);
      Json j = body_json(r);
      for (const auto& o : j.find("orders")->as_array()) {
        CHECK(o.find(field)->as_string() == expect);
        ++n;
      }
      const Json* next = j.find("next_cursor");
      if (next->is_null()) break;
      cursor = next->as_string();
    }
    return n;
  };
  CHECK(count_pages(token("c-odd", Role::customer), "", "customer_id", "c-odd") == 30);
  CHECK(count_pages(token("c-odd", Role::customer), "&customer_id=c-even", "customer_id",
                    "c-odd") == 0);
  CHECK(count_pages(token("alice", Role::merchant), "", "seller_id", "alice") == 40);
  CHECK(count_pages(token("bob", Role::merchant), "&status=cancelled", "seller_id", "bob") == 4);
  CHECK(count_pages(token("root", Role::admin), "&seller_id=bob", "seller_id", "bob") == 20);
  check_problem(c.get("/v1/reports/sales?seller_id=bob", bearer(token("alice", Role::merchant))),
                403, "forbidden");
  check_problem(c.get("/v1/orders?status=bogus", bearer(token("root", Role::admin))), 400,
                "validation_failed");
  // The sales report a row at a time gives the rows of one full page, in the same order.
  auto report_rows = [&](int limit) {
    std::vector<std::string> rows;
    std::string cursor;
    for (int guard = 0; guard < 50; ++guard) {
      auto r = c.get("/v1/reports/sales?limit=" + std::to_string(limit) +
                         (cursor.empty() ? "" : "&cursor=" + cursor),
                     bearer(token("root", Role::admin)));
      REQUIRE_MESSAGE(r.status == 200, r.body);
      Json j = body_json(r);
      for (const auto& row : j.find("rows")->as_array())
        rows.push_back(row.find("day")->as_string() + "|" + row.find("seller_id")->as_string() +
                       "|" + row.find("currency")->as_string());
      const Json* next = j.find("next_cursor");
      REQUIRE(next);
      if (next->is_null()) break;
      cursor = next->as_string();
    }
    return rows;
  };
  const auto one_page = report_rows(500);
  CHECK(report_rows(1) == one_page);
  std::set<std::string> sellers;
  for (const auto& row : one_page) sellers.insert(row.substr(11, row.rfind('|') - 11));
  CHECK(sellers == std::set<std::string>{"alice", "bob"});
  for (const char* forged :
       {"eHl6", "!!", "MjAyNi0wMi0zMHxhbGljZXxFVVI"})  // "xyz", "2026-02-30|alice|EUR"
    check_problem(c.get(std::string("/v1/reports/sales?cursor=") + forged,
                        bearer(token("root", Role::admin))),
                  400, "validation_failed");
  check_problem(c.get("/v1/reports/low-stock?cursor=eHl6", bearer(token("root", Role::admin))), 400,
                "validation_failed");
  // An empty cursor (the schema's pattern allows it) is the first page.
  auto first = c.get("/v1/orders?limit=7", bearer(token("root", Role::admin)));
  auto empty_cursor = c.get("/v1/orders?limit=7&cursor=", bearer(token("root", Role::admin)));
  REQUIRE_MESSAGE(empty_cursor.status == 200, empty_cursor.body);
  CHECK(empty_cursor.body == first.body);
  auto product = c.get("/v1/products/a1", bearer(token("c-odd", Role::customer)));
  REQUIRE(product.status == 200);
  CHECK(body_json(product).find("reserved")->as_int() == 40 - 8);  // 40 orders of a1, 8 cancelled
  server.terminate();
  drop_schema(schema);
}

TEST_CASE(
    "ordo replay rebuild: fresh views swapped in atomically; readers never see a half-built view") {
  TempDir dir{"views-rebuild"};
  const std::string schema = fresh_schema("rb");
  const std::string data = dir.path() + "/data";
  {
    ServerProcess server{data, server_args(schema, 2)};
    server.start();
    Workload w(server.port(), std::random_device{}());
    w.define(2, 3);
    HttpClient c(server.port());
    for (int i = 0; i < 300; ++i) w.step(c);
    wait_views_caught_up(c);
    server.terminate();
  }
  const Expected expected = fold_log(data, 2);
  const auto total = static_cast<int64_t>(expected.orders.size());
  // Damage the live views, so old and new are told apart by a reader.
  {
    pqxx::connection c(pg_conninfo());
    pqxx::work w(c);
    w.exec("DELETE FROM " + w.quote_name(schema) +
           ".orders WHERE order_id IN (SELECT order_id FROM " + w.quote_name(schema) +
           ".orders ORDER BY order_id LIMIT 10)");
    w.commit();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    pqxx::connection c(pg_conninfo());
    while (!stop) {
      try {
        pqxx::work w(c);
        int64_t n =
            w.exec("SELECT count(*) FROM " + w.quote_name(schema) + ".orders")[0][0].as<int64_t>();
        if (n != total && n != total - 10) ++torn;
        ++reads;
      } catch (const pqxx::sql_error&) {
        // The schema is being renamed under this statement: retry; never a partial answer.
      }
    }
  });
  std::string cmd =
      fmt::format("{} replay rebuild --data-dir {} --postgres '{}' --views-schema {} >/dev/null",
                  ordo_bin(), data, pg_conninfo(), schema);
  int rc = std::system(cmd.c_str());
  stop = true;
  reader.join();
  REQUIRE(rc == 0);
  CHECK(reads > 0);
  CHECK(torn == 0);
  check_views_equal(schema, expected);
  drop_schema(schema);
}

TEST_CASE("wallet reads over HTTP: every currency, ?currency=, entries newest first in pages") {
  TempDir dir{"views-wallet"};
  const std::string schema = fresh_schema("wallet");
  ServerProcess server{dir.path() + "/data", server_args(schema, 2)};
  server.start();
  HttpClient c(server.port());
  const auto fin = bearer(token("fin", Role::finance));
  const auto alice = bearer(token("alice", Role::customer));
  std::vector<int64_t> eur_amounts;  // alice's EUR entries, oldest first
  for (int64_t amount : {100, 200, 300}) {
    auto r = c.post("/v1/wallets/alice/deposits",
                    fmt::format(R"({{"amount_minor":{},"currency":"EUR"}})", amount), fin);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    eur_amounts.push_back(amount);
  }
  REQUIRE(
      c.post("/v1/wallets/alice/deposits", R"({"amount_minor":50,"currency":"USD"})", fin).status ==
      201);
  auto payout = c.post(
      "/v1/wallets/alice/payouts",
      R"({"payout_id":"po-1","amount_minor":120,"currency":"EUR","destination":"bank"})", alice);
  REQUIRE_MESSAGE(payout.status == 201, payout.body);
  wait_views_caught_up(c);

  // Without ?currency: the first currency's fields at the top, every currency below.
  auto all = c.get("/v1/wallets/alice", alice);
  REQUIRE_MESSAGE(all.status == 200, all.body);
  const Json w = body_json(all);
  CHECK(w.find("owner")->as_string() == "alice");
  CHECK(w.find("currency")->as_string() == "EUR");
  const auto& wallets = w.find("wallets")->as_array();
  REQUIRE(wallets.size() == 2);
  CHECK(wallets[0].find("currency")->as_string() == "EUR");
  CHECK(wallets[1].find("currency")->as_string() == "USD");
  CHECK(wallets[1].find("balance_minor")->as_int() == 50);
  // EUR: 600 in, 120 held for the payout (still in the balance until it completes).
  auto eur = c.get("/v1/wallets/alice?currency=EUR", bearer(token("fin", Role::finance)));
  REQUIRE(eur.status == 200);
  const Json e = body_json(eur);
  CHECK(e.find("balance_minor")->as_int() == 600);
  CHECK(e.find("held_minor")->as_int() == 120);
  CHECK(e.find("available_minor")->as_int() == 480);
  auto usd = c.get("/v1/wallets/alice?currency=USD", alice);
  REQUIRE(usd.status == 200);
  CHECK(body_json(usd).find("available_minor")->as_int() == 50);
  check_problem(c.get("/v1/wallets/alice?currency=GBP", alice), 404, "not_found");
  auto bad = c.get("/v1/wallets/alice?currency=eur", alice);
  check_problem(bad, 400, "validation_failed");
  CHECK(str_field(bad, "field") == "currency");
  check_problem(c.get("/v1/wallets/nobody", bearer(token("nobody", Role::customer))), 404,
                "not_found");
  check_problem(c.get("/v1/wallets/alice", bearer(token("bob", Role::customer))), 404, "not_found");

  // Entries: newest first, two per page, until next_cursor is null; every deposit is there.
  std::vector<std::pair<std::string, int64_t>> entries;  // (currency, amount)
  std::string cursor;
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto r = c.get(
        "/v1/wallets/alice/entries?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), alice);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    const Json page = body_json(r);
    const auto& items = page.find("entries")->as_array();
    CHECK(items.size() <= 2);
    for (const auto& it : items) {
      CHECK(it.find("account")->as_string() == "wallet:alice");
      entries.emplace_back(it.find("currency")->as_string(), it.find("amount_minor")->as_int());
    }
    const Json* next = page.find("next_cursor");
    if (next->is_null()) break;
    cursor = next->as_string();
  }
  CHECK(pages < 20);
  // The four deposits, newest first (a payout's hold moves no entry until it completes).
  std::vector<std::pair<std::string, int64_t>> deposits;
  for (const auto& [cur, amount] : entries)
    if (amount > 0) deposits.emplace_back(cur, amount);
  CHECK(deposits == std::vector<std::pair<std::string, int64_t>>{
                        {"USD", 50}, {"EUR", 300}, {"EUR", 200}, {"EUR", 100}});
  check_problem(c.get("/v1/wallets/alice/entries?limit=0", alice), 400, "validation_failed");
  check_problem(c.get("/v1/wallets/alice/entries?cursor=1.2.3", alice), 400, "validation_failed");
}

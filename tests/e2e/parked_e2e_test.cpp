// The admin's view of parked process-manager steps over HTTP, against the real binary: a
// step that can no longer run and a record that cannot be read are both listed, a retry of
// either is refused as still failing, and an admin dismisses them. The records are written
// into the stopped server's store by hand: the flows that park a step over HTTP need a
// refusal no client can cause on purpose.
#include <rocksdb/db.h>

#include <chrono>
#include <string>
#include <thread>

#include "e2e_helpers.hpp"
#include "engine/state/flow_store.hpp"
#include "engine/state/rocks_db.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

// The parked step records of `data_dir`'s store, written while no server runs: `stale` (a
// transient step whose event, at `at`, starts no step) and `broken` (not a record at all).
void park_by_hand(const std::string& data_dir, const Position& at) {
  auto db = RocksDb::open(data_dir + "/rocksdb");
  REQUIRE_MESSAGE(db.ok(), (db.ok() ? "" : db.error().message));
  FlowStore store(*db.value());
  ParkedStep stale;
  stale.id = "stale";
  stale.partition = at.partition;
  stale.offset = at.offset;
  stale.event_type = "ProductDefined";
  stale.command = "InitiatePayment";
  stale.error = "overloaded";
  stale.transient = true;
  REQUIRE(store.park(stale).ok());
  REQUIRE(db.value()
              ->db()
              .Put(rocksdb::WriteOptions(), db.value()->cf(Cf::meta), "flow/parked/broken",
                   "{not a record")
              .ok());
}

// The sum of every partition's last offset: it moves when anything is written to the log.
int64_t log_ends(HttpClient& c) {
  auto r = c.get("/readyz");
  REQUIRE(r.status == 200);
  const Json health = body_json(r);
  int64_t sum = 0;
  for (const auto& p : health.find("partitions")->as_array())
    sum += p.find("last_offset")->as_int();
  return sum;
}

// A dismissal is refused (503) until the manager has read past the step's event, which it
// does within a few of its rounds after a start: asked again, a bounded number of times.
HttpResult dismiss(HttpClient& c, const std::string& id, const std::string& who) {
  HttpResult r;
  for (int attempt = 0; attempt < 500; ++attempt) {
    r = c.request(http::verb::delete_, "/v1/admin/parked/" + id, "", bearer(who), false);
    if (r.status != 503 || str_field(r, "code") != "dismissal_unavailable") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return r;
}

Position parse_position(const std::string& header) {
  const size_t dash = header.find('-');
  REQUIRE(dash != std::string::npos);
  return Position{PartitionId{static_cast<uint32_t>(std::stoul(header.substr(0, dash)))},
                  Offset{std::stoll(header.substr(dash + 1))}};
}

}  // namespace

TEST_CASE("an admin lists, retries and dismisses parked steps, an unreadable one included") {
  TempDir dir("e2e-parked");
  ServerProcess server(dir.path() + "/data");
  server.start();
  const std::string admin = token("admin-1", Role::admin);
  Position product_at;
  {
    HttpClient c(server.port());
    auto made = c.post("/v1/products", product_body("mug", "m1", 5), bearer(admin));
    REQUIRE_MESSAGE(made.status == 201, made.body);
    product_at = parse_position(made.header("Ordo-Position"));
    auto none = c.get("/v1/admin/parked", bearer(admin));
    REQUIRE(none.status == 200);
    CHECK(body_json(none).find("parked")->as_array().empty());
  }
  server.terminate();
  park_by_hand(server.data_dir(), product_at);
  server.start();
  HttpClient c(server.port());

  // Both listed, in id order; the unreadable one by its id, saying so.
  auto listed = c.get("/v1/admin/parked", bearer(admin));
  REQUIRE_MESSAGE(listed.status == 200, listed.body);
  Json steps = body_json(listed).find("parked")->as_array();
  REQUIRE(steps.as_array().size() == 2);
  const Json& broken = steps.as_array()[0];
  CHECK(broken.find("id")->as_string() == "broken");
  CHECK_FALSE(broken.find("readable")->as_bool());
  CHECK(broken.find("error")->as_string().find("cannot be read") != std::string::npos);
  const Json& stale = steps.as_array()[1];
  CHECK(stale.find("id")->as_string() == "stale");
  CHECK(stale.find("readable")->as_bool());
  CHECK(stale.find("offset")->as_int() == product_at.offset.value());

  // Neither can run: the unreadable record has no step, the product's definition starts none.
  // The stale one now waits for an admin, not for the manager's own retries.
  check_problem(c.post("/v1/admin/parked/broken/retry", "", bearer(admin)), 409, "still_failing");
  auto retried = c.post("/v1/admin/parked/stale/retry", "", bearer(admin));
  check_problem(retried, 409, "still_failing");
  CHECK(str_field(retried, "detail").find("starts no step") != std::string::npos);
  Json after_retry = body_json(c.get("/v1/admin/parked", bearer(admin))).find("parked")->as_array();
  REQUIRE(after_retry.as_array().size() == 2);
  CHECK_FALSE(after_retry.as_array()[1].find("transient")->as_bool());

  // Only an admin dismisses; nothing is written to the log.
  const int64_t log_end = log_ends(c);
  check_problem(dismiss(c, "stale", token("c1", Role::customer)), 403, "forbidden");
  auto dismissed = dismiss(c, "stale", admin);
  REQUIRE_MESSAGE(dismissed.status == 200, dismissed.body);
  CHECK(str_field(dismissed, "status") == "dismissed");
  CHECK(str_field(dismissed, "id") == "stale");
  check_problem(dismiss(c, "stale", admin), 404, "not_found");
  check_problem(c.post("/v1/admin/parked/stale/retry", "", bearer(admin)), 404, "not_found");
  REQUIRE(dismiss(c, "broken", admin).status == 200);
  CHECK(body_json(c.get("/v1/admin/parked", bearer(admin))).find("parked")->as_array().empty());
  CHECK(log_ends(c) == log_end);

  // Dismissed for good: still gone after a restart.
  server.terminate();
  server.start();
  HttpClient again(server.port());
  CHECK(body_json(again.get("/v1/admin/parked", bearer(admin))).find("parked")->as_array().empty());
}

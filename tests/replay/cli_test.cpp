// The real `ordo replay` binary ($ORDO_BIN), the golden v1 events, and the auditor API over HTTP.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "engine/log/event_codec.hpp"
#include "replay/state_at.hpp"
#include "replay/verifier.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/replay/history.hpp"

using namespace ordo;
using namespace ordo::replay;
using namespace ordo::test;

namespace {

using Run = CliRun;

// `ordo replay ARGS` (tests/support/cli.hpp).
Run ordo_replay(const TempDir& dir, const std::string& args) {
  return run_ordo(dir, "replay " + args);
}

const std::string kGolden = std::string(ORDO_SOURCE_DIR) + "/tests/golden/events-v1.jsonl";

}  // namespace

TEST_CASE("golden v1 events verify and replay through the current code") {
  auto src = FileSource::open(kGolden);
  REQUIRE(src.ok());
  VerifyReport r = verify(*src.value());
  CHECK_MESSAGE(r.ok(), r.first_failure());
  CHECK(r.events() == 29);

  // Recorded as v1 and never rewritten; the current OrderPlaced is v2 and the upcaster
  // gives old events the default channel.
  CHECK(current_schema_version("OrderPlaced") == 2);
  int placed = 0;
  for (const auto& line : read_lines(kGolden)) {
    auto e = decode_envelope(line);
    REQUIRE(e.ok());
    CHECK(e->schema_version == 1);
    CHECK(encode_envelope(e.value()) == line);
    auto ev = decode_event(e->type, e->schema_version, e->payload);
    REQUIRE_MESSAGE(ev.ok(), (ev.ok() ? "" : ev.error().message));
    if (auto* op = std::get_if<OrderPlaced>(&ev.value())) {
      CHECK(op->channel == "api");
      CHECK(encode_event_payload(ev.value()).find("channel")->as_string() == "api");
      ++placed;
    }
  }
  CHECK(placed == 6);

  auto again = FileSource::open(kGolden);
  REQUIRE(again.ok());
  auto f = fold_until(*again.value(), Cut{});
  REQUIRE(f.ok());
  auto status = [&](const char* id) { return std::string(to_string(f->order(id)->status)); };
  CHECK(status("order-o-1") == "cancelled");
  CHECK(status("order-o-2") == "expired");
  CHECK(status("order-o-3") == "expired");
  CHECK(status("order-o-4") == "expired");
  CHECK(status("order-o-5") == "cancelled");
  CHECK(status("order-o-6") == "reserved");
  const Product* mug = f->product("product-mug-1");
  REQUIRE(mug);
  CHECK(mug->on_hand.value() == 15);
  CHECK(mug->reserved.value() == 1);
  CHECK(f->product("product-tea-2")->on_hand.value() == 47);
  CHECK(f->product("product-pen-3")->reserved.value() == 0);
}

TEST_CASE("the ordo replay command") {
  TempDir dir("replay-cli");
  const std::string data = dir.path() + "/data";
  History h = generate_history(data, 2, 600, 7);
  const std::string file = dir.path() + "/all.jsonl";

  Run ex = ordo_replay(dir, fmt::format("export --data-dir '{}' --out '{}'", data, file));
  REQUIRE_MESSAGE(ex.code == 0, ex.err);
  CHECK(static_cast<int64_t>(read_lines(file).size()) == h.events);

  Run ok = ordo_replay(dir, fmt::format("verify --file '{}'", file));
  CHECK_MESSAGE(ok.code == 0, ok.out << ok.err);
  CHECK(ok.out.find("verify: ok") != std::string::npos);
  Run ok_dir = ordo_replay(dir, fmt::format("verify --data-dir '{}' --format json", data));
  CHECK(ok_dir.code == 0);
  auto j = parse_json(ok_dir.out);
  REQUIRE(j.ok());
  CHECK(j->find("ok")->as_bool());
  CHECK(j->find("events")->as_int() == h.events);

  // Tampered: exit 1, naming the partition and offset.
  auto lines = read_lines(file);
  size_t k = lines.size() / 3;
  auto at = lines[k].find("\"occurred_at\":");
  REQUIRE(at != std::string::npos);
  lines[k][at + 14] = lines[k][at + 14] == '1' ? '2' : '1';
  write_lines(dir.path() + "/bad.jsonl", lines);
  auto bad_env = decode_envelope(read_lines(file)[k]);
  Run bad = ordo_replay(dir, fmt::format("verify --file '{}'", dir.path() + "/bad.jsonl"));
  CHECK(bad.code == 1);
  CHECK_MESSAGE(bad.out.find(fmt::format(
                    "verify: FAILED: partition {} offset {}: hash does not match",
                    bad_env->partition.value(), bad_env->offset.value())) != std::string::npos,
                bad.out);

  // An extra member in the actor would not be covered by the hash: refused.
  {
    auto extra = read_lines(file);
    auto a = extra[k].find("\"actor\":{");
    REQUIRE(a != std::string::npos);
    extra[k].insert(a + 9, "\"aa\":\"x\",");
    write_lines(dir.path() + "/actor.jsonl", extra);
    Run r = ordo_replay(dir, fmt::format("verify --file '{}'", dir.path() + "/actor.jsonl"));
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("actor has unknown fields") != std::string::npos, r.out << r.err);
  }
  // An empty file proves nothing: it does not verify.
  write_lines(dir.path() + "/empty.jsonl", {});
  Run empty = ordo_replay(dir, fmt::format("verify --file '{}'", dir.path() + "/empty.jsonl"));
  CHECK(empty.code == 1);
  CHECK(empty.out.find("the file holds no events") != std::string::npos);
  // An export that fails halfway leaves no file behind (not a shorter one that verifies).
  {
    auto broken = read_lines(file);
    broken[broken.size() / 2] = "not json";
    write_lines(dir.path() + "/broken.jsonl", broken);
    const std::string out = dir.path() + "/from-broken.jsonl";
    Run r = ordo_replay(
        dir, fmt::format("export --file '{}' --out '{}'", dir.path() + "/broken.jsonl", out));
    CHECK(r.code == 1);
    CHECK_FALSE(std::filesystem::exists(out));
    CHECK_FALSE(std::filesystem::exists(out + ".partial"));
  }
  // --out may name the file being read: it is replaced once the export is complete.
  {
    const std::string same = dir.path() + "/same.jsonl";
    std::filesystem::copy_file(file, same);
    Run r = ordo_replay(dir, fmt::format("export --file '{}' --out '{}'", same, same));
    CHECK_MESSAGE(r.code == 0, r.err);
    CHECK(read_lines(same) == read_lines(file));
  }
  // What is not a regular file is written in place: /dev/null stays a device.
  {
    Run r = ordo_replay(dir, fmt::format("export --file '{}' --out /dev/null", file));
    CHECK_MESSAGE(r.code == 0, r.err);
    CHECK(std::filesystem::is_character_file("/dev/null"));
    CHECK_FALSE(std::filesystem::exists("/dev/null.partial"));
  }
  // Kafka-only flags are not silently ignored with another source.
  CHECK(ordo_replay(dir, fmt::format("verify --file '{}' --partitions 2", file)).code == 2);

  // CSV: one file per type into a directory, or one type to stdout; RFC 4180 quoting.
  Run csv = ordo_replay(
      dir, fmt::format("export --file '{}' --format csv --out '{}'", file, dir.path() + "/csv"));
  REQUIRE_MESSAGE(csv.code == 0, csv.err);
  auto placed = read_lines(dir.path() + "/csv/OrderPlaced.csv");
  REQUIRE(placed.size() > 1);
  CHECK(placed[0].starts_with(
      "partition,offset,stream,stream_version,type,schema_version,occurred_at,"));
  CHECK(placed[0].find(
            ",channel,currency,customer_id,expires_at,lines,order_id,seller_id,total_minor\r") !=
        std::string::npos);
  auto defined = read_lines(dir.path() + "/csv/ProductDefined.csv");
  CHECK(defined.size() == 41);
  CHECK(defined[1].find(",\"Item \"\"") != std::string::npos);  // the name has quotes and a comma
  Run one =
      ordo_replay(dir, fmt::format("export --file '{}' --format csv --type OrderCancelled", file));
  CHECK(one.code == 0);
  CHECK(one.out.starts_with("partition,offset,"));
  Run no_dir = ordo_replay(dir, fmt::format("export --file '{}' --format csv", file));
  CHECK(no_dir.code == 1);

  // Filters on the command line.
  Run filtered = ordo_replay(
      dir,
      fmt::format("export --data-dir '{}' --partition 1 --type OrderPlaced --to-offset 50", data));
  CHECK(filtered.code == 0);
  // Exactly the lines of the full export that pass the same filters, in the same order.
  auto expect = [&](auto keep) {
    std::vector<std::string> out;
    for (const auto& l : read_lines(file)) {
      auto e = decode_envelope(l);
      REQUIRE(e.ok());
      if (keep(e.value())) out.push_back(l);
    }
    return out;
  };
  const auto placed_p1 = expect([](const Envelope& e) {
    return e.partition.value() == 1 && e.type == "OrderPlaced" && e.offset.value() <= 50;
  });
  CHECK_FALSE(placed_p1.empty());
  CHECK(read_lines(dir.path() + "/cli.out") == placed_p1);
  // An offset range (inclusive) on each partition, and a time range (inclusive), each against
  // the full export.
  Run range =
      ordo_replay(dir, fmt::format("export --data-dir '{}' --from-offset 10 --to-offset 20", data));
  REQUIRE_MESSAGE(range.code == 0, range.err);
  const auto in_range =
      expect([](const Envelope& e) { return e.offset.value() >= 10 && e.offset.value() <= 20; });
  CHECK(in_range.size() == 2 * 11);  // two partitions, 11 offsets each
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(read_lines(dir.path() + "/cli.out")) == sorted(in_range));
  {
    // The export is in partition order, not time order: take the bounds from the times.
    const auto all = read_lines(file);
    std::vector<int64_t> times;
    for (const auto& l : all) times.push_back(decode_envelope(l)->occurred_at.value());
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    REQUIRE(times.size() >= 3);  // so an inner range leaves events out on both sides
    const int64_t t_from = times[1], t_to = times[times.size() - 2];
    Run timed = ordo_replay(
        dir, fmt::format("export --file '{}' --from-time {} --to-time {}", file, t_from, t_to));
    REQUIRE_MESSAGE(timed.code == 0, timed.err);
    const auto in_time = expect([&](const Envelope& e) {
      return e.occurred_at.value() >= t_from && e.occurred_at.value() <= t_to;
    });
    CHECK_FALSE(in_time.empty());
    CHECK(in_time.size() < all.size());
    CHECK(read_lines(dir.path() + "/cli.out") == in_time);
  }
  CHECK(ordo_replay(dir, fmt::format("export --file '{}' --from-offset -1", file)).code == 2);
  CHECK(ordo_replay(dir, fmt::format("export --file '{}' --to-time 5x", file)).code == 2);

  Run stats = ordo_replay(dir, fmt::format("stats --file '{}'", file));
  REQUIRE(stats.code == 0);
  auto sj = parse_json(stats.out);
  REQUIRE(sj.ok());
  CHECK(sj->find("events")->as_int() == h.events);
  CHECK(sj->find("by_type")->find("ProductDefined")->as_int() == 40);

  Run state = ordo_replay(
      dir, fmt::format("state-at --file '{}' --stream product-s1-k1 --offset 1000000", file));
  REQUIRE_MESSAGE(state.code == 0, state.err);
  auto aj = parse_json(state.out);
  REQUIRE(aj.ok());
  CHECK(aj->find("state")->find("sku")->as_string() == "s1-k1");
  Run at0 = ordo_replay(dir, fmt::format("state-at --file '{}' --stream order-o5 --time 0", file));
  REQUIRE(at0.code == 0);
  CHECK(parse_json(at0.out)->find("state")->is_null());
  Run kind = ordo_replay(
      dir, fmt::format("state-at --data-dir '{}' --kind product --offset 1000000", data));
  REQUIRE(kind.code == 0);
  CHECK(parse_json(kind.out)->find("states")->as_array().size() == 40);
  Run wallets = ordo_replay(
      dir, fmt::format("state-at --data-dir '{}' --kind wallet --offset 1000000", data));
  REQUIRE_MESSAGE(wallets.code == 0, wallets.err);
  CHECK(parse_json(wallets.out)->find("states")->as_array().empty());  // no money moved here
  CHECK(ordo_replay(dir, fmt::format("state-at --file '{}' --kind ledger --offset 1", file)).code ==
        2);

  // Missing pieces are said plainly: rebuild needs PostgreSQL; an unreachable Kafka is an
  // error within the client's bounded timeout, not a hang.
  Run rebuild = ordo_replay(dir, fmt::format("rebuild --data-dir '{}'", data));
  CHECK(rebuild.code == 2);
  CHECK(rebuild.err.find("--postgres") != std::string::npos);
  const auto kafka_started = std::chrono::steady_clock::now();
  Run kafka = ordo_replay(dir, "verify --kafka 127.0.0.1:1 --kafka-timeout-ms 500");
  CHECK(kafka.code == 1);
  CHECK(!kafka.err.empty());
  // The bound given, not the default 10 s (an upper bound, with room for a slow machine).
  CHECK(std::chrono::steady_clock::now() - kafka_started < std::chrono::seconds(8));
  Run slow = ordo_replay(dir, "verify --kafka 127.0.0.1:1 --kafka-timeout-ms 99");
  CHECK(slow.code == 2);
  CHECK_MESSAGE(
      slow.err.find("--kafka-timeout-ms must be an integer in 100..600000") != std::string::npos,
      slow.err);
  Run no_kafka = ordo_replay(dir, fmt::format("verify --file '{}' --kafka-timeout-ms 500", file));
  CHECK(no_kafka.code == 2);
  CHECK(no_kafka.err.find("go with --kafka") != std::string::npos);
  CHECK(ordo_replay(dir, "verify").code == 2);
  CHECK(ordo_replay(dir, fmt::format("verify --file '{}' --data-dir '{}'", file, data)).code == 2);
  CHECK(ordo_replay(dir, "verify --file /nonexistent.jsonl").code == 1);
  // Numbers out of range are refused, not wrapped (2^32 would be partition 0).
  Run wrapped =
      ordo_replay(dir, fmt::format("export --data-dir '{}' --partition 4294967296", data));
  CHECK(wrapped.code == 2);
  CHECK(wrapped.err.find("--partition must be an integer in 0..4294967295") != std::string::npos);
  CHECK(ordo_replay(dir, "verify --kafka 127.0.0.1:1 --partitions 5x").code == 2);
}

TEST_CASE("auditor API: GET /v1/events and GET /v1/audit/verify") {
  TempDir dir("replay-http");
  ServerProcess server(dir.path() + "/data");
  server.start();
  HttpClient c(server.port());
  std::string merchant = token("m1", api::Role::merchant);
  std::string customer = token("c1", api::Role::customer);
  std::string auditor = token("a1", api::Role::auditor);
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.post("/v1/products", product_body(fmt::format("p{}", i), "m1", 10), bearer(merchant))
                .status == 201);
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"p1", 2}}, "o1"), bearer(customer)).status ==
          201);

  auto v = c.get("/v1/audit/verify", bearer(auditor));
  REQUIRE_MESSAGE(v.status == 200, v.body);
  Json vj = body_json(v);
  CHECK(vj.find("ok")->as_bool());
  CHECK(vj.find("events")->as_int() == 7);
  CHECK(vj.find("partitions")->as_array().at(0).find("last_offset")->as_int() == 6);
  check_problem(c.get("/v1/audit/verify", bearer(customer)), 403, "forbidden");
  CHECK(c.get("/v1/audit/verify").status == 401);

  auto page = c.get("/v1/events?after=-1&limit=3", bearer(auditor));
  REQUIRE_MESSAGE(page.status == 200, page.body);
  Json pj = body_json(page);
  REQUIRE(pj.find("events")->as_array().size() == 3);
  CHECK(pj.find("next_after")->as_int() == 2);
  CHECK(pj.find("more")->as_bool());
  const Json& first = pj.find("events")->as_array().at(0);
  CHECK(first.find("hash")->as_string().size() == 64);
  CHECK(first.find("actor")->find("sub")->as_string() == "m1");

  auto placed = c.get("/v1/events?type=OrderPlaced&partition=0", bearer(auditor));
  REQUIRE(placed.status == 200);
  Json plj = body_json(placed);
  REQUIRE(plj.find("events")->as_array().size() == 1);
  CHECK(plj.find("events")->as_array().at(0).find("payload")->find("order_id")->as_string() ==
        "o1");
  CHECK_FALSE(plj.find("more")->as_bool());

  check_problem(c.get("/v1/events", bearer(merchant)), 403, "forbidden");
  check_problem(c.get("/v1/events?limit=0", bearer(auditor)), 400, "validation_failed");
  check_problem(c.get("/v1/events?partition=9", bearer(auditor)), 400, "validation_failed");
  // A cursor past the end is refused, not echoed back (it would skip what comes next).
  CHECK(c.get("/v1/events?after=6", bearer(auditor)).status == 200);
  check_problem(c.get("/v1/events?after=7", bearer(auditor)), 400, "validation_failed");
}

TEST_CASE("a whole-log verify asked for while one runs is refused with 503 audit_busy") {
  // A log long enough that a verify takes a while, made by the engine in-process.
  TempDir dir("replay-http-busy");
  const std::string data = dir.path() + "/data";
  History h = generate_history(data, 1, 3'000, 11);
  ServerProcess server(data);
  server.start();
  const std::string auditor = token("a1", api::Role::auditor);
  // Three at once: one runs, the others are refused at once. (Should they come one after
  // another on a slow machine, each ran: they are sent again, a bounded number of times.)
  constexpr size_t kAtOnce = 3;
  std::vector<HttpResult> answers(kAtOnce);
  bool refused = false;
  for (int attempt = 0; attempt < 10 && !refused; ++attempt) {
    std::vector<std::thread> askers;
    for (size_t i = 0; i < kAtOnce; ++i)
      askers.emplace_back([&, i] {
        answers[i] = HttpClient(server.port()).get("/v1/audit/verify", bearer(auditor));
      });
    for (auto& t : askers) t.join();
    int ran = 0;
    for (const auto& r : answers) {
      INFO(r.body);
      if (r.status == 200) {
        // One that ran read the whole log.
        Json j = body_json(r);
        REQUIRE(j.find("ok"));
        CHECK(j.find("ok")->as_bool());
        REQUIRE(j.find("events"));
        CHECK(j.find("events")->as_int() == h.events);
        ++ran;
      } else {
        check_problem(r, 503, "audit_busy");
        CHECK(!r.header("Retry-After").empty());
        refused = true;
      }
    }
    CHECK(ran >= 1);  // a refusal means one of these was running: nobody else asks
  }
  CHECK(refused);
  // Once it ended, the next verify runs.
  auto after = HttpClient(server.port()).get("/v1/audit/verify", bearer(auditor));
  CHECK_MESSAGE(after.status == 200, after.body);
}

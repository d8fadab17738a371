// Kafka-only integration tests against the real broker of the CTest fixture
// (compose/kafka.sh): the stored events read by kcat, fencing of a second writer, and
// kill -9 of the broker under load.
#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/domain/decide.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/kafka/kafka_log.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/state/rocks_db.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/support/faulty_fs.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

std::string brokers() {
  auto b = test_kafka_brokers();
  REQUIRE_MESSAGE(b.has_value(), "set ORDO_TEST_KAFKA (CTest does, label integration)");
  return *b;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Every event of every partition through a read_committed reader: the chain must hold from
// genesis; returns the ids of every placed order, in log order.
std::vector<std::string> placed_orders(const std::string& topic, uint32_t partitions) {
  kafka::Options o;
  o.brokers = brokers();
  o.topic = topic;
  auto log = KafkaLog::open_reader(partitions, o);
  REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.error().message));
  std::vector<std::string> placed;
  for (uint32_t p = 0; p < partitions; ++p) {
    std::string prev = kGenesisHash;
    int64_t last = -1;
    for (Offset from{0};;) {
      auto batch = log.value()->read(PartitionId{p}, from, 1000);
      REQUIRE_MESSAGE(batch.ok(), (batch.ok() ? "" : batch.error().message));
      if (batch->empty()) break;
      for (const auto& e : batch.value()) {
        REQUIRE(e.offset.value() > last);
        REQUIRE_MESSAGE(e.prev_hash == prev, "chain broken at offset " << e.offset.value());
        REQUIRE(compute_hash(e) == e.hash);
        prev = e.hash;
        last = e.offset.value();
        auto ev = decode_event(e.type, e.schema_version, e.payload);
        REQUIRE(ev.ok());
        if (auto* op = std::get_if<OrderPlaced>(&ev.value()))
          placed.push_back(op->order_id.value());
      }
      from = Offset{last + 1};
    }
  }
  return placed;
}

std::vector<std::string> kafka_args(const std::string& topic) {
  return {"--kafka", brokers(), "--kafka-topic", topic, "--kafka-transactional-prefix", topic + "-",
          "--kafka-timeout-ms", "5000",
          // No reservation expires during a test, however slow the machine: the counts of
          // events in the topic are exact.
          "--reservation-ttl", "1h"};
}

}  // namespace

TEST_CASE("kcat reads the events as canonical JSON that verifies") {
  TempDir dir{"kcat"};
  ServerProcess server{dir.path() + "/data"};
  server.start();
  HttpClient c(server.port());
  REQUIRE(c.post("/v1/products", product_body("kc1", "s1", 10), bearer(token("s1", Role::merchant)))
              .status == 201);
  REQUIRE(c.post("/v1/orders", order_body("c1", {{"kc1", 2}}, "kco1"),
                 bearer(token("c1", Role::customer)))
              .status == 201);
  const std::string topic = test_kafka_topic(server.data_dir());
  // The README's command: kcat, read_committed, key and offset beside the value.
  auto out = run(fmt::format(
      "kcat -C -b {} -t {} -X isolation.level=read_committed -e -q -f '%o\\t%k\\t%s\\n'", brokers(),
      topic));
  auto ls = lines(out);
  REQUIRE(ls.size() == 3);  // ProductDefined, OrderPlaced, StockReserved
  std::string prev = kGenesisHash;
  for (const auto& l : ls) {
    auto t1 = l.find('\t'), t2 = l.find('\t', t1 + 1);
    const std::string key = l.substr(t1 + 1, t2 - t1 - 1), value = l.substr(t2 + 1);
    auto j = parse_json(value);
    REQUIRE_MESSAGE(j.ok(), value);
    CHECK(to_canonical(j.value()) == value);  // canonical: re-encoding changes nothing
    auto e = decode_envelope(value);
    REQUIRE(e.ok());
    CHECK(e->stream == key);
    CHECK(e->offset.value() == -1);  // written before Kafka assigned it; readers use %o
    CHECK(e->prev_hash == prev);
    CHECK(compute_hash(e.value()) == e->hash);
    prev = e->hash;
  }
}

TEST_CASE(
    "a second server on the same partitions fences the first; nothing acknowledged is lost or "
    "doubled") {
  TempDir dir_a{"fence-a"}, dir_b{"fence-b"};
  const std::string topic = fmt::format("ordo.fence.{:x}", std::hash<std::string>{}(dir_a.path()));
  ServerProcess a{dir_a.path() + "/data", kafka_args(topic)};
  a.start();
  HttpClient ca(a.port());
  auto merchant = bearer(token("s1", Role::merchant));
  auto customer = bearer(token("c1", Role::customer));
  REQUIRE(ca.post("/v1/products", product_body("f1", "s1", 100), merchant).status == 201);
  std::set<std::string> acked;
  for (int i = 0; i < 5; ++i) {
    std::string id = fmt::format("fa{}", i);
    REQUIRE(ca.post("/v1/orders", order_body("c1", {{"f1", 1}}, id), customer).status == 201);
    acked.insert(id);
  }

  // B takes the same transactional ids: its init_transactions fences A.
  ServerProcess b{dir_b.path() + "/data", kafka_args(topic)};
  b.start();
  HttpClient cb(b.port());
  // A can no longer acknowledge anything; it answers 503 and says why in its log.
  for (int i = 0; i < 3; ++i) {
    auto r =
        ca.post("/v1/orders", order_body("c1", {{"f1", 1}}, fmt::format("fa-late{}", i)), customer);
    CHECK_MESSAGE(r.status == 503, r.body);
    // Decided not to write by its partition: the answer names that partition's position.
    if (str_field(r, "code") == "storage_unavailable")
      CHECK(r.header("Ordo-Position").starts_with("0-"));
    else  // outcome_unknown: it may still be written, so no position is claimed
      CHECK_MESSAGE(r.header("Ordo-Position").empty(), r.body);
  }
  // B serves A's acknowledged orders (caught up from Kafka) and takes new ones.
  Streams s{cb};
  for (const auto& id : acked) CHECK(s.events("order-" + id).size() == 1);
  for (int i = 0; i < 3; ++i) {
    std::string id = fmt::format("fb{}", i);
    REQUIRE(cb.post("/v1/orders", order_body("c1", {{"f1", 1}}, id), customer).status == 201);
    acked.insert(id);
  }
  auto r = ca.post("/v1/orders", order_body("c1", {{"f1", 1}}, "fa-later"), customer);
  CHECK(r.status == 503);
  a.terminate();
  b.terminate();

  auto placed = placed_orders(topic, 1);
  std::set<std::string> placed_set(placed.begin(), placed.end());
  CHECK(placed_set.size() == placed.size());
  CHECK(placed_set == acked);  // everything acknowledged, once; nothing A was refused
}

TEST_CASE(
    "kill -9 of the broker under load: acknowledged orders exactly once, aborted transactions "
    "invisible") {
  const char* script = std::getenv("ORDO_KAFKA_SCRIPT");
  REQUIRE_MESSAGE(script, "set ORDO_KAFKA_SCRIPT to compose/kafka.sh");
  TempDir dir{"broker-kill"};
  const std::string topic = fmt::format("ordo.bk.{:x}", std::hash<std::string>{}(dir.path()));
  ServerProcess server{dir.path() + "/data", kafka_args(topic)};
  server.start();
  {
    HttpClient c(server.port());
    REQUIRE(c.post("/v1/products", product_body("bk1", "s1", 100000),
                   bearer(token("s1", Role::merchant)))
                .status == 201);
  }
  std::mutex mu;
  std::set<std::string> acked;
  std::map<std::string, std::string> unknown;  // no definite answer: id → body
  std::atomic<int> ok{0}, unavailable{0};
  std::atomic<bool> stop{false};
  std::vector<std::string> unexpected;  // checked on this thread, after the clients end
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      HttpClient c(server.port());
      auto h = bearer(token("c1", Role::customer));
      for (int i = 0; !stop && i < 100000; ++i) {
        std::string id = fmt::format("bk-t{}-{}", t, i);
        auto hh = h;
        hh["Idempotency-Key"] = id;
        std::string body = order_body("c1", {{"bk1", 1}}, id);
        auto r = c.post("/v1/orders", body, hh);
        std::lock_guard lock(mu);
        if (r.status == 201) {
          acked.insert(id);
          ++ok;
        } else {
          if (r.status != 503 && r.status != 0) unexpected.push_back(id + ": " + r.body);
          unknown[id] = body;
          ++unavailable;
          if (r.status == 0) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  auto wait_until = [](auto pred, int seconds) {
    for (int i = 0; i < seconds * 20 && !pred(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return pred();
  };
  REQUIRE(wait_until([&] { return ok >= 200; }, 60));
  REQUIRE(std::system(fmt::format("bash {} kill9", script).c_str()) == 0);
  REQUIRE(wait_until([&] { return unavailable >= 4; }, 60));  // commands fail, bounded: 503
  const int ok_while_down = ok;
  REQUIRE(std::system(fmt::format("bash {} start", script).c_str()) == 0);
  REQUIRE_MESSAGE(wait_until([&] { return ok >= ok_while_down + 200; }, 120),
                  "no recovery after the broker returned");
  stop = true;
  for (auto& t : clients) t.join();
  CHECK_MESSAGE(unexpected.empty(), (unexpected.empty() ? "" : unexpected.front()));

  // Retry every request without a definite answer, with its Idempotency-Key.
  HttpClient c(server.port());
  auto h = bearer(token("c1", Role::customer));
  for (const auto& [id, body] : unknown) {
    auto hh = h;
    hh["Idempotency-Key"] = id;
    auto r = c.post("/v1/orders", body, hh);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    acked.insert(id);
  }
  server.terminate();
  auto placed = placed_orders(topic, 1);
  std::set<std::string> placed_set(placed.begin(), placed.end());
  CHECK(placed_set.size() == placed.size());  // no order twice: aborted batches stayed invisible
  CHECK(placed_set == acked);
  // read_uncommitted shows what the aborted transactions left in the topic.
  auto all = lines(
      run(fmt::format("kcat -C -b {} -t {} -X isolation.level=read_uncommitted -e -q -f '%o\\n'",
                      brokers(), topic)));
  auto committed = lines(run(fmt::format(
      "kcat -C -b {} -t {} -X isolation.level=read_committed -e -q -f '%o\\n'", brokers(), topic)));
  MESSAGE("acknowledged " << acked.size() << ", answered 503 while the broker was down "
                          << unavailable.load() << ", messages committed " << committed.size()
                          << ", incl. aborted " << all.size());
  // Every placed order's two events (OrderPlaced, StockReserved) are committed; the product too.
  CHECK(committed.size() == 2 * placed.size() + 1);
}

namespace {

// One command, with an Idempotency-Key as a retrying client sends it, to an engine whose
// partition threads run; its completion, waited for (bounded: a hung test, not timing).
Completion submit_keyed(Engine& e, Command c, const std::string& key) {
  auto answer = std::make_shared<std::promise<Completion>>();
  auto done = answer->get_future();
  Submission s;
  s.command = std::move(c);
  s.meta.command_id = "cmd-" + key;
  s.meta.correlation_id = s.meta.command_id;
  s.meta.actor = Actor{"admin-1", "admin"};
  s.idempotency = IdempotencyClaim{"admin-1\x1f" + key, "fingerprint-" + key};
  s.render = [](const Outcome& o) {
    return Rendered{o.rejection ? 409 : 201, o.rejection ? "refused" : "placed"};
  };
  s.done = [answer](Completion&& c) { answer->set_value(std::move(c)); };
  REQUIRE(e.submit(std::move(s)) != SubmitResult::overloaded);
  REQUIRE(done.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  return done.get();
}

}  // namespace

TEST_CASE(
    "Kafka log: a state write that fails after the commit is not acknowledged, is caught up "
    "from Kafka, and its retry is answered from the record, once") {
  TempDir dir{"kafka-state-fault"};
  const std::string topic = fmt::format("ordo.sf.{:x}", std::hash<std::string>{}(dir.path()));
  auto faults = std::make_shared<DiskFaults>();
  SystemClock clock;
  EngineConfig cfg;
  cfg.data_dir = dir.path() + "/engine";
  cfg.processor.recovery_retry = DurationMs{50};
  cfg.file_system = std::make_shared<FaultyFs>(faults);
  kafka::Options ko;
  ko.brokers = brokers();
  ko.topic = topic;
  ko.transactional_prefix = topic + "-";
  ko.timeout_ms = 5000;
  auto opened = Engine::open_kafka(cfg, ko, clock);
  REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
  Engine& e = *opened.value();
  e.start();
  auto order = [](const std::string& id) {
    return PlaceOrder{OrderId{id}, CustomerId{"c1"}, {OrderLineRequest{Sku{"sf1"}, Quantity{2}}}};
  };
  REQUIRE(submit_keyed(e,
                       DefineProduct{Sku{"sf1"}, SellerId{"s1"}, "Item", AmountMinor{500},
                                     Currency{"EUR"}, Quantity{10}},
                       "define")
              .durable.ok());
  REQUIRE(submit_keyed(e, order("sf-0"), "sf-0").durable.ok());

  // A memtable flush cannot write its table: RocksDB takes no more writes. The next group is
  // committed to Kafka, but its state write fails, so it is not acknowledged.
  faults->fail_table_writes = true;
  RocksDb& db = e.rocksdb_for_test();
  CHECK_FALSE(db.db()
                  .Flush(rocksdb::FlushOptions(), {db.cf(Cf::state), db.cf(Cf::idempotency),
                                                   db.cf(Cf::meta), db.cf(Cf::stream_index)})
                  .ok());
  CHECK(faults->failed_table_writes > 0);
  CHECK_FALSE(submit_keyed(e, order("sf-1"), "sf-1").durable.ok());
  CHECK_FALSE(e.processor(PartitionId{0}).health().writable);

  // The disk works again. The client retries with its key, as the HTTP layer does: it looks
  // for the key's record first and replays it if there is one, else submits (bounded, as
  // RocksDB's own recovery may answer "busy" for a while). The partition catches up from
  // Kafka, which puts the order and its record back: the retry is answered from the record,
  // and the order is not decided a second time.
  faults->fail_table_writes = false;
  std::optional<IdempotencyRecord> record;
  for (int attempt = 0; attempt < 600 && !record; ++attempt) {
    auto found = e.store().get_idempotency("admin-1\x1fsf-1");
    REQUIRE(found.ok());
    if (found.value()) {
      record = *found.value();
      break;
    }
    // Never placed twice: refused to retry, or, once the partition has read the log back,
    // found placed (before the record is looked up again on the next turn).
    const Completion c = submit_keyed(e, order("sf-1"), "sf-1");
    CHECK((!c.durable.ok() ||
           (c.outcome.rejection && c.outcome.rejection->code == RejectCode::already_exists)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(record.has_value());
  CHECK(record->status == 201);
  CHECK(record->body == "placed");
  CHECK(record->fingerprint == "fingerprint-sf-1");
  REQUIRE(submit_keyed(e, order("sf-2"), "sf-2").durable.ok());
  CHECK(e.processor(PartitionId{0}).health().writable);
  e.stop();
  const PartitionState& state = e.processor(PartitionId{0}).state_for_test();
  CHECK(state.find_order(OrderId{"sf-1"}));
  CHECK(state.find_product(Sku{"sf1"})->reserved.value() == 6);

  // In the topic: every order once (the failed group's too), the chain whole.
  auto placed = placed_orders(topic, 1);
  CHECK(placed == std::vector<std::string>{"sf-0", "sf-1", "sf-2"});
}

TEST_CASE("ordo replay reads the Kafka log: export and verify agree with the same history") {
  TempDir dir{"kreplay"};
  ServerProcess server{dir.path() + "/data", {"--partitions", "2"}};
  server.start();
  HttpClient c(server.port());
  REQUIRE(c.post("/v1/products", product_body("kr1", "s1", 20), bearer(token("s1", Role::merchant)))
              .status == 201);
  for (int i = 0; i < 6; ++i)
    REQUIRE(c.post("/v1/orders", order_body("c1", {{"kr1", 2}}, fmt::format("kro{}", i)),
                   bearer(token("c1", Role::customer)))
                .status == 201);
  REQUIRE(c.post("/v1/orders/kro2/cancel", "{}", bearer(token("c1", Role::customer))).status ==
          200);
  const std::string topic = test_kafka_topic(server.data_dir());
  const std::string source = fmt::format("--kafka {} --kafka-topic {}", brokers(), topic);
  const std::string exported = dir.path() + "/kafka.jsonl";
  // The live server keeps running: a Kafka reader fences nobody.
  REQUIRE(std::system(
              fmt::format("{} replay export {} --out {}", ordo_bin(), source, exported).c_str()) ==
          0);
  auto export_lines = lines(run("cat " + exported));
  REQUIRE(export_lines.size() ==
          1 + 6 * 2 + 2);  // defined; 6 × (placed, reserved); cancelled, released
  // Offsets come from Kafka (not contiguous: transaction markers take offsets).
  for (const auto& l : export_lines) CHECK(decode_envelope(l).value().offset.value() >= 0);
  CHECK(std::system(fmt::format("{} replay verify {} >/dev/null", ordo_bin(), source).c_str()) ==
        0);
  // Every partition of the topic is read without being told how many there are, and a
  // wrong count is refused rather than checking part of the log.
  auto report =
      parse_json(run(fmt::format("{} replay verify {} --format json", ordo_bin(), source)));
  REQUIRE(report.ok());
  CHECK(report->find("ok")->as_bool());
  CHECK(report->find("partitions")->as_array().size() == 2u);
  CHECK(std::system(
            fmt::format("{} replay verify {} --partitions 1 >/dev/null 2>&1", ordo_bin(), source)
                .c_str()) != 0);
  CHECK(std::system(
            fmt::format("{} replay verify --file {} >/dev/null", ordo_bin(), exported).c_str()) ==
        0);
  // Tampering with the exported history is caught the same way as for the embedded log.
  std::string tampered = run("cat " + exported);
  auto pos = tampered.find("\"qty\":2");
  REQUIRE(pos != std::string::npos);
  tampered[pos + 6] = '3';
  {
    FILE* f = std::fopen((dir.path() + "/bad.jsonl").c_str(), "w");
    REQUIRE(f);
    std::fwrite(tampered.data(), 1, tampered.size(), f);
    std::fclose(f);
  }
  CHECK(std::system(fmt::format("{} replay verify --file {}/bad.jsonl >/dev/null 2>&1", ordo_bin(),
                                dir.path())
                        .c_str()) != 0);
}

// Runs in the `kafka_views` CTest entry, which has both the broker and PostgreSQL.
TEST_CASE(
    "broker down: commands answer 503 with Retry-After, queries keep working from PostgreSQL") {
  const char* pg = std::getenv("ORDO_TEST_POSTGRES");
  if (!pg || !*pg) {
    MESSAGE("skipped here: runs as the kafka_views CTest entry, with PostgreSQL");
    return;
  }
  const char* script = std::getenv("ORDO_KAFKA_SCRIPT");
  REQUIRE_MESSAGE(script, "set ORDO_KAFKA_SCRIPT to compose/kafka.sh");
  TempDir dir{"broker-down-views"};
  const std::string topic = fmt::format("ordo.bd.{:x}", std::hash<std::string>{}(dir.path()));
  auto args = kafka_args(topic);
  const std::string schema = fmt::format("t_bd_{}", std::random_device{}() % 1000000000);
  args.insert(args.end(), {"--postgres", pg, "--views-schema", schema});
  ServerProcess server{dir.path() + "/data", args};
  const std::string server_log = dir.path() + "/server.log";
  server.capture_stderr(server_log);
  server.start();
  HttpClient c(server.port());
  const auto merchant = bearer(token("s1", Role::merchant));
  const auto customer = bearer(token("c1", Role::customer));
  REQUIRE(c.post("/v1/products", product_body("bd1", "s1", 100), merchant).status == 201);
  auto placed = c.post("/v1/orders", order_body("c1", {{"bd1", 2}}, "bd-o1"), customer);
  REQUIRE(placed.status == 201);
  // The views have the order before the broker goes away.
  auto h = customer;
  h["Ordo-Min-Position"] = placed.header("Ordo-Position");
  REQUIRE(c.get("/v1/orders/bd-o1", h).status == 200);

  REQUIRE(std::system(fmt::format("bash {} kill9", script).c_str()) == 0);
  // Commands: a bounded wait, then 503 with Retry-After; nothing is buffered without bound.
  HttpResult refused;
  for (int i = 0; i < 20; ++i) {
    refused = c.post("/v1/orders", order_body("c1", {{"bd1", 1}}, fmt::format("bd-down-{}", i)),
                     customer);
    if (refused.status == 503) break;
  }
  REQUIRE_MESSAGE(refused.status == 503, refused.body);
  CHECK(!refused.header("Retry-After").empty());
  // Queries: served from PostgreSQL all along.
  auto order = c.get("/v1/orders/bd-o1", customer);
  CHECK_MESSAGE(order.status == 200, order.body);
  CHECK(str_field(order, "status") == "reserved");
  auto product = c.get("/v1/products/bd1", customer);
  CHECK_MESSAGE(product.status == 200, product.body);
  CHECK(body_json(product).find("reserved")->as_int() >= 2);
  auto ready = c.get("/readyz");
  CHECK(ready.status == 503);  // a partition cannot write: not ready, but still answering
  // A readiness report, not an RFC 9457 problem: labelled as what it is.
  CHECK(ready.header("Content-Type") == "application/json");
  CHECK(str_field(ready, "status") == "unavailable");
  // Which partition, not why: the broker's error (its address) is in the server's log only.
  CHECK_MESSAGE(ready.body.find("\"writable\":false") != std::string::npos, ready.body);
  CHECK_MESSAGE(ready.body.find("error") == std::string::npos, ready.body);

  // The broker returns: commands resume (bounded wait for the producer to recover).
  REQUIRE(std::system(fmt::format("bash {} start", script).c_str()) == 0);
  HttpResult resumed;
  for (int i = 0; i < 120; ++i) {
    resumed =
        c.post("/v1/orders", order_body("c1", {{"bd1", 1}}, fmt::format("bd-up-{}", i)), customer);
    if (resumed.status == 201) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  REQUIRE_MESSAGE(resumed.status == 201, resumed.body);
  auto h2 = customer;
  h2["Ordo-Min-Position"] = resumed.header("Ordo-Position");
  CHECK(c.get("/v1/orders/" + str_field(resumed, "order_id"), h2).status == 200);
  server.terminate();
  // The operator's record (the open /readyz says only that a partition cannot write): why,
  // when it began, and that writing resumed after it.
  std::string log;
  if (FILE* f = std::fopen(server_log.c_str(), "rb")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) log.append(buf, n);
    std::fclose(f);
  }
  const size_t failed = log.rfind("ordo: partition 0 cannot write: ");
  const size_t again = log.rfind("ordo: partition 0 writes again");
  CHECK_MESSAGE(failed != std::string::npos, log);
  CHECK_MESSAGE(again != std::string::npos, log);
  CHECK_MESSAGE((failed == std::string::npos || again == std::string::npos || failed < again), log);
}

// Runs in the `kafka_views` CTest entry, which has both the broker and PostgreSQL.
TEST_CASE("views from Kafka: ordo replay rebuild --kafka builds them from the topic") {
  const char* pg = std::getenv("ORDO_TEST_POSTGRES");
  if (!pg || !*pg) {
    MESSAGE("skipped here: runs as the kafka_views CTest entry, with PostgreSQL");
    return;
  }
  TempDir dir{"rebuild-kafka"};
  const std::string topic = fmt::format("ordo.rb.{:x}", std::hash<std::string>{}(dir.path()));
  {
    auto args = kafka_args(topic);
    args.insert(args.end(), {"--partitions", "2"});
    ServerProcess server{dir.path() + "/data", args};
    server.start();
    HttpClient c(server.port());
    REQUIRE(
        c.post("/v1/products", product_body("rb1", "s1", 20), bearer(token("s1", Role::merchant)))
            .status == 201);
    for (int i = 0; i < 4; ++i)
      REQUIRE(c.post("/v1/orders", order_body("c1", {{"rb1", 2}}, fmt::format("rbo{}", i)),
                     bearer(token("c1", Role::customer)))
                  .status == 201);
    REQUIRE(c.post("/v1/orders/rbo1/cancel", "{}", bearer(token("c1", Role::customer))).status ==
            200);
    server.terminate();
  }
  // The data directory holds state, not events: the views come from the topic.
  const std::string schema = fmt::format("t_rbk_{}", std::random_device{}() % 1000000000);
  const std::string cmd = fmt::format(
      "{} replay rebuild --kafka {} --kafka-topic {} --postgres '{}' --views-schema {} >/dev/null",
      ordo_bin(), brokers(), topic, pg, schema);
  REQUIRE(std::system(cmd.c_str()) == 0);
  pqxx::connection conn(pg);
  pqxx::work w(conn);
  const std::string s = w.quote_name(schema);
  CHECK(w.exec("SELECT count(*) FROM " + s + ".orders")[0][0].as<int>() == 4);
  CHECK(w.exec("SELECT status FROM " + s + ".orders WHERE order_id = 'rbo1'")[0][0]
            .as<std::string>() == "cancelled");
  CHECK(w.exec("SELECT reserved FROM " + s + ".products WHERE sku = 'rb1'")[0][0].as<int>() == 6);
  w.exec("DROP SCHEMA " + s + " CASCADE");
  w.commit();
  // A file is not a log the views can be rebuilt from.
  CHECK(std::system(fmt::format("{} replay rebuild --file /dev/null --postgres '{}' 2>/dev/null",
                                ordo_bin(), pg)
                        .c_str()) == 2 * 256);
}

namespace {

// Sets one configuration value of a topic, as an operator's kafka-configs.sh would.
void alter_topic_config(const std::string& topic, const char* key, const char* value) {
  kafka::Options o;
  o.brokers = brokers();
  auto c = kafka::make_consumer(o);
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  rd_kafka_t* rk = c->get();
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  REQUIRE(rd_kafka_ConfigResource_set_config(res, key, value) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AlterConfigs(rk, &res, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 15'000);
  REQUIRE(ev != nullptr);
  CHECK_MESSAGE(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR,
                rd_kafka_event_error_string(ev));
  const auto* result = rd_kafka_event_AlterConfigs_result(ev);
  REQUIRE(result != nullptr);
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_AlterConfigs_result_resources(result, &n);
  REQUIRE(n == 1u);
  CHECK_MESSAGE(rd_kafka_ConfigResource_error(rs[0]) == RD_KAFKA_RESP_ERR_NO_ERROR,
                rd_kafka_ConfigResource_error_string(rs[0]));
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy(res);
}

}  // namespace

TEST_CASE("the log's topics are kept whole, and one that would delete old events is refused") {
  TempDir dir{"kretention"};
  kafka::Options o;
  o.brokers = brokers();
  o.topic = fmt::format("retention-{}-{}", ::getpid(),
                        std::chrono::steady_clock::now().time_since_epoch().count());
  o.transactional_prefix = o.topic + "-";
  auto open_log = [&] {
    auto db = RocksDb::open(dir.path() + "/rocksdb");
    REQUIRE_MESSAGE(db.ok(), (db.ok() ? "" : db.error().message));
    auto log = KafkaLog::open(*db.value(), 1, o);
    return log.ok() ? std::string() : log.error().message;  // the log closes before its db
  };
  // Created by Ordo: no retention by age or size, so it opens again.
  CHECK(open_log().empty());
  CHECK(open_log().empty());
  // An operator (or a broker default) gives it a 1-day retention: refused, with the fix.
  alter_topic_config(o.topic, "retention.ms", "86400000");
  const std::string refused = open_log();
  CHECK_MESSAGE(refused.find("retention.ms=86400000") != std::string::npos, refused);
  CHECK(refused.find("--add-config retention.ms=-1") != std::string::npos);
  alter_topic_config(o.topic, "retention.ms", "-1");
  CHECK(open_log().empty());
  // Compaction would drop all but the last event of each stream (the key): refused too.
  alter_topic_config(o.topic + ".idempotency", "cleanup.policy", "compact");
  CHECK(open_log().find("cleanup.policy=compact") != std::string::npos);
}

TEST_CASE("a data directory belongs to one backend: Kafka refuses an embedded one, and back") {
  TempDir dir{"kbackend"};
  kafka::Options o;
  o.brokers = brokers();
  o.topic = fmt::format("backend-{}-{}", ::getpid(),
                        std::chrono::steady_clock::now().time_since_epoch().count());
  o.transactional_prefix = o.topic + "-";
  std::filesystem::create_directories(dir.path() + "/embedded");
  std::filesystem::create_directories(dir.path() + "/kafka");
  // An embedded log made this directory and holds an event.
  {
    auto db = RocksDb::open(dir.path() + "/embedded/rocksdb");
    REQUIRE(db.ok());
    auto log = RocksDbLog::open(*db.value(), 1);
    REQUIRE(log.ok());
    const Event ev = StockAdjusted{Sku{"x"}, Quantity{1}, "restock", Quantity{1}};
    Envelope e;
    e.partition = PartitionId{0};
    e.stream = event_stream(ev);
    e.stream_version = 1;
    e.type = std::string(event_type(ev));
    e.schema_version = current_schema_version(e.type);
    e.occurred_at = TimestampMs{1'700'000'000'000};
    e.command_id = e.correlation_id = "cmd-x";
    e.actor = Actor{"tester", "admin"};
    e.payload = encode_event_payload(ev);
    std::vector<Envelope> one{e};
    seal(one[0], log.value()->tail(PartitionId{0})->last_hash);
    REQUIRE(log.value()->append(PartitionId{0}, one, {}).ok());
  }
  {
    auto db = RocksDb::open(dir.path() + "/embedded/rocksdb");
    REQUIRE(db.ok());
    auto log = KafkaLog::open(*db.value(), 1, o);
    REQUIRE_FALSE(log.ok());
    CHECK(log.error().message.find("holds an embedded log") != std::string::npos);
    std::string topic;
    CHECK(db.value()
              ->db()
              .Get(rocksdb::ReadOptions(), db.value()->cf(Cf::meta),
                   std::string(kKafkaTopicMetaKey), &topic)
              .IsNotFound());  // the refusal bound nothing
  }
  // A Kafka log made this one: the embedded log refuses it, Kafka opens it again.
  {
    auto db = RocksDb::open(dir.path() + "/kafka/rocksdb");
    REQUIRE(db.ok());
    auto log = KafkaLog::open(*db.value(), 1, o);
    REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.error().message));
  }
  {
    auto db = RocksDb::open(dir.path() + "/kafka/rocksdb");
    REQUIRE(db.ok());
    auto embedded = RocksDbLog::open(*db.value(), 1);
    REQUIRE_FALSE(embedded.ok());
    CHECK(embedded.error().message.find("belongs to a Kafka log") != std::string::npos);
    auto log = KafkaLog::open(*db.value(), 1, o);
    CHECK_MESSAGE(log.ok(), (log.ok() ? "" : log.error().message));
  }
}

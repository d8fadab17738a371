// kill -9 under load, restart on the same data directory, repeat; then every acknowledged
// command must be in the log exactly once and every invariant must hold.
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/domain/decide.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/kafka/kafka_log.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/runtime/engine.hpp"
#include "engine/state/state_store.hpp"
#include "tests/e2e/e2e_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

constexpr uint32_t kPartitions = 2;
const std::vector<std::pair<std::string, std::string>> kProducts = {
    {"k1", "s1"}, {"k2", "s1"}, {"k3", "s2"}, {"k4", "s2"}};
constexpr int64_t kStock = 400;

struct Ledger {
  std::mutex mu;
  std::set<std::string> acked_orders;   // got 201
  std::set<std::string> acked_cancels;  // got 200
  // The connection died before an answer: id → (customer, body), to retry after restart.
  std::map<std::string, std::pair<std::string, std::string>> unknown_orders;
  // Answers a client thread did not expect (checked on the test's thread: a failed REQUIRE
  // in a client thread would end the process before anything is reported).
  std::vector<std::string> unexpected;
};

// "409 code" of a refusal, for the ledger's expectations.
std::string refusal_of(const HttpResult& r) {
  auto j = parse_json(r.body);
  const Json* code = j.ok() ? j->find("code") : nullptr;
  return fmt::format("{} {}", r.status, code && code->is_string() ? code->as_string() : "?");
}

// Folds a partition's whole log: checks the hash chain and returns the state it implies.
PartitionState fold_partition(EventLog& log, PartitionId p, std::vector<std::string>& placed) {
  PartitionState state;
  std::string prev = kGenesisHash;
  int64_t last_offset = -1;
  for (Offset from{0};;) {
    auto batch = log.read(p, from, 1000);
    REQUIRE(batch.ok());
    if (batch->empty()) break;
    for (const auto& e : batch.value()) {
      REQUIRE(e.offset.value() > last_offset);
      REQUIRE_MESSAGE(e.prev_hash == prev, "chain broken at offset " << e.offset.value());
      REQUIRE(compute_hash(e) == e.hash);
      prev = e.hash;
      last_offset = e.offset.value();
      auto ev = decode_event(e.type, e.schema_version, e.payload);
      REQUIRE(ev.ok());
      if (auto* op = std::get_if<OrderPlaced>(&ev.value())) placed.push_back(op->order_id.value());
      apply(state, ev.value(), e.occurred_at);
    }
    from = Offset{last_offset + 1};
  }
  auto tail = log.tail(p);
  REQUIRE(tail.ok());
  CHECK(tail->last_offset.value() == last_offset);
  CHECK(tail->last_hash == prev);
  return state;
}

}  // namespace

TEST_CASE("kill -9 under load, several times: acknowledged orders are there exactly once") {
  TempDir dir{"crash"};
  const std::string data = dir.path() + "/data";
  ServerProcess server{data, {"--partitions", std::to_string(kPartitions)}};
  const uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Ledger ledger;

  server.start();
  {
    HttpClient c(server.port());
    for (const auto& [sku, seller] : kProducts)
      REQUIRE(c.post("/v1/products", product_body(sku, seller, kStock),
                     bearer(token(seller, Role::merchant)))
                  .status == 201);
  }

  constexpr int kRounds = 4, kThreads = 8;
  for (int round = 0; round < kRounds; ++round) {
    if (!server.running()) server.start();
    std::atomic<int> responses{0};
    std::atomic<int> clients_running{kThreads};
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t, thread_seed = rng()] {
        struct Exit {
          std::atomic<int>& n;
          ~Exit() { --n; }
        } exit{clients_running};
        std::mt19937_64 r(thread_seed);
        HttpClient c(server.port());
        const std::string customer = fmt::format("cust{}", t);
        auto headers = bearer(token(customer, Role::customer));
        std::vector<std::string> mine;
        for (int i = 0; !stop; ++i) {
          if (!mine.empty() && r() % 5 == 0) {
            std::string id = mine[r() % mine.size()];
            auto res = c.post("/v1/orders/" + id + "/cancel", "{}", headers);
            if (res.status == 0) return;
            ++responses;
            std::lock_guard lock(ledger.mu);
            if (res.status == 200)
              ledger.acked_cancels.insert(id);
            else if (refusal_of(res) != "409 invalid_transition")  // cancelled before
              ledger.unexpected.push_back("cancel " + id + ": " + res.body);
            continue;
          }
          std::string id = fmt::format("r{}-t{}-{}", round, t, i);
          const auto& sku = kProducts[r() % kProducts.size()].first;
          auto h = headers;
          h["Idempotency-Key"] = id;
          std::string body = order_body(customer, {{sku, int64_t(1 + r() % 3)}}, id);
          auto res = c.post("/v1/orders", body, h);
          if (res.status == 0) {
            std::lock_guard lock(ledger.mu);
            ledger.unknown_orders[id] = {customer, body};
            return;
          }
          ++responses;
          if (res.status == 201) mine.push_back(id);
          std::lock_guard lock(ledger.mu);
          if (res.status == 201)
            ledger.acked_orders.insert(id);
          else if (refusal_of(res) != "409 out_of_stock")
            ledger.unexpected.push_back("order " + id + ": " + res.body);
        }
      });
    }
    // Kill once a random amount of work was acknowledged (a count, not a clock).
    // Bounded: a server that died by itself ends every client, and the test says so.
    const int target = 100 + static_cast<int>(rng() % 300);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
    while (responses < target && clients_running > 0 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const bool reached = responses >= target;
    server.kill9();
    stop = true;
    for (auto& t : clients) t.join();
    REQUIRE_MESSAGE(reached, "round ", round, ": ", responses.load(), " of ", target,
                    " answers before the clients stopped or the bound passed");
    CHECK_MESSAGE(ledger.unexpected.empty(),
                  (ledger.unexpected.empty() ? "" : ledger.unexpected.front()));
  }

  // Restart and retry every request whose answer was lost, with its Idempotency-Key.
  server.start();
  HttpClient c(server.port());
  for (const auto& [id, request] : ledger.unknown_orders) {
    auto h = bearer(token(request.first, Role::customer));
    h["Idempotency-Key"] = id;
    auto res = c.post("/v1/orders", request.second, h);
    // Committed before the crash: the stored answer comes back. Not committed: it runs now,
    // and may find the stock gone. Never `already_exists`: the record is in the order's batch.
    if (res.status == 201)
      ledger.acked_orders.insert(id);
    else
      CHECK_MESSAGE(refusal_of(res) == "409 out_of_stock", id, ": ", res.body);
  }
  Streams s{c};
  for (const auto& id : ledger.acked_orders) {
    auto events = s.events("order-" + id);
    REQUIRE_MESSAGE(!events.empty(), "acknowledged order " << id << " is missing");
    CHECK(events[0].find("type")->as_string() == "OrderPlaced");
    int placed = 0;
    for (const auto& e : events) placed += e.find("type")->as_string() == "OrderPlaced";
    CHECK(placed == 1);
  }
  for (const auto& id : ledger.acked_cancels) {
    auto events = s.events("order-" + id);
    REQUIRE(events.size() == 2);
    CHECK(events[1].find("type")->as_string() == "OrderCancelled");
  }
  server.terminate();

  // Read the data directory directly: chain intact, the fold of the log equals the state the
  // engine recovers (snapshot + replay of the log after it).
  std::vector<std::string> placed;
  int64_t reserved_total = 0;
  std::vector<PartitionState> folded_parts;
  // The same backend the server ran on: the Kafka topic (read_committed), or RocksDB.
  const auto brokers = test_kafka_brokers();
  kafka::Options kafka_options;
  if (brokers) {
    kafka_options.brokers = *brokers;
    kafka_options.topic = test_kafka_topic(data);
    kafka_options.transactional_prefix = kafka_options.topic + "-";
    auto log = KafkaLog::open_reader(kPartitions, kafka_options);
    REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.error().message));
    for (uint32_t p = 0; p < kPartitions; ++p)
      folded_parts.push_back(fold_partition(*log.value(), PartitionId{p}, placed));
  } else {
    auto db = RocksDb::open(data + "/rocksdb");
    REQUIRE(db.ok());
    auto log = RocksDbLog::open(*db.value(), kPartitions);
    REQUIRE(log.ok());
    for (uint32_t p = 0; p < kPartitions; ++p)
      folded_parts.push_back(fold_partition(*log.value(), PartitionId{p}, placed));
  }
  SystemClock clock;
  EngineConfig cfg;
  cfg.data_dir = data;
  cfg.partitions = kPartitions;
  auto engine =
      brokers ? Engine::open_kafka(cfg, kafka_options, clock) : Engine::open_embedded(cfg, clock);
  REQUIRE_MESSAGE(engine.ok(), (engine.ok() ? "" : engine.error().message));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const PartitionState& folded = folded_parts[p];
    std::string why;
    CHECK_MESSAGE(check_invariants(folded, &why), why);
    const PartitionState& recovered = engine.value()->processor(PartitionId{p}).state_for_test();
    REQUIRE(recovered.products.size() == folded.products.size());
    for (const auto& [sku, prod] : folded.products) {
      const Product* sp = recovered.find_product(sku);
      REQUIRE(sp);
      CHECK(sp->on_hand == prod.on_hand);
      CHECK(sp->reserved == prod.reserved);
      CHECK(sp->version == prod.version);
      CHECK(prod.on_hand.value() == kStock);
      CHECK(prod.reserved.value() <= prod.on_hand.value());
      reserved_total += prod.reserved.value();
    }
    REQUIRE(recovered.orders.size() == folded.orders.size());
    for (const auto& [id, o] : folded.orders) {
      const Order* ro = recovered.find_order(id);
      REQUIRE(ro);
      CHECK(ro->status == o.status);
      CHECK(ro->version == o.version);
    }
  }
  std::set<std::string> placed_set(placed.begin(), placed.end());
  CHECK(placed_set.size() == placed.size());  // no order placed twice
  // Both ways: every acknowledged order is in the log, and every order in the log was
  // acknowledged (none that a client was told was refused, or never told about, got in).
  for (const auto& id : ledger.acked_orders) CHECK(placed_set.count(id) == 1);
  CHECK(placed_set == ledger.acked_orders);
  MESSAGE("acknowledged orders: " << ledger.acked_orders.size()
                                  << ", placed in the log: " << placed.size()
                                  << ", lost answers: " << ledger.unknown_orders.size()
                                  << ", reserved units: " << reserved_total);
  CHECK(ledger.acked_orders.size() > 0);
}

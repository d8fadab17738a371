// Kafka benchmark: durable PlaceOrder (3 lines) per second through the engine with the
// Kafka log, next to a raw librdkafka baseline measured in the same run against the same
// broker: one transactional producer sending the same number of events, of the same
// average size, in transactions of the same average size (one per group commit).
//
//   bench_kafka --brokers HOST:PORT [--orders N] [--window W] [--dir PATH]
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>

#include "bench/closed_loop.hpp"
#include "engine/log/kafka/kafka_log.hpp"
#include "engine/runtime/engine.hpp"

using namespace ordo;
using Clock_ = std::chrono::steady_clock;

namespace {

double seconds_since(Clock_::time_point t) {
  return std::chrono::duration<double>(Clock_::now() - t).count();
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_kafka: %s\n", why.c_str());
  std::exit(1);
}

struct EngineRun {
  double seconds = 0;
  uint64_t events = 0, batches = 0, event_bytes = 0;
};

EngineRun run_engine(const std::string& dir, const kafka::Options& ko, uint64_t orders,
                     uint64_t window) {
  SystemClock clock;
  EngineConfig cfg;
  cfg.data_dir = dir;
  cfg.processor.queue_capacity = window * 2;
  auto engine = Engine::open_kafka(cfg, ko, clock);
  if (!engine) die(engine.error().message);
  Engine& e = *engine.value();
  e.start();
  bench::ClosedLoop loop(e, window);
  auto submit = [&](Command cmd) { loop.submit(std::move(cmd)); };
  auto drain = [&] { loop.drain(); };
  for (int i = 1; i <= 3; ++i)
    submit(DefineProduct{Sku{"sku-" + std::to_string(i)}, SellerId{"seller-1"},
                         "Benchmark item " + std::to_string(i), AmountMinor{1999}, Currency{"EUR"},
                         Quantity{kMaxStock}});
  drain();
  auto before = e.processor(PartitionId{0}).stats();
  auto t0 = Clock_::now();
  for (uint64_t i = 0; i < orders; ++i)
    submit(PlaceOrder{
        OrderId{"order-" + std::to_string(i)},
        CustomerId{"customer-" + std::to_string(i % 1000)},
        {{Sku{"sku-1"}, Quantity{1}}, {Sku{"sku-2"}, Quantity{2}}, {Sku{"sku-3"}, Quantity{1}}}});
  drain();
  EngineRun run;
  run.seconds = seconds_since(t0);
  auto after = e.processor(PartitionId{0}).stats();
  run.events = after.events - before.events;
  run.batches = after.batches - before.batches;
  if (loop.failed()) die(std::to_string(loop.failed()) + " commands failed");
  auto sample = e.log().read(PartitionId{0}, Offset{3}, 1000);
  if (!sample) die(sample.error().message);
  uint64_t bytes = 0;
  for (auto env : sample.value()) {
    env.offset = Offset{-1};  // as stored in Kafka
    bytes += encode_envelope(env).size();
  }
  run.event_bytes = sample->empty() ? 0 : bytes / sample->size();
  e.stop();
  return run;
}

void on_dr(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err) static_cast<std::atomic<uint64_t>*>(opaque)->fetch_add(1);
}

double run_raw(const kafka::Options& ko, const std::string& topic, uint64_t events,
               uint64_t per_batch, uint64_t event_bytes) {
  auto admin = kafka::make_consumer(ko);
  if (!admin) die(admin.error().message);
  if (auto s = kafka::ensure_topic(admin->get(), topic, 1, ko.timeout_ms); !s) die(s.message());
  std::atomic<uint64_t> errors{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : {std::pair{"bootstrap.servers", ko.brokers.c_str()},
                      {"transactional.id", topic.c_str()},
                      {"enable.idempotence", "true"},
                      {"acks", "all"},
                      {"linger.ms", "1"}})
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die(err);
  rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
  rd_kafka_conf_set_opaque(conf, &errors);
  kafka::Handle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) die(err);
  auto check = [](rd_kafka_error_t* e) {
    if (e) die(rd_kafka_error_string(e));
  };
  check(rd_kafka_init_transactions(rk.get(), ko.timeout_ms));
  const std::string value(event_bytes, 'x');
  const std::string key = "order-0000000";
  auto t0 = Clock_::now();
  for (uint64_t written = 0; written < events;) {
    check(rd_kafka_begin_transaction(rk.get()));
    for (uint64_t i = 0; i < per_batch && written < events; ++i, ++written) {
      while (rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                               RD_KAFKA_V_KEY(key.data(), key.size()),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk.get(), 1);
    }
    check(rd_kafka_commit_transaction(rk.get(), ko.timeout_ms));  // flushes, like the log's append
  }
  double s = seconds_since(t0);
  if (errors) die("raw produce: delivery errors");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t orders = 100'000, window = 4096;
  std::string dir = (std::filesystem::temp_directory_path() / "ordo-bench-kafka").string();
  kafka::Options ko;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--orders")
      orders = std::stoull(argv[i + 1]);
    else if (a == "--window")
      window = std::stoull(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--brokers")
      ko.brokers = argv[i + 1];
  }
  if (ko.brokers.empty()) die("--brokers HOST:PORT is required");
  // Fresh topics per run: the engine's log and the baseline's start empty.
  const std::string run_id = std::to_string(std::random_device{}());
  ko.topic = "ordo.bench." + run_id;
  ko.transactional_prefix = ko.topic + "-";
  std::filesystem::remove_all(dir);
  EngineRun run = run_engine(dir, ko, orders, window);
  std::filesystem::remove_all(dir);
  const double per_batch = double(run.events) / double(run.batches);
  const double raw_s = run_raw(ko, "ordo.bench-raw." + run_id, run.events,
                               uint64_t(per_batch + 0.5), run.event_bytes);
  const double events_per_order = double(run.events) / double(orders);
  const double engine_orders = orders / run.seconds;
  const double raw_orders = run.events / raw_s / events_per_order;
  std::printf("orders                   %lu (3 lines, %lu events, %.1f events/order)\n",
              (unsigned long)orders, (unsigned long)run.events, events_per_order);
  std::printf("group commits            %lu (%.1f events per Kafka transaction)\n",
              (unsigned long)run.batches, per_batch);
  std::printf("avg event size           %lu bytes (canonical JSON envelope)\n",
              (unsigned long)run.event_bytes);
  std::printf("engine PlaceOrder/s      %.0f  (%.0f events/s, %.2f s)\n", engine_orders,
              run.events / run.seconds, run.seconds);
  std::printf("raw librdkafka events/s  %.0f  (= %.0f orders/s equivalent, %.2f s)\n",
              run.events / raw_s, raw_orders, raw_s);
  std::printf("engine / raw             %.2f\n", engine_orders / raw_orders);
  return 0;
}

// Projector benchmark: events/s into PostgreSQL for a realistic event mix (products,
// restocks, 1–3 line orders, cancellations), next to two baselines on the same rows in the
// same run:
//   ceiling — the same per-batch row changes, folded before the clock starts, written with
//             COPY + upsert only (no decoding, no folding, no checkpoint);
//   naive   — one transaction per event (the projector with batches of one).
//   bench_views --postgres CONNINFO [--orders N] [--naive-events N]
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <pqxx/pqxx>
#include <random>

#include "engine/log/event_codec.hpp"
#include "engine/runtime/engine.hpp"
#include "projections/migrations.hpp"
#include "projections/view_changes.hpp"
#include "projections/view_writer.hpp"

using namespace ordo;
using namespace ordo::projections;
using SteadyClock = std::chrono::steady_clock;

namespace {

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

void submit_sync(Engine& e, Command c) {
  Submission s;
  s.command = std::move(c);
  s.meta.command_id = s.meta.correlation_id = "bench";
  s.meta.actor = Actor{"bench", "admin"};
  while (e.submit(std::move(s)) == SubmitResult::overloaded) std::this_thread::yield();
}

std::vector<Envelope> generate(const std::string& dir, int orders) {
  SystemClock clock;
  EngineConfig cfg;
  cfg.data_dir = dir;
  cfg.processor.queue_capacity = 1 << 16;
  auto engine = Engine::open_embedded(cfg, clock);
  if (!engine) std::exit(1);
  Engine& e = *engine.value();
  e.start();
  std::mt19937_64 rng(42);
  constexpr int kSellers = 20, kSkus = 10;
  for (int s = 0; s < kSellers; ++s)
    for (int k = 0; k < kSkus; ++k)
      submit_sync(
          e, DefineProduct{Sku{fmt::format("s{}-k{}", s, k)}, SellerId{fmt::format("seller{}", s)},
                           "Item", AmountMinor{100 + int64_t(rng() % 5000)}, Currency{"EUR"},
                           Quantity{kMaxStock / 2}});
  for (int i = 0; i < orders; ++i) {
    int s = int(rng() % kSellers);
    std::vector<OrderLineRequest> lines;
    int n = 1 + int(rng() % 3);
    for (int l = 0; l < n; ++l)
      lines.push_back({Sku{fmt::format("s{}-k{}", s, (int(rng() % kSkus) + l * 3) % kSkus)},
                       Quantity{1 + int64_t(rng() % 4)}});
    std::sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.sku < b.sku; });
    lines.erase(
        std::unique(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.sku == b.sku; }),
        lines.end());
    submit_sync(e, PlaceOrder{OrderId{fmt::format("o{}", i)},
                              CustomerId{fmt::format("c{}", rng() % 5000)}, lines});
    if (i % 5 == 4)
      submit_sync(e, CancelOrder{OrderId{fmt::format("o{}", i - 2)}, "bench", std::nullopt});
    if (i % 50 == 0)
      submit_sync(e, AdjustStock{Sku{fmt::format("s{}-k0", s)}, Quantity{10}, "restock"});
  }
  e.stop();
  std::vector<Envelope> all;
  for (Offset from{0};;) {
    auto batch = e.log().read(PartitionId{0}, from, 10000);
    if (!batch || batch->empty()) break;
    from = Offset{batch->back().offset.value() + 1};
    for (auto& env : batch.value()) all.push_back(std::move(env));
  }
  return all;
}

std::string fresh_schema(pqxx::connection& c, const std::string& name) {
  pqxx::work w(c);
  w.exec("DROP SCHEMA IF EXISTS " + quote_ident(name) + " CASCADE");
  w.commit();
  apply_migrations(c, name);
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conninfo;
  int orders = 50'000, naive_events = 20'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--postgres")
      conninfo = argv[i + 1];
    else if (a == "--orders")
      orders = std::stoi(argv[i + 1]);
    else if (a == "--naive-events")
      naive_events = std::stoi(argv[i + 1]);
  }
  if (conninfo.empty()) {
    std::fprintf(stderr,
                 "usage: bench_views --postgres CONNINFO [--orders N] [--naive-events N]\n");
    return 2;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "ordo-bench-views").string();
  std::filesystem::remove_all(dir);
  std::vector<Envelope> events = generate(dir, orders);
  std::filesystem::remove_all(dir);
  constexpr size_t kBatch = 4000;

  pqxx::connection c(conninfo);
  // 1. The projector: decode, fold, COPY + upsert, checkpoint, one transaction per batch.
  fresh_schema(c, "bench_projector");
  double projector_s = 0;
  {
    ViewWriter writer(c, "bench_projector");
    int64_t pos = -1;
    auto t0 = SteadyClock::now();
    for (size_t i = 0; i < events.size(); i += kBatch) {
      std::vector<Envelope> batch(events.begin() + i,
                                  events.begin() + std::min(events.size(), i + kBatch));
      pos = writer.apply_batch(0, batch, pos);
    }
    projector_s = seconds_since(t0);
  }
  // 2. The ceiling: the same batches' row changes, folded before timing, COPY + upsert only.
  fresh_schema(c, "bench_ceiling");
  double ceiling_s = 0;
  {
    ViewWriter writer(c, "bench_ceiling");  // creates the staging tables
    std::vector<std::vector<Event>> decoded(events.size() / kBatch + 1);
    std::vector<ViewChanges> folded(decoded.size());
    for (size_t i = 0, b = 0; i < events.size(); i += kBatch, ++b) {
      decoded[b].reserve(kBatch);
      for (size_t j = i; j < std::min(events.size(), i + kBatch); ++j) {
        decoded[b].push_back(
            decode_event(events[j].type, events[j].schema_version, events[j].payload).value());
        folded[b].add(events[j], decoded[b].back());
      }
    }
    auto t0 = SteadyClock::now();
    for (const auto& changes : folded) {
      if (changes.empty()) continue;
      pqxx::work w(c);
      w.exec("SET LOCAL search_path TO bench_ceiling, pg_temp");
      ViewWriter::write_changes(w, changes);
      w.commit();
    }
    ceiling_s = seconds_since(t0);
  }
  // 3. Naive: one transaction per event, on the first `naive_events` events.
  fresh_schema(c, "bench_naive");
  double naive_s = 0;
  size_t naive_n = std::min<size_t>(naive_events, events.size());
  {
    ViewWriter writer(c, "bench_naive");
    int64_t pos = -1;
    auto t0 = SteadyClock::now();
    for (size_t i = 0; i < naive_n; ++i) pos = writer.apply_batch(0, {events[i]}, pos);
    naive_s = seconds_since(t0);
  }
  for (const char* s : {"bench_projector", "bench_ceiling", "bench_naive"}) {
    pqxx::work w(c);
    w.exec(std::string("DROP SCHEMA ") + s + " CASCADE");
    w.commit();
  }
  double projector = events.size() / projector_s, ceiling = events.size() / ceiling_s,
         naive = naive_n / naive_s;
  std::printf("events                 %zu (%d orders with cancels and restocks; batches of %zu)\n",
              events.size(), orders, kBatch);
  std::printf("projector events/s     %.0f  (%.2f s)\n", projector, projector_s);
  std::printf("ceiling events/s       %.0f  (%.2f s: pre-folded rows, COPY + upsert only)\n",
              ceiling, ceiling_s);
  std::printf("naive events/s         %.0f  (%zu events, one transaction each)\n", naive, naive_n);
  std::printf("projector / ceiling    %.2f\n", projector / ceiling);
  std::printf("projector / naive      %.1fx\n", projector / naive);
  return 0;
}

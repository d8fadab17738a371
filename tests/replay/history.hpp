#pragma once
// A large history made by the real engine in-process (processors driven with run_once and a
// manual clock), with snapshots of the engine's own state taken along the way, to check
// replay's answers against.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"
#include "replay/event_source.hpp"
#include "replay/exporter.hpp"
#include "tests/support/cli.hpp"

namespace ordo::test {

struct EngineSnapshot {
  uint32_t partition = 0;
  int64_t offset = -1;  // the partition's last offset when taken
  std::vector<Product> products;
  std::vector<Order> orders;
};

struct History {
  int64_t events = 0;
  std::vector<EngineSnapshot> snapshots;
};

inline void pump(Engine& e) {
  for (uint32_t p = 0; p < e.partition_count(); ++p)
    while (e.processor(PartitionId{p}).run_once() > 0) {
    }
}

inline void submit(Engine& e, Command c, const std::string& id) {
  Submission s;
  s.command = std::move(c);
  s.meta.command_id = id;
  s.meta.correlation_id = id;
  s.meta.causation_id = id;
  s.meta.actor = Actor{"generator", "admin"};
  s.done = [](Completion&&) {};
  REQUIRE(e.submit(std::move(s)) != SubmitResult::overloaded);
}

// `orders` orders over 8 sellers × 5 products in `partitions` partitions; about one in seven
// is cancelled, others expire as the clock moves past their reservation's TTL.
inline History generate_history(const std::string& data_dir, uint32_t partitions, int orders,
                                uint64_t seed, int snapshot_percent = 50) {
  ManualClock clock(1'700'000'000'000);
  EngineConfig cfg;
  cfg.data_dir = data_dir;
  cfg.partitions = partitions;
  cfg.processor.reservation_ttl = DurationMs{60'000};
  auto opened = Engine::open_embedded(cfg, clock);
  REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
  Engine& e = *opened.value();
  std::mt19937_64 rng(seed);
  History h;
  constexpr int kSellers = 8, kSkus = 5;
  auto sku = [](int s, int k) { return fmt::format("s{}-k{}", s, k); };
  for (int s = 0; s < kSellers; ++s)
    for (int k = 0; k < kSkus; ++k)
      submit(e,
             DefineProduct{Sku{sku(s, k)}, SellerId{fmt::format("s{}", s)},
                           fmt::format("Item \"{}\", {}", s, k), AmountMinor{100 + 10 * k},
                           Currency{s % 2 ? "EUR" : "USD"}, Quantity{3000}},
             fmt::format("def-{}-{}", s, k));
  pump(e);
  auto snapshot = [&] {
    EngineSnapshot snap;
    snap.partition = static_cast<uint32_t>(rng() % partitions);
    PartitionId p{snap.partition};
    snap.offset = e.log().tail(p)->last_offset.value();
    const PartitionState& st = e.processor(p).state_for_test();
    for (int i = 0; i < 3; ++i) {
      if (auto* x = st.find_product(Sku{sku(int(rng() % kSellers), int(rng() % kSkus))}))
        snap.products.push_back(*x);
      if (auto* o = st.find_order(OrderId{fmt::format("o{}", rng() % orders)}))
        snap.orders.push_back(*o);
    }
    h.snapshots.push_back(std::move(snap));
  };
  for (int i = 0; i < orders; ++i) {
    const int s = int(rng() % kSellers);
    std::vector<OrderLineRequest> lines;
    const int nlines = 1 + int(rng() % 3);
    for (int k = 0; k < nlines; ++k)
      lines.push_back({Sku{sku(s, (i + k) % kSkus)}, Quantity{1 + int64_t(rng() % 4)}});
    submit(e,
           PlaceOrder{OrderId{fmt::format("o{}", i)}, CustomerId{fmt::format("c{}", rng() % 500)},
                      lines},
           fmt::format("place-{}", i));
    if (i % 7 == 3)
      submit(e,
             CancelOrder{OrderId{fmt::format("o{}", rng() % (i + 1))}, "changed mind, sorry", {}},
             fmt::format("cancel-{}", i));
    if (i % 97 == 0)
      submit(e, AdjustStock{Sku{sku(s, i % kSkus)}, Quantity{50}, "restock"},
             fmt::format("adj-{}", i));
    if (i % 400 == 399) {
      pump(e);
      clock.advance_ms(15'000);  // reservations older than the TTL expire on the next pump
      if (int(rng() % 100) < snapshot_percent) snapshot();
    }
  }
  pump(e);
  clock.advance_ms(120'000);
  pump(e);
  snapshot();
  for (uint32_t p = 0; p < partitions; ++p)
    h.events += e.log().tail(PartitionId{p})->last_offset.value() + 1;
  return h;
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& l : lines) out << l << '\n';
}

}  // namespace ordo::test

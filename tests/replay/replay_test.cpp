// replay over a large history made by the real engine: export → verify round trip, tamper
// detection, state-at against the engine's own state, and the golden v1 events.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include "engine/log/envelope_view.hpp"
#include "engine/domain/flows.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/state/rocks_db.hpp"
#include "replay/audit_api.hpp"
#include "replay/state_at.hpp"
#include "replay/stats.hpp"
#include "replay/verifier.hpp"
#include "tests/replay/history.hpp"
#include "tests/support/server_process.hpp"

using namespace ordo;
using namespace ordo::replay;
using namespace ordo::test;

namespace {

VerifyReport verify_file(const std::string& path) {
  auto src = FileSource::open(path);
  REQUIRE(src.ok());
  return verify(*src.value());
}

void export_to(EventSource& src, const std::string& out, EventFilter filter = {}) {
  ExportOptions o;
  o.out = out;
  o.filter = std::move(filter);
  auto r = export_events(src, o);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
}

// The same values in another spelling: members in reverse order, with spaces.
std::string respelled(const std::string& line) {
  auto j = parse_json(line);
  REQUIRE(j.ok());
  std::string spelled = "{ ";
  const auto& members = j->as_object();
  for (auto it = members.rbegin(); it != members.rend(); ++it)
    spelled += (it == members.rbegin() ? "" : " , ") + to_canonical(Json(it->first)) + " : " +
               to_canonical(it->second);
  spelled += " }";
  REQUIRE(decode_envelope(spelled).ok());
  REQUIRE(spelled != line);
  return spelled;
}

std::string offset_of(const std::string& line) {
  auto e = decode_envelope(line);
  REQUIRE(e.ok());
  return fmt::format("partition {} offset {}", e->partition.value(), e->offset.value());
}

// One history for the whole suite: generating it is the slow part.
struct Shared {
  TempDir dir{"replay"};
  std::string data = dir.path() + "/data";
  std::string export_path = dir.path() + "/all.jsonl";
  History history;
  Shared() {
    history = generate_history(data, 2, 20'000, 42);
    auto src = DataDirSource::open(data);
    REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
    export_to(*src.value(), export_path);
  }
};

Shared& shared() {
  static Shared s;
  return s;
}

}  // namespace

TEST_CASE("export → verify round trip over a large generated history") {
  Shared& s = shared();
  CHECK(s.history.events > 60'000);

  // The data directory itself verifies, including each partition's recorded tail.
  auto dd = DataDirSource::open(s.data);
  REQUIRE(dd.ok());
  VerifyReport from_dir = verify(*dd.value());
  CHECK_MESSAGE(from_dir.ok(), from_dir.first_failure());
  CHECK(from_dir.events() == s.history.events);
  REQUIRE(from_dir.partitions.size() == 2);
  dd.value().reset();

  // So does the export, with the same verdict per partition.
  VerifyReport from_file = verify_file(s.export_path);
  CHECK_MESSAGE(from_file.ok(), from_file.first_failure());
  CHECK(to_canonical(to_json(from_file)) == to_canonical(to_json(from_dir)));

  // Every line is the canonical envelope, and re-exporting the export gives the same bytes.
  auto lines = read_lines(s.export_path);
  CHECK(static_cast<int64_t>(lines.size()) == s.history.events);
  for (size_t i = 0; i < lines.size(); i += 997) {
    auto e = decode_envelope(lines[i]);
    REQUIRE(e.ok());
    CHECK(encode_envelope(e.value()) == lines[i]);
  }
  auto again = FileSource::open(s.export_path);
  REQUIRE(again.ok());
  export_to(*again.value(), s.dir.path() + "/again.jsonl");
  CHECK(read_file(s.dir.path() + "/again.jsonl") == read_file(s.export_path));
}

TEST_CASE("filters: one partition verifies on its own; one stream is not a whole chain") {
  Shared& s = shared();
  auto src = FileSource::open(s.export_path);
  REQUIRE(src.ok());
  EventFilter p1;
  p1.partition = 1;
  export_to(*src.value(), s.dir.path() + "/p1.jsonl", p1);
  VerifyReport r = verify_file(s.dir.path() + "/p1.jsonl");
  CHECK_MESSAGE(r.ok(), r.first_failure());
  REQUIRE(r.partitions.size() == 1);
  CHECK(r.partitions[0].partition.value() == 1);

  // The smaller partition-1 file serves the rest.
  auto src2 = FileSource::open(s.dir.path() + "/p1.jsonl");
  REQUIRE(src2.ok());
  std::string stream;
  for (const auto& l : read_lines(s.dir.path() + "/p1.jsonl"))
    if (l.find("\"type\":\"OrderPlaced\"") != std::string::npos) {
      stream = decode_envelope(l)->stream;
      break;
    }
  REQUIRE(!stream.empty());
  EventFilter one;
  one.stream = stream;
  one.type = "OrderPlaced";
  export_to(*src2.value(), s.dir.path() + "/one.jsonl", one);
  auto lines = read_lines(s.dir.path() + "/one.jsonl");
  REQUIRE(lines.size() == 1);
  VerifyReport bad = verify_file(s.dir.path() + "/one.jsonl");
  CHECK_FALSE(bad.ok());
  CHECK(bad.first_failure().find("genesis") != std::string::npos);
  CHECK(bad.first_failure().find("filtered") != std::string::npos);

  // Offset and time ranges bound the export inclusively.
  auto src3 = FileSource::open(s.dir.path() + "/p1.jsonl");
  REQUIRE(src3.ok());
  EventFilter range;
  range.partition = 1;
  range.from_offset = 10;
  range.to_offset = 19;
  export_to(*src3.value(), s.dir.path() + "/range.jsonl", range);
  auto rl = read_lines(s.dir.path() + "/range.jsonl");
  REQUIRE(rl.size() == 10);
  CHECK(offset_of(rl.front()) == "partition 1 offset 10");
  CHECK(offset_of(rl.back()) == "partition 1 offset 19");
}

TEST_CASE("tampering with an export is found at the right offset") {
  Shared& s = shared();
  // The first 6,000 events of partition 1: a whole chain from genesis, small enough to verify
  // once per case.
  std::vector<std::string> lines;
  for (const auto& l : read_lines(s.export_path))
    if (l.find("\"partition\":1,") != std::string::npos && lines.size() < 6000) lines.push_back(l);
  // An OrderPlaced in the middle, with an event after it.
  size_t k = lines.size() / 2;
  while (lines[k].find("\"type\":\"OrderPlaced\"") == std::string::npos) ++k;
  const std::string path = s.dir.path() + "/tampered.jsonl";

  SUBCASE("the untouched file passes") {
    write_lines(path, lines);
    CHECK(verify_file(path).ok());
  }
  SUBCASE("one byte of one payload changed") {
    auto t = lines;
    auto at = t[k].find("\"customer_id\":\"c");
    REQUIRE(at != std::string::npos);
    t[k][at + 16] = 'x';  // c123 → x123: still valid JSON, still a valid id
    write_lines(path, t);
    VerifyReport r = verify_file(path);
    CHECK_FALSE(r.ok());
    CHECK(r.first_failure().starts_with(offset_of(lines[k]) + ": hash does not match"));
  }
  SUBCASE("one event dropped") {
    auto t = lines;
    t.erase(t.begin() + static_cast<long>(k));
    write_lines(path, t);
    VerifyReport r = verify_file(path);
    CHECK_FALSE(r.ok());
    // The event after the gap no longer chains to its predecessor.
    CHECK(r.first_failure().starts_with(offset_of(lines[k + 1]) + ": prev_hash does not match"));
  }
  SUBCASE("two events swapped") {
    auto t = lines;
    std::swap(t[k], t[k + 1]);
    write_lines(path, t);
    VerifyReport r = verify_file(path);
    CHECK_FALSE(r.ok());
    CHECK(r.first_failure().starts_with(offset_of(lines[k + 1]) + ": prev_hash does not match"));
  }
  // A forger who rewrites the chain from line `from` on: every line is sealed again (in its
  // canonical form) onto the one before it.
  auto reseal_from = [](std::vector<std::string>& t, size_t from) {
    std::string prev = decode_envelope(t[from - 1])->hash;
    for (size_t i = from; i < t.size(); ++i) {
      auto x = decode_envelope(t[i]);
      REQUIRE(x.ok());
      seal(x.value(), prev);
      prev = x->hash;
      t[i] = encode_envelope(x.value());
    }
  };
  // A forger who seals the bytes as they are (not their canonical form) gets the verdict the
  // canonical hash gives: the in-place check does not take their word for the spelling.
  auto reseal_raw_from = [&](std::vector<std::string>& t, size_t from) {
    std::string prev = decode_envelope(t[from - 1])->hash;
    for (size_t i = from; i < t.size(); ++i) {
      const size_t ph = t[i].rfind("\"prev_hash\":\"") + 13;
      t[i].replace(ph, 64, prev);
      auto v = view_canonical_envelope(t[i]);
      REQUIRE(v.has_value());
      const std::string h = sha256_hex(prev + std::string(v->hashed[0]) +
                                       std::string(v->hashed[1]) + std::string(v->hashed[2]));
      t[i].replace(t[i].find("\"hash\":\"") + 8, 64, h);
      prev = h;
    }
  };
  // Inserts `text` at the start of event k's payload, seals from there on as written, and
  // verifies the result.
  auto verify_sealed_as_written = [&](const std::string& text) {
    auto t = lines;
    t[k].insert(t[k].find("\"payload\":{") + 11, text);
    reseal_raw_from(t, k);
    write_lines(path, t);
    return verify_file(path);
  };
  SUBCASE("a payload with a duplicate key, sealed as written, is refused as not an envelope") {
    VerifyReport r = verify_sealed_as_written("\"customer_id\":\"forged\",");
    CHECK_FALSE(r.ok());
    REQUIRE(r.source_error.has_value());
    CHECK_MESSAGE(r.source_error->find("duplicate key") != std::string::npos, *r.source_error);
  }
  SUBCASE("a payload re-spelled and sealed as written fails its (canonical) hash") {
    VerifyReport r = verify_sealed_as_written(" ");
    CHECK_FALSE(r.ok());
    CHECK_MESSAGE(r.first_failure().starts_with(offset_of(lines[k]) + ": hash does not match"),
                  r.first_failure());
  }
  SUBCASE(
      "a consistent forgery (payload edited and every later hash recomputed) breaks the domain") {
    // An attacker who rewrites the chain from the edit on defeats the hashes of a file (only
    // a hash kept elsewhere, e.g. the log's tail record, catches that); the fold still sees
    // a reservation of more stock than the product has.
    auto t = lines;
    size_t r = k;
    while (t[r].find("\"type\":\"StockReserved\"") == std::string::npos) ++r;
    auto e = decode_envelope(t[r]);
    REQUIRE(e.ok());
    e->payload.as_object()["qty"] = Json(int64_t{1'000'000});
    t[r] = encode_envelope(e.value());
    reseal_from(t, r);
    write_lines(path, t);
    VerifyReport v = verify_file(path);
    CHECK_FALSE(v.ok());
    CHECK_MESSAGE(v.first_failure().starts_with(offset_of(lines[r]) + ": product"),
                  v.first_failure());
  }
  SUBCASE("a consistent forgery of an order's lines is refused as the engine would refuse it") {
    // Lines the engine never writes: a quantity past 10^6 (four of 2^62 wrapped the
    // reservation sum to 0), a SKU twice, a price other than the catalogue's.
    size_t r = k;
    while (lines[r].find("\"type\":\"OrderPlaced\"") == std::string::npos) ++r;
    for (int forgery = 0; forgery < 3; ++forgery) {
      CAPTURE(forgery);
      auto t = lines;
      auto e = decode_envelope(t[r]);
      REQUIRE(e.ok());
      auto& order = e->payload.as_object();
      auto& ls = order["lines"].as_array();
      REQUIRE(!ls.empty());
      if (forgery == 0) {
        Json line = ls[0];
        line.as_object()["qty"] = Json(int64_t{1} << 62);
        line.as_object()["unit_price_minor"] = Json(int64_t{0});
        ls = {line, line, line, line};
      } else if (forgery == 1) {
        ls.push_back(ls[0]);
      } else {
        const int64_t price = ls[0].find("unit_price_minor")->as_int();
        ls[0].as_object()["unit_price_minor"] = Json(price + 1);
      }
      // The total agrees with the forged lines: only the lines themselves are wrong.
      int64_t total = 0;
      for (const Json& l : ls)
        total += l.find("qty")->as_int() * l.find("unit_price_minor")->as_int();
      order["total_minor"] = Json(total);
      t[r] = encode_envelope(e.value());
      reseal_from(t, r);
      write_lines(path, t);
      VerifyReport v = verify_file(path);
      CHECK_FALSE(v.ok());
      CHECK_MESSAGE(v.first_failure().starts_with(offset_of(lines[r]) + ": "), v.first_failure());
      CHECK_MESSAGE(v.first_failure().find("order ") != std::string::npos, v.first_failure());
    }
  }
  SUBCASE("a consistent forgery that drops one reservation breaks the reservation invariant") {
    // Every event left passes its own preconditions, but the order holds a line whose stock
    // was never reserved: found when its command ends, not at the end of the log.
    auto t = lines;
    size_t r = k;
    while (t[r].find("\"type\":\"StockReserved\"") == std::string::npos) ++r;
    const std::string command = decode_envelope(t[r])->command_id;
    t.erase(t.begin() + static_cast<long>(r));
    size_t last = r - 1;  // the forged command's last event
    while (decode_envelope(t[last + 1])->command_id == command) ++last;
    reseal_from(t, r);
    write_lines(path, t);
    VerifyReport v = verify_file(path);
    CHECK_FALSE(v.ok());
    CHECK_MESSAGE(v.first_failure().starts_with(offset_of(t[last]) + ": after command " + command +
                                                ": product "),
                  v.first_failure());
    CHECK_MESSAGE(v.first_failure().find("reserved orders hold") != std::string::npos,
                  v.first_failure());
  }
}

namespace {

std::string verify_json(EventSource& src, VerifyOptions o = {}) {
  return to_canonical(to_json(verify(src, {}, o)));
}

std::string verify_file_json(const std::string& path, VerifyOptions o = {}) {
  auto src = FileSource::open(path);
  REQUIRE(src.ok());
  return verify_json(*src.value(), o);
}

}  // namespace

TEST_CASE("verify gives one verdict however its work is split") {
  Shared& s = shared();
  // The reference: every line checked and folded on this thread, in the smallest batches.
  const std::string reference =
      verify_file_json(s.export_path, {.check_threads = 0, .batch_lines = 1});
  CHECK(reference.find("\"ok\":true") != std::string::npos);
  CHECK(verify_file_json(s.export_path, {.check_threads = 1, .batch_lines = 7}) == reference);
  CHECK(verify_file_json(s.export_path) == reference);
  for (VerifyOptions o : {VerifyOptions{.check_threads = 0, .batch_lines = 64},
                          VerifyOptions{.check_threads = 2, .batch_lines = 100}}) {
    CAPTURE(o.check_threads);
    auto dd = DataDirSource::open(s.data);
    REQUIRE(dd.ok());
    CHECK(verify_json(*dd.value(), o) == reference);
  }
}

TEST_CASE("lines re-spelled without changing a value still verify (they are judged decoded)") {
  Shared& s = shared();
  auto t = read_lines(s.export_path);
  for (size_t i = 5; i < t.size(); i += 1009) t[i] = respelled(t[i]);
  const std::string path = s.dir.path() + "/respelled.jsonl";
  write_lines(path, t);
  const std::string reference = verify_file_json(s.export_path);
  CHECK(verify_file_json(path) == reference);
  CHECK(verify_file_json(path, {.check_threads = 0, .batch_lines = 1}) == reference);

  // Export writes every line canonical: the re-spelled ones decoded and re-encoded, the rest
  // copied as stored, so the result is the original export byte for byte.
  auto src = FileSource::open(path);
  REQUIRE(src.ok());
  export_to(*src.value(), s.dir.path() + "/respelled-export.jsonl");
  CHECK(read_file(s.dir.path() + "/respelled-export.jsonl") == read_file(s.export_path));

  // A line that is no envelope stops the export, named by its line number.
  t[7] = "{\"not\":\"an envelope\"}";
  write_lines(path, t);
  auto bad = FileSource::open(path);
  REQUIRE(bad.ok());
  ExportOptions o;
  o.out = s.dir.path() + "/bad-export.jsonl";
  auto r = export_events(*bad.value(), o);
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.error().message.find("line 8: not a valid event envelope") != std::string::npos,
                r.error().message);
}

TEST_CASE(
    "a line that is not an envelope stops verify at its line number, what came before folded") {
  Shared& s = shared();
  auto t = read_lines(s.export_path);
  const size_t bad = t.size() / 2 + 3;  // far past the first block the file is read in
  t[bad] = "{\"not\":\"an envelope\"}";
  const std::string path = s.dir.path() + "/bad-line.jsonl";
  write_lines(path, t);
  const std::string before = offset_of(t[bad - 1]);
  for (VerifyOptions o : {VerifyOptions{.check_threads = 0, .batch_lines = 1}, VerifyOptions{}}) {
    auto src = FileSource::open(path);
    REQUIRE(src.ok());
    VerifyReport r = verify(*src.value(), {}, o);
    CHECK_FALSE(r.ok());
    REQUIRE(r.source_error.has_value());
    CHECK_MESSAGE(r.source_error->starts_with(
                      fmt::format("{} line {}: not a valid event envelope", path, bad + 1)),
                  *r.source_error);
    CHECK_MESSAGE(r.source_error->ends_with("(after " + before + ")"), *r.source_error);
    CHECK(r.events() == static_cast<int64_t>(bad));
  }
  // state-at reads the same way, and stops at the same line.
  auto src = FileSource::open(path);
  REQUIRE(src.ok());
  auto folded = fold_until(*src.value(), Cut{});
  REQUIRE_FALSE(folded.ok());
  const std::string& why = folded.error().message;
  CHECK_MESSAGE(
      why.starts_with(fmt::format("{} line {}: not a valid event envelope", path, bad + 1)), why);
  CHECK_MESSAGE(why.ends_with("(after " + before + ")"), why);
}

TEST_CASE("state-at agrees with the engine's own state at that offset") {
  Shared& s = shared();
  REQUIRE(s.history.snapshots.size() >= 5);
  int compared = 0;
  auto compare = [&](const EngineSnapshot& snap, auto&& product_at, auto&& order_at) {
    for (const auto& p : snap.products) {
      const Product* got = product_at(p);
      REQUIRE(got);
      CHECK(to_canonical(product_json(*got)) == to_canonical(product_json(p)));
      ++compared;
    }
    for (const auto& o : snap.orders) {
      const Order* got = order_at(o);
      REQUIRE(got);
      CHECK(to_canonical(order_json(*got)) == to_canonical(order_json(o)));
      ++compared;
    }
  };

  // Through state-at's own entry point (fold_until with a cut), at a snapshot half-way: the
  // cut partition stops there while the other is folded to its end. (Each fold reads the whole
  // export, so one here; the pass below checks every snapshot.)
  {
    const auto& snap = s.history.snapshots[s.history.snapshots.size() / 2];
    auto src = FileSource::open(s.export_path);
    REQUIRE(src.ok());
    Cut cut;
    cut.offset = snap.offset;
    cut.partition = snap.partition;
    auto folded = fold_until(*src.value(), cut);
    REQUIRE_MESSAGE(folded.ok(), (folded.ok() ? "" : folded.error().message));
    CHECK(folded->report.partitions.size() == 2);
    CHECK(folded->report.partitions.at(snap.partition).last_offset.value() == snap.offset);
    compare(
        snap, [&](const Product& p) { return folded->product(product_stream(p.sku)); },
        [&](const Order& o) { return folded->order(order_stream(o.order_id)); });
  }

  // Every snapshot in one pass of the same fold: compare when its offset has been folded.
  std::multimap<std::pair<uint32_t, int64_t>, const EngineSnapshot*> due;
  for (const auto& snap : s.history.snapshots)
    due.emplace(std::make_pair(snap.partition, snap.offset), &snap);
  auto src = FileSource::open(s.export_path);
  REQUIRE(src.ok());
  Verifier v;
  auto source_error = for_each_checked(*src.value(), {}, {}, [&](const CheckedLine& c) {
    v.add(c.facts, c.event);
    auto [lo, hi] = due.equal_range({c.facts.partition.value(), c.facts.offset.value()});
    for (auto it = lo; it != hi; ++it) {
      const PartitionState* st = v.state(c.facts.partition);
      compare(
          *it->second, [&](const Product& p) { return st->find_product(p.sku); },
          [&](const Order& o) { return st->find_order(o.order_id); });
    }
  });
  CHECK_FALSE(source_error.has_value());
  CHECK(v.finish().ok());
  CHECK(compared > 40);
}

namespace {

// Runs `c` in the engine and then every follow-up the process managers decide (react), as
// the flow manager would, each durable before the next; all must be accepted.
void run_flow(Engine& e, Command c, const std::string& id) {
  std::deque<std::pair<Command, std::string>> todo;
  todo.emplace_back(std::move(c), id);
  for (int step = 0; !todo.empty(); ++step) {
    REQUIRE(step < 20);
    auto [cmd, cmd_id] = std::move(todo.front());
    todo.pop_front();
    std::optional<Completion> done;
    Submission s;
    s.command = cmd;
    s.meta.command_id = cmd_id;
    s.meta.correlation_id = id;
    s.meta.actor = Actor{"generator", "admin"};
    s.done = [&done](Completion&& d) { done = std::move(d); };
    REQUIRE(e.submit(std::move(s)) == SubmitResult::queued);
    pump(e);
    REQUIRE(done.has_value());
    REQUIRE_MESSAGE(done->durable.ok(), done->durable.message());
    REQUIRE_MESSAGE(!done->outcome.rejection, command_name(cmd), ": ",
                    done->outcome.rejection ? done->outcome.rejection->detail : "");
    for (const Event& ev : done->outcome.events)
      if (auto next = react(ev)) todo.emplace_back(*next, fmt::format("{}/{}", cmd_id, step));
  }
}

Json field(const Json& j, std::string_view name) {
  const Json* v = j.find(name);
  REQUIRE_MESSAGE(v != nullptr, name, " missing in ", to_canonical(j));
  return *v;
}

}  // namespace

TEST_CASE("state-at folds wallets, payments, escrows and payouts too") {
  TempDir dir{"state-at-money"};
  const std::string data = dir.path() + "/data";
  const Currency usd{"USD"};
  int64_t tail_after_payout_request = -1;
  int64_t tail_after_pay = -1;
  Json engine_wallets, engine_payments;
  {
    ManualClock clock(1'700'000'000'000);
    EngineConfig cfg;
    cfg.data_dir = data;
    cfg.partitions = 1;
    auto opened = Engine::open_embedded(cfg, clock);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    Engine& e = *opened.value();
    run_flow(
        e,
        DefineProduct{Sku{"mug"}, SellerId{"seller-1"}, "Mug", AmountMinor{250}, usd, Quantity{10}},
        "define");
    run_flow(e, DepositToWallet{OwnerId{"cust-1"}, usd, AmountMinor{10'000}, "top-up"}, "deposit");
    run_flow(e, PlaceOrder{OrderId{"o1"}, CustomerId{"cust-1"}, {{Sku{"mug"}, Quantity{2}}}},
             "place");
    run_flow(e, PayOrder{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::wallet, {}}, "pay");
    tail_after_pay = e.log().tail(PartitionId{0})->last_offset.value();
    run_flow(e, ShipOrder{OrderId{"o1"}, {}}, "ship");
    run_flow(e, DeliverOrder{OrderId{"o1"}, {}}, "deliver");
    run_flow(e, ConfirmOrder{OrderId{"o1"}, {}}, "confirm");  // escrow released, 5 % fee
    run_flow(e, RequestPayout{PayoutId{"po1"}, OwnerId{"seller-1"}, usd, AmountMinor{475}, "bank"},
             "payout");
    tail_after_payout_request = e.log().tail(PartitionId{0})->last_offset.value();
    run_flow(e, CompletePayout{PayoutId{"po1"}}, "paid-out");
    // The engine's own state, rendered as state-at renders it.
    const PartitionState& st = e.processor(PartitionId{0}).state_for_test();
    Json::Array w, p;
    for (const char* owner : {"cust-1", "seller-1"}) {
      const Wallet* x = st.find_wallet(OwnerId{owner}, usd);
      REQUIRE(x);
      w.push_back(wallet_json(*x));
    }
    const Payment* pay = st.find_payment(PaymentId{"p1"});
    REQUIRE(pay);
    p.push_back(payment_json(*pay));
    engine_wallets = Json(std::move(w));
    engine_payments = Json(std::move(p));
  }

  auto state_at = [&](std::optional<int64_t> offset, std::optional<std::string> stream,
                      std::optional<std::string> kind) {
    auto src = DataDirSource::open(data);
    REQUIRE(src.ok());
    Cut cut;
    cut.offset = offset.value_or(1'000'000);
    auto folded = fold_until(*src.value(), cut);
    REQUIRE_MESSAGE(folded.ok(), (folded.ok() ? "" : folded.error().message));
    return state_at_json(folded.value(), cut, stream, kind);
  };
  auto state_of = [&](const std::string& stream, std::optional<int64_t> offset = {}) {
    auto j = state_at(offset, stream, {});
    REQUIRE_MESSAGE(j.ok(), (j.ok() ? "" : j.error().message));
    return field(j.value(), "state");
  };

  // At the end of the log.
  Json buyer = state_of("wallet-cust-1.USD");
  CHECK(field(buyer, "balance_minor").as_int() == 10'000 - 500);
  CHECK(field(buyer, "owner").as_string() == "cust-1");
  Json seller = state_of("wallet-seller-1.USD");
  CHECK(field(seller, "balance_minor").as_int() == 0);  // 475 after the fee, all paid out
  CHECK(field(seller, "held_minor").as_int() == 0);
  Json payment = state_of("payment-p1");
  CHECK(field(payment, "status").as_string() == "captured");
  CHECK(field(payment, "amount_minor").as_int() == 500);
  CHECK(field(payment, "method").as_string() == "wallet");
  Json escrow = state_of("escrow-o1");
  CHECK(field(escrow, "status").as_string() == "released");
  CHECK(field(escrow, "amount_minor").as_int() == 500);
  CHECK(field(escrow, "held_minor").as_int() == 0);
  CHECK(field(escrow, "source_account").as_string() == "wallet:cust-1");
  CHECK(field(escrow, "seller").as_string() == "seller-1");
  Json payout = state_of("payout-po1");
  CHECK(field(payout, "status").as_string() == "completed");
  CHECK(field(payout, "amount_minor").as_int() == 475);

  // Before the payout completed: requested, and the seller's proceeds held for it.
  CHECK(field(state_of("payout-po1", tail_after_payout_request), "status").as_string() ==
        "requested");
  Json held = state_of("wallet-seller-1.USD", tail_after_payout_request);
  CHECK(field(held, "balance_minor").as_int() == 475);
  CHECK(field(held, "held_minor").as_int() == 475);
  CHECK(field(held, "available_minor").as_int() == 0);
  // Before the deposit: no wallet yet, and no payout stream.
  CHECK(state_of("wallet-cust-1.USD", 0).is_null());
  CHECK(state_of("payout-po1", 0).is_null());

  // Every stream of a kind, sorted by stream name, as the engine held them.
  auto wallets = state_at({}, {}, std::string("wallet"));
  REQUIRE(wallets.ok());
  CHECK(to_canonical(field(wallets.value(), "states")) == to_canonical(engine_wallets));
  auto payments = state_at({}, {}, std::string("payment"));
  REQUIRE(payments.ok());
  CHECK(to_canonical(field(payments.value(), "states")) == to_canonical(engine_payments));
  for (const char* kind : {"escrow", "payout", "product", "order"}) {
    auto all = state_at({}, {}, std::string(kind));
    REQUIRE(all.ok());
    CHECK(field(all.value(), "states").as_array().size() == 1u);
  }

  // The trial balance at a cut, as GET /v1/ledger/balances shows it now: non-zero accounts
  // (the seller's emptied wallet and the released escrow are left out), each currency at 0.
  auto balance_at = [&](std::optional<int64_t> offset) {
    auto j = state_at(offset, {}, std::string("account"));
    REQUIRE_MESSAGE(j.ok(), (j.ok() ? "" : j.error().message));
    CHECK(field(j.value(), "kind").as_string() == "account");
    return j.value();
  };
  auto accounts_of = [&](const Json& j) {
    std::map<std::string, int64_t> out;
    const Json accounts = field(j, "accounts");
    for (const Json& a : accounts.as_array()) {
      CHECK(field(a, "currency").as_string() == "USD");
      out[field(a, "account").as_string()] = field(a, "balance_minor").as_int();
    }
    return out;
  };
  Json end = balance_at({});
  CHECK(to_canonical(field(end, "accounts")) ==  // by currency, then account, byte order
        R"([{"account":"external:bank","balance_minor":-9525,"currency":"USD"},)"
        R"({"account":"platform:fees","balance_minor":25,"currency":"USD"},)"
        R"({"account":"wallet:cust-1","balance_minor":9500,"currency":"USD"}])");
  CHECK(field(end, "balanced").as_bool());
  CHECK(to_canonical(field(end, "totals")) == R"([{"currency":"USD","total_minor":0}])");
  Json before_payout = balance_at(tail_after_payout_request);
  CHECK(accounts_of(before_payout) == std::map<std::string, int64_t>{{"external:bank", -10'000},
                                                                     {"platform:fees", 25},
                                                                     {"wallet:cust-1", 9'500},
                                                                     {"wallet:seller-1", 475}});
  CHECK(field(before_payout, "balanced").as_bool());
  // Paid, not yet confirmed: the escrow holds the price.
  CHECK(accounts_of(balance_at(tail_after_pay)) ==
        std::map<std::string, int64_t>{
            {"escrow:o1", 500}, {"external:bank", -10'000}, {"wallet:cust-1", 9'500}});
  CHECK(field(balance_at(0), "accounts").as_array().empty());  // no money yet

  // Names state-at does not fold are refused, naming what it does.
  auto bad_stream = state_at({}, std::string("ledger-x"), {});
  REQUIRE_FALSE(bad_stream.ok());
  CHECK(bad_stream.error().message.find("wallet-") != std::string::npos);
  auto bad_kind = state_at({}, {}, std::string("ledger"));
  REQUIRE_FALSE(bad_kind.ok());
  CHECK(bad_kind.error().message.find("product|order|wallet|payment|escrow|payout|account") !=
        std::string::npos);
}

TEST_CASE("stats count every event once") {
  Shared& s = shared();
  auto src = FileSource::open(s.export_path);
  REQUIRE(src.ok());
  auto st = collect_stats(*src.value());
  REQUIRE(st.ok());
  CHECK(st->events == s.history.events);
  int64_t by_type = 0, by_day = 0;
  for (const auto& [_, n] : st->by_type) by_type += n;
  for (const auto& [_, n] : st->by_day) by_day += n;
  CHECK(by_type == st->events);
  CHECK(by_day == st->events);
  CHECK(st->by_type.count("OrderExpired") == 1);
  CHECK(st->by_type.count("OrderCancelled") == 1);
  REQUIRE(st->by_partition.size() == 2);
  CHECK(st->by_partition.at(0).first_offset == 0);
  CHECK(st->by_day.begin()->first == "2023-11-14");  // 1'700'000'000'000 ms
  CHECK(utc_day(0) == "1970-01-01");
  CHECK(utc_day(-1) == "1969-12-31");
  CHECK(utc_day(951'782'400'000) == "2000-02-29");

  // The data directory counts the same as its export.
  auto dd = DataDirSource::open(s.data);
  REQUIRE(dd.ok());
  auto from_dir = collect_stats(*dd.value());
  REQUIRE(from_dir.ok());
  CHECK(to_canonical(to_json(from_dir.value())) == to_canonical(to_json(st.value())));
  dd.value().reset();

  // Lines read in place count as lines decoded in full. The reference decodes every line of a
  // part of the export and counts on its own; some lines are re-spelled, their envelope or
  // only their payload (stats itself must decode those).
  auto t = read_lines(s.export_path);
  std::vector<std::string> part_lines(t.begin(), t.begin() + 3000);
  for (size_t i = 3; i < part_lines.size(); i += 7) part_lines[i] = respelled(part_lines[i]);
  for (size_t i = 5; i < part_lines.size(); i += 11) {
    if (i % 7 == 3) continue;  // re-spelled above
    const auto at = part_lines[i].find("\"payload\":{");
    REQUIRE(at != std::string::npos);
    part_lines[i].insert(at + 11, " ");
    REQUIRE(decode_envelope(part_lines[i]).ok());
  }
  const std::string path = s.dir.path() + "/stats-part.jsonl";
  write_lines(path, part_lines);
  std::map<std::string, int64_t, std::less<>> types, days;
  std::map<uint32_t, LogStats::Partition> parts;
  for (const auto& line : part_lines) {
    auto e = decode_envelope(line);
    REQUIRE(e.ok());
    ++types[e->type];
    ++days[utc_day(e->occurred_at.value())];
    auto& p = parts[e->partition.value()];
    if (p.events++ == 0) p.first_offset = e->offset.value();
    p.last_offset = e->offset.value();
  }
  auto part = FileSource::open(path);
  REQUIRE(part.ok());
  auto got = collect_stats(*part.value());
  REQUIRE(got.ok());
  CHECK(got->events == 3000);
  CHECK(got->by_type == types);
  CHECK(std::map<std::string, int64_t, std::less<>>(got->by_day.begin(), got->by_day.end()) ==
        days);
  REQUIRE(got->by_partition.size() == parts.size());
  for (const auto& [id, p] : parts) {
    CAPTURE(id);
    CHECK(got->by_partition.at(id).events == p.events);
    CHECK(got->by_partition.at(id).first_offset == p.first_offset);
    CHECK(got->by_partition.at(id).last_offset == p.last_offset);
  }

  // A line that is no envelope stops stats, named by its line number (far past the first
  // block the file is read in).
  const size_t bad_at = t.size() / 2 + 3;
  t[bad_at] = "{\"not\":\"an envelope\"}";
  write_lines(path, t);
  auto bad = FileSource::open(path);
  REQUIRE(bad.ok());
  auto failed = collect_stats(*bad.value());
  REQUIRE_FALSE(failed.ok());
  CHECK_MESSAGE(failed.error().message.starts_with(
                    fmt::format("{} line {}: not a valid event envelope", path, bad_at + 1)),
                failed.error().message);
}

TEST_CASE("a line longer than the limit stops every reader of a file, named by its number") {
  Shared& s = shared();
  auto t = read_lines(s.export_path);
  // Far past the first block a file is read in, so the blocks before it are counted.
  const size_t at = 20'000;
  REQUIRE(t.size() > at);
  t.resize(at);
  // Past the limit by more than a read's chunk: a reader may take in a chunk before it looks.
  t.push_back(std::string(FileSource::kMaxLineBytes + (8 << 20), 'x'));
  const std::string path = s.dir.path() + "/long-line.jsonl";
  write_lines(path, t);
  const std::string says =
      fmt::format("{} line {}: longer than {} bytes", path, at + 1, FileSource::kMaxLineBytes);
  auto open = [&] {
    auto src = FileSource::open(path);
    REQUIRE(src.ok());
    return std::move(src.value());
  };
  VerifyReport r = verify(*open());
  REQUIRE(r.source_error.has_value());
  CHECK_MESSAGE(r.source_error->starts_with(says), *r.source_error);
  CHECK(r.events() == static_cast<int64_t>(at));
  auto st = collect_stats(*open());
  REQUIRE_FALSE(st.ok());
  CHECK_MESSAGE(st.error().message.starts_with(says), st.error().message);
  ExportOptions o;
  o.out = s.dir.path() + "/long-line-export.jsonl";
  auto ex = export_events(*open(), o);
  REQUIRE_FALSE(ex.ok());
  CHECK_MESSAGE(ex.error().message.starts_with(says), ex.error().message);
  // The one-event-at-a-time reader says the same.
  auto one = open();
  Envelope e;
  Result<bool> next = true;
  while (next.ok() && next.value()) next = one->next(e);
  REQUIRE_FALSE(next.ok());
  CHECK(next.error().message == says);
}

TEST_CASE("stats count each event on its UTC day, across midnights and before 1970") {
  LogStats st;
  std::map<std::string, int64_t> days;
  int64_t offset = 0;
  for (int64_t ms : {int64_t{-86'400'001}, int64_t{-86'400'000}, int64_t{-1}, int64_t{0},
                     int64_t{86'399'999}, int64_t{86'400'000}, int64_t{-1}, int64_t{0},
                     int64_t{1'700'000'000'000}, int64_t{86'400'000}, int64_t{86'400'000}}) {
    st.add(0, offset++, ms, "OrderPlaced");
    ++days[utc_day(ms)];
  }
  CHECK(st.by_day == days);
  CHECK(st.by_day.at("1969-12-30") == 1);
  CHECK(st.by_day.at("1969-12-31") == 3);
  CHECK(st.by_day.at("1970-01-01") == 3);
  CHECK(st.by_day.at("1970-01-02") == 3);
  CHECK(st.by_type.at("OrderPlaced") == 11);
}

namespace {

// Changes a stopped engine's data directory behind its back, synced.
void tamper(const std::string& data,
            const std::function<rocksdb::Status(RocksDb&, const rocksdb::WriteOptions&)>& change) {
  auto db = RocksDb::open(data + "/rocksdb");
  REQUIRE(db.ok());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  REQUIRE(change(*db.value(), wo).ok());
}

}  // namespace

TEST_CASE("a data directory whose log lost its last event fails against its tail record") {
  TempDir dir("replay-tail");
  const std::string data = dir.path() + "/data";
  History h = generate_history(data, 1, 60, 3);
  REQUIRE(h.events > 100);
  tamper(data, [&](RocksDb& db, const rocksdb::WriteOptions& wo) {
    return db.db().Delete(wo, db.cf(Cf::log), log_key(PartitionId{0}, Offset{h.events - 1}));
  });
  auto src = DataDirSource::open(data);
  REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
  VerifyReport r = verify(*src.value());
  CHECK_FALSE(r.ok());
  CHECK_MESSAGE(
      r.first_failure().starts_with(fmt::format("partition 0 offset {}: the log ends at offset {}",
                                                h.events - 1, h.events - 2)),
      r.first_failure());
}

TEST_CASE("verify reads a data directory without changing a byte of it") {
  TempDir dir("replay-read-only");
  const std::string data = dir.path() + "/data";
  generate_history(data, 2, 20, 3);
  // Every file's name and bytes.
  auto snapshot = [&] {
    std::map<std::string, std::string> files;
    for (const auto& f : std::filesystem::recursive_directory_iterator(data)) {
      if (!f.is_regular_file()) continue;
      std::ifstream in(f.path(), std::ios::binary);
      files[f.path().string()] = std::string(std::istreambuf_iterator<char>(in), {});
    }
    return files;
  };
  const auto before = snapshot();
  REQUIRE(!before.empty());
  {
    auto src = DataDirSource::open(data);
    REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
    VerifyReport r = verify(*src.value());
    CHECK_MESSAGE(r.ok(), r.first_failure());
    // Read-only takes no lock: a second reader at the same time is fine.
    auto second = DataDirSource::open(data);
    CHECK_MESSAGE(second.ok(), (second.ok() ? "" : second.error().message));
  }
  const auto after = snapshot();
  CHECK(after.size() == before.size());
  for (const auto& [name, bytes] : before) {
    CAPTURE(name);
    auto it = after.find(name);
    REQUIRE(it != after.end());
    CHECK(it->second == bytes);
  }
}

TEST_CASE("a log key past any real offset fails verify instead of reading the log again") {
  // A key for offset -1 (all bits set) or INT64_MAX sorts after every real key; stepping
  // past it by adding one read the partition from the start again, for ever.
  for (const int64_t bad : {int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
    CAPTURE(bad);
    TempDir dir("replay-bad-key");
    const std::string data = dir.path() + "/data";
    History h = generate_history(data, 1, 10, 3);
    tamper(data, [&](RocksDb& db, const rocksdb::WriteOptions& wo) {
      std::string last;
      auto s = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::log),
                           log_key(PartitionId{0}, Offset{h.events - 1}), &last);
      if (!s.ok()) return s;
      return db.db().Put(wo, db.cf(Cf::log), log_key(PartitionId{0}, Offset{bad}), last);
    });
    {
      auto src = DataDirSource::open(data);
      REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
      VerifyReport r = verify(*src.value());
      CHECK_FALSE(r.ok());
      CHECK_MESSAGE(r.first_failure().find("a log key that names no offset") != std::string::npos,
                    r.first_failure());
    }
    // The export path (whole envelopes) stops on it too.
    auto again = DataDirSource::open(data);
    REQUIRE(again.ok());
    Envelope e;
    Result<bool> more = again.value()->next(e);
    for (int64_t guard = 0; more.ok() && more.value() && guard <= h.events; ++guard)
      more = again.value()->next(e);
    REQUIRE_FALSE(more.ok());
    CHECK(more.error().message.find("names no offset") != std::string::npos);
  }
}

TEST_CASE("a data directory with events after its recorded tail fails verify") {
  TempDir dir("replay-past-tail");
  const std::string data = dir.path() + "/data";
  History h = generate_history(data, 1, 30, 5);
  auto read_tail = [&] {
    auto db = RocksDb::open(data + "/rocksdb");
    REQUIRE(db.ok());
    std::string v;
    REQUIRE(db.value()
                ->db()
                .Get(rocksdb::ReadOptions(), db.value()->cf(Cf::meta), tail_key(PartitionId{0}), &v)
                .ok());
    return v;
  };
  const std::string recorded = read_tail();
  {
    // One more event through the engine, then the tail record put back as it was: the log
    // now holds an event its tail record does not account for (the engine refuses to start).
    ManualClock clock(1'800'000'000'000);
    EngineConfig cfg;
    cfg.data_dir = data;
    cfg.partitions = 1;
    auto opened = Engine::open_embedded(cfg, clock);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    submit(*opened.value(),
           DefineProduct{Sku{"extra"}, SellerId{"s"}, "Extra", AmountMinor{1}, Currency{"USD"},
                         Quantity{1}},
           "extra");
    pump(*opened.value());
  }
  REQUIRE(read_tail() != recorded);
  tamper(data, [&](RocksDb& db, const rocksdb::WriteOptions& wo) {
    return db.db().Put(wo, db.cf(Cf::meta), tail_key(PartitionId{0}), recorded);
  });
  auto src = DataDirSource::open(data);
  REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
  VerifyReport r = verify(*src.value());
  CHECK_FALSE(r.ok());
  CHECK_MESSAGE(
      r.first_failure().find("events were added after the recorded end") != std::string::npos,
      r.first_failure());
  CHECK(r.events() == h.events + 1);
}

TEST_CASE("verify accepts an order expired because its payment timed out, as the engine wrote it") {
  TempDir dir("replay-payment-timeout");
  const std::string data = dir.path() + "/data";
  {
    ManualClock clock(1'700'000'000'000);
    EngineConfig cfg;
    cfg.data_dir = data;
    cfg.processor.reservation_ttl = DurationMs{60'000};
    cfg.processor.payment_timeout = DurationMs{60'000};
    auto opened = Engine::open_embedded(cfg, clock);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    Engine& e = *opened.value();
    submit(e,
           DefineProduct{Sku{"k"}, SellerId{"s"}, "Item", AmountMinor{100}, Currency{"USD"},
                         Quantity{10}},
           "def");
    pump(e);  // the router learns of a product when it commits
    submit(e, PlaceOrder{OrderId{"o1"}, CustomerId{"c"}, {{Sku{"k"}, Quantity{2}}}}, "place");
    pump(e);
    submit(e, PayOrder{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card, std::nullopt}, "pay");
    pump(e);
    clock.advance_ms(120'000);  // the reservation's TTL, then the payment timeout
    pump(e);
    const Order* o = e.processor(PartitionId{0}).state_for_test().find_order(OrderId{"o1"});
    REQUIRE(o);
    REQUIRE(o->status == OrderStatus::expired);
  }
  auto src = DataDirSource::open(data);
  REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
  VerifyReport r = verify(*src.value());
  CHECK_MESSAGE(r.ok(), r.first_failure());
}

TEST_CASE("the auditor's verify ends at its next read once the server stops") {
  TempDir dir("replay-verify-stop");
  const std::string data = dir.path() + "/data";
  History h = generate_history(data, 2, 20, 3);
  auto src = DataDirSource::open(data);
  REQUIRE_MESSAGE(src.ok(), (src.ok() ? "" : src.error().message));
  REQUIRE(src.value()->log());
  std::atomic<bool> stop{false};
  // Running: the whole log, as without a stop flag.
  auto running = replay::audit_verify_json(*src.value()->log(), &stop);
  CHECK_FALSE(running.cut_short);
  auto whole = parse_json(running.json);
  REQUIRE(whole.ok());
  CHECK(whole->find("ok")->as_bool());
  CHECK(whole->find("events")->as_int() == h.events);
  CHECK(replay::audit_verify_json(*src.value()->log()).json == to_canonical(whole.value()));
  // Stopping: nothing more is read, and the report says why instead of passing.
  stop = true;
  auto cut = replay::audit_verify_json(*src.value()->log(), &stop);
  CHECK(cut.cut_short);
  auto stopped = parse_json(cut.json);
  REQUIRE(stopped.ok());
  CHECK_FALSE(stopped->find("ok")->as_bool());
  CHECK(stopped->find("events")->as_int() == 0);
  REQUIRE(stopped->find("error"));
  CHECK(stopped->find("error")->as_string() == "the server is stopping");
}

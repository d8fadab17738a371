// The embedded storage: RocksDbLog (offsets, tails, reads, reopen) and StateStore records
// written through an append's DeltaBuilder.
#include <doctest/doctest.h>

#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/log/event_codec.hpp"
#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/state/flow_store.hpp"
#include "engine/state/rocks_db.hpp"
#include "engine/state/state_store.hpp"
#include "tests/unit/support.hpp"

#include <fcntl.h>
#include <rocksdb/write_batch.h>

using namespace ordo;

namespace {

const PartitionId kP0{0};
const PartitionId kP1{1};

// A RocksDB and a two-partition log over it in a temporary directory, reopenable.
struct Storage {
  test::TempDir dir{"storage"};
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<RocksDbLog> log;

  Storage() { open(); }
  ~Storage() { close(); }

  std::string db_path() const { return dir.sub("rocksdb"); }

  void open(uint32_t partitions = 2) {
    auto d = RocksDb::open(db_path());
    REQUIRE_MESSAGE(d.ok(), test::error_of(d));
    db = std::move(d.value());
    auto l = RocksDbLog::open(*db, partitions);
    REQUIRE_MESSAGE(l.ok(), test::error_of(l));
    log = std::move(l.value());
  }
  void close() {
    log.reset();
    db.reset();
  }

  LogTail tail(PartitionId p) {
    auto t = log->tail(p);
    REQUIRE(t.ok());
    return t.value();
  }

  // Seals `events` onto the partition's chain and appends them; returns them with offsets.
  std::vector<Envelope> append(PartitionId p, std::vector<Envelope> events,
                               const EventLog::DeltaBuilder& build = {}) {
    std::string prev = tail(p).last_hash;
    for (auto& e : events) prev = seal(e, prev);
    auto s = log->append(p, events, build);
    REQUIRE_MESSAGE(s.ok(), s.message());
    return events;
  }

  std::vector<Envelope> read(PartitionId p, int64_t from, size_t max = 1000) {
    auto r = log->read(p, Offset{from}, max);
    REQUIRE_MESSAGE(r.ok(), test::error_of(r));
    return r.value();
  }

  std::vector<Envelope> read_stream(const std::string& stream, int64_t from, size_t max = 1000) {
    auto r = log->read_stream(stream, from, max);
    REQUIRE_MESSAGE(r.ok(), test::error_of(r));
    return r.value();
  }
};

// An unsealed envelope of a stock adjustment on `product-{sku}` at `version`.
Envelope event(PartitionId p, const std::string& sku, int64_t version, int64_t on_hand = 10) {
  Event ev = StockAdjusted{Sku{sku}, Quantity{1}, "restock", Quantity{on_hand}};
  Envelope e;
  e.partition = p;
  e.stream = event_stream(ev);
  e.stream_version = version;
  e.type = std::string(event_type(ev));
  e.schema_version = current_schema_version(e.type);
  e.occurred_at = TimestampMs{1'700'000'000'000 + version};
  e.command_id = "cmd-" + sku + "-" + std::to_string(version);
  e.correlation_id = e.command_id;
  e.actor = Actor{"tester", "admin"};
  e.payload = encode_event_payload(ev);
  return e;
}

std::vector<int64_t> offsets_of(const std::vector<Envelope>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.offset.value());
  return out;
}

std::vector<int64_t> versions_of(const std::vector<Envelope>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.stream_version);
  return out;
}

Product sample_product() {
  return Product{Sku{"sku-1"},    SellerId{"seller-1"}, "Widget",    AmountMinor{250},
                 Currency{"USD"}, Quantity{10},         Quantity{3}, 2};
}

Order sample_order() {
  return Order{OrderId{"o1"},
               CustomerId{"cust-1"},
               SellerId{"seller-1"},
               Currency{"USD"},
               {PricedLine{Sku{"sku-1"}, Quantity{3}, AmountMinor{250}},
                PricedLine{Sku{"sku-2"}, Quantity{1}, AmountMinor{1999}}},
               AmountMinor{2749},
               TimestampMs{1'700'000'000'000},
               TimestampMs{1'700'000'900'000},
               OrderStatus::cancelled,
               2,
               PaymentId{},
               PaymentMethod::wallet,
               TimestampMs{0}};
}

void check_same_product(const Product& a, const Product& b) {
  CHECK(a.sku == b.sku);
  CHECK(a.seller_id == b.seller_id);
  CHECK(a.name == b.name);
  CHECK(a.price_minor == b.price_minor);
  CHECK(a.currency == b.currency);
  CHECK(a.on_hand == b.on_hand);
  CHECK(a.reserved == b.reserved);
  CHECK(a.version == b.version);
}

void check_same_order(const Order& a, const Order& b) {
  CHECK(a.order_id == b.order_id);
  CHECK(a.customer_id == b.customer_id);
  CHECK(a.seller_id == b.seller_id);
  CHECK(a.currency == b.currency);
  CHECK(a.total_minor == b.total_minor);
  CHECK(a.placed_at == b.placed_at);
  CHECK(a.expires_at == b.expires_at);
  CHECK(a.status == b.status);
  CHECK(a.version == b.version);
  REQUIRE(a.lines.size() == b.lines.size());
  for (size_t i = 0; i < a.lines.size(); ++i) {
    CHECK(a.lines[i].sku == b.lines[i].sku);
    CHECK(a.lines[i].qty == b.lines[i].qty);
    CHECK(a.lines[i].unit_price_minor == b.lines[i].unit_price_minor);
  }
}

struct Loaded {
  PartitionState state;
  Offset applied{-99};
};

Loaded load(RocksDb& db, PartitionId p) {
  StateStore store(db);
  Loaded out;
  auto s = store.load_partition(p, out.state, out.applied);
  REQUIRE_MESSAGE(s.ok(), s.message());
  return out;
}

}  // namespace

TEST_CASE("a corrupt stored balance or applied position is an error on load, not a throw") {
  Storage s;
  StateDelta d;
  StateStore::put_account(d, kP0, "platform/EUR", 42);
  StateStore::put_applied(d, kP0, Offset{7});
  rocksdb::WriteBatch batch;
  s.db->add_to_batch(d, batch);
  REQUIRE(s.db->write_sync(batch).ok());
  CHECK(load(*s.db, kP0).state.other_accounts.at("platform/EUR") == 42);
  CHECK(load(*s.db, kP0).applied == Offset{7});

  // Overwrites, in place, the one value of `cf` that holds `good`.
  auto corrupt = [&](Cf cf, const std::string& good, const std::string& bad) {
    std::unique_ptr<rocksdb::Iterator> it(
        s.db->db().NewIterator(rocksdb::ReadOptions(), s.db->cf(cf)));
    std::string key;
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (it->value().ToString() == good) key = it->key().ToString();
    REQUIRE_FALSE(key.empty());
    REQUIRE(s.db->db().Put(rocksdb::WriteOptions(), s.db->cf(cf), key, bad).ok());
  };
  StateStore store(*s.db);
  Loaded out;
  corrupt(Cf::state, "42", "42x");
  auto st = store.load_partition(kP0, out.state, out.applied);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("corrupt balance") != std::string::npos);

  corrupt(Cf::state, "42x", "42");
  corrupt(Cf::meta, "7", "seven");
  Loaded again;
  st = store.load_partition(kP0, again.state, again.applied);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("corrupt applied position") != std::string::npos);

  // The flow manager's checkpoint, read on start the same way.
  FlowStore flows(*s.db);
  REQUIRE(flows.set_checkpoints({{kP1, Offset{12345}}}, true).ok());
  REQUIRE(flows.checkpoint(kP1).value() == Offset{12345});
  corrupt(Cf::meta, "12345", "12345 ");
  auto cp = flows.checkpoint(kP1);
  REQUIRE_FALSE(cp);
  CHECK(cp.error().message.find("corrupt flow checkpoint") != std::string::npos);
  // Below -1 ("none yet"), or the largest int64 (it has no next offset): corrupt too.
  corrupt(Cf::meta, "12345 ", "-2");
  CHECK(flows.checkpoint(kP1).error().message.find("corrupt flow checkpoint") != std::string::npos);
  corrupt(Cf::meta, "-2", "9223372036854775807");
  CHECK(flows.checkpoint(kP1).error().message.find("corrupt flow checkpoint") != std::string::npos);

  // A parked step's record without what a retry needs is unreadable, not a step of partition
  // 4294967295 at offset -1; it is listed as such, with the readable steps around it.
  ParkedStep later;
  later.id = "0-9";
  later.partition = kP0;
  later.offset = Offset{9};
  later.transient = true;
  REQUIRE(flows.park(later).ok());
  ParkedStep step;
  step.id = "0-7";
  step.partition = kP0;
  step.offset = Offset{7};
  REQUIRE(flows.park(step).ok());
  REQUIRE(flows.parked(10).ok());
  std::string record;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        s.db->db().NewIterator(rocksdb::ReadOptions(), s.db->cf(Cf::meta)));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (it->value().ToString().find("\"0-7\"") != std::string::npos)
        record = it->value().ToString();
  }
  REQUIRE_FALSE(record.empty());
  std::string no_partition = record;
  const size_t at = no_partition.find("\"partition\":0");
  REQUIRE(at != std::string::npos);
  no_partition.replace(at, std::string("\"partition\":0").size(), "\"partition\":\"0\"");
  corrupt(Cf::meta, record, no_partition);
  auto listed = flows.parked(10);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2u);
  CHECK(listed->at(0).id == "0-7");
  CHECK(listed->at(0).unreadable);
  CHECK_FALSE(listed->at(0).transient);
  CHECK(listed->at(0).error ==
        "the parked step's record cannot be read (corrupt parked step record); dismiss it");
  CHECK(listed->at(1).id == "0-9");
  CHECK_FALSE(listed->at(1).unreadable);
  // The manager's own retries look past it.
  auto transient = flows.transient_parked(10);
  REQUIRE(transient.ok());
  REQUIRE(transient->size() == 1u);
  CHECK(transient->front().id == "0-9");
  auto found = flows.find_parked("0-7");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->unreadable);
  CHECK_FALSE(flows.find_parked("0-8")->has_value());
  REQUIRE(flows.unpark("0-7").ok());
  CHECK_FALSE(flows.find_parked("0-7")->has_value());
  CHECK(flows.parked(10)->size() == 1u);
  // A record that names another id than its key's is unreadable too: a retry would act on
  // the other key.
  ParkedStep elsewhere;
  elsewhere.id = "0-5";
  elsewhere.partition = kP0;
  elsewhere.offset = Offset{5};
  REQUIRE(flows.park(elsewhere).ok());
  std::string moved;
  REQUIRE(
      s.db->db().Get(rocksdb::ReadOptions(), s.db->cf(Cf::meta), "flow/parked/0-5", &moved).ok());
  REQUIRE(
      s.db->db().Put(rocksdb::WriteOptions(), s.db->cf(Cf::meta), "flow/parked/0-6", moved).ok());
  auto named_other = flows.find_parked("0-6");
  REQUIRE(named_other->has_value());
  CHECK((*named_other)->unreadable);
  CHECK((*named_other)->id == "0-6");
  CHECK((*named_other)->error.find("it names another id") != std::string::npos);
  CHECK_FALSE((*flows.find_parked("0-5"))->unreadable);
}

TEST_CASE("a stored idempotency record round-trips; a status out of range is corrupt") {
  auto stored = [](int64_t status) {
    return fmt::format(
        R"({{"body":"{{}}","created_at":5,"fingerprint":"f","position":"0-1","status":{}}})",
        status);
  };
  auto r = StateStore::decode_idempotency(stored(201));
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  CHECK(r->body == "{}");
  CHECK(r->position == "0-1");
  CHECK(r->created_at == TimestampMs{5});
  CHECK(StateStore::decode_idempotency(stored(0)).ok());  // no rendered answer
  // 2^32 + 201 would narrow to 201 in an int.
  for (int64_t bad : {int64_t{-1}, int64_t{1000}, (int64_t{1} << 32) + 201}) {
    CAPTURE(bad);
    auto b = StateStore::decode_idempotency(stored(bad));
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().message == "corrupt idempotency record");
  }
}

TEST_CASE("state without its applied position is an error on load (an incomplete directory)") {
  Storage s;
  StateDelta d;
  StateStore::put_account(d, kP0, "platform/EUR", 42);  // as if the applied key were lost
  rocksdb::WriteBatch batch;
  s.db->add_to_batch(d, batch);
  REQUIRE(s.db->write_sync(batch).ok());
  StateStore store(*s.db);
  Loaded out;
  auto st = store.load_partition(kP0, out.state, out.applied);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message() ==
        "partition 0 has state but no applied position: the data directory is incomplete");
  // Another partition, with neither, is a fresh one.
  Loaded fresh;
  CHECK(store.load_partition(kP1, fresh.state, fresh.applied).ok());
  CHECK(fresh.applied == Offset{-1});
}

TEST_CASE("the manager's own retries find a transient parked step behind many refused ones") {
  Storage s;
  FlowStore flows(*s.db);
  auto step = [](const std::string& id, bool transient) {
    ParkedStep p;
    p.id = id;
    p.partition = PartitionId{0};
    p.offset = Offset{1};
    p.event_type = "PaymentRequested";
    p.stream = "order-o1";
    p.command = "InitiatePayment";
    p.error = transient ? "overloaded" : "insufficient_funds";
    p.transient = transient;
    return p;
  };
  // 70 refused steps whose keys sort before the one transient step ("0-…" < "1-…").
  for (int i = 0; i < 70; ++i) REQUIRE(flows.park(step(fmt::format("0-{}", 100 + i), false)).ok());
  REQUIRE(flows.park(step("1-5", true)).ok());

  auto first = flows.parked(64);
  REQUIRE(first.ok());
  REQUIRE(first->size() == 64u);
  for (const auto& p : first.value()) CHECK_FALSE(p.transient);  // what the admin list shows

  auto transient = flows.transient_parked(64);
  REQUIRE(transient.ok());
  REQUIRE(transient->size() == 1u);
  CHECK(transient->front().id == "1-5");
  CHECK(transient->front().transient);
  CHECK(flows.transient_parked(0)->empty());
  CHECK(flows.parked(1000)->size() == 71u);
}

namespace {
// How many of a file's pages are in the page cache (mincore over a read-only mapping).
size_t resident_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const auto size = static_cast<size_t>(::lseek(fd, 0, SEEK_END));
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t resident = 0;
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(m != MAP_FAILED);
    std::vector<unsigned char> in_core((size + page - 1) / page);
    REQUIRE(::mincore(m, size, in_core.data()) == 0);
    for (unsigned char c : in_core) resident += c & 1;
    ::munmap(m, size);
  }
  ::close(fd);
  return resident;
}
}  // namespace

TEST_CASE("a synced write-ahead log's pages leave the page cache; the data stays readable") {
  test::TempDir dir{"walpages"};
  const std::string path = dir.sub("rocksdb");
  const std::string value(4096, 'v');
  {
    auto db = RocksDb::open(path);
    REQUIRE_MESSAGE(db.ok(), test::error_of(db));
    for (int b = 0; b < 4; ++b) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < 64; ++i)  // 256 KiB per synced batch
        batch.Put(db.value()->cf(Cf::log), log_key(kP0, Offset{b * 64 + i}), value);
      REQUIRE(db.value()->write_sync(batch).ok());
    }
    std::vector<std::string> wals;
    for (const auto& f : std::filesystem::directory_iterator(path))
      if (f.path().extension() == ".log") wals.push_back(f.path().string());
    REQUIRE(!wals.empty());
    size_t wal_bytes = 0, resident = 0;
    for (const auto& w : wals) {
      wal_bytes += std::filesystem::file_size(w);
      resident += resident_pages(w);
    }
    REQUIRE(wal_bytes >= 4 * 64 * 4096);
    // Every whole synced page dropped: at most the last, partly written page of each file.
    // (On tmpfs the pages are the file itself, and the advice does nothing.)
    struct statfs fs {};
    REQUIRE(::statfs(path.c_str(), &fs) == 0);
    if (fs.f_type != TMPFS_MAGIC)
      CHECK(resident <= wals.size());
    else
      MESSAGE("the temporary directory is on tmpfs: page residency not checked");
  }
  // Nothing lost: reopened, the log replays from the WAL (never flushed to a table here).
  auto db = RocksDb::open(path);
  REQUIRE_MESSAGE(db.ok(), test::error_of(db));
  for (int o : {0, 100, 255}) {
    std::string got;
    REQUIRE(db.value()
                ->db()
                .Get(rocksdb::ReadOptions(), db.value()->cf(Cf::log), log_key(kP0, Offset{o}), &got)
                .ok());
    CHECK(got == value);
  }
}

TEST_CASE("a fresh log has empty partitions") {
  Storage s;
  CHECK(s.log->partition_count() == 2u);
  for (PartitionId p : {kP0, kP1}) {
    LogTail t = s.tail(p);
    CHECK(t.last_offset.value() == -1);
    CHECK(t.last_hash == kGenesisHash);
    CHECK(s.read(p, 0).empty());
  }
  CHECK_FALSE(s.log->tail(PartitionId{2}).ok());
  CHECK(s.read_stream("product-a", 0).empty());
}

TEST_CASE("offsets are assigned per partition from 0 and tails follow") {
  Storage s;
  auto p0 = s.append(kP0, {event(kP0, "a", 1), event(kP0, "a", 2), event(kP0, "b", 1)});
  auto p1 = s.append(kP1, {event(kP1, "c", 1), event(kP1, "c", 2)});
  CHECK(offsets_of(p0) == std::vector<int64_t>{0, 1, 2});
  CHECK(offsets_of(p1) == std::vector<int64_t>{0, 1});

  CHECK(s.tail(kP0).last_offset.value() == 2);
  CHECK(s.tail(kP0).last_hash == p0.back().hash);
  CHECK(s.tail(kP1).last_offset.value() == 1);
  CHECK(s.tail(kP1).last_hash == p1.back().hash);

  auto more = s.append(kP0, {event(kP0, "a", 3), event(kP0, "b", 2)});
  CHECK(offsets_of(more) == std::vector<int64_t>{3, 4});
  CHECK(more.front().prev_hash == p0.back().hash);
  CHECK(s.tail(kP0).last_offset.value() == 4);
  CHECK(s.tail(kP0).last_hash == more.back().hash);
  CHECK(s.tail(kP1).last_offset.value() == 1);  // untouched

  // An empty append changes nothing.
  s.append(kP1, {});
  CHECK(s.tail(kP1).last_offset.value() == 1);
  CHECK(s.tail(kP1).last_hash == p1.back().hash);
}

TEST_CASE("read returns a partition's events from an offset, in order, up to max") {
  Storage s;
  auto written = s.append(
      kP0, {event(kP0, "a", 1), event(kP0, "a", 2), event(kP0, "b", 1), event(kP0, "a", 3)});
  s.append(kP1, {event(kP1, "z", 1)});

  auto all = s.read(kP0, 0);
  REQUIRE(all.size() == written.size());
  for (size_t i = 0; i < all.size(); ++i) {
    CAPTURE(i);
    CHECK(all[i] == written[i]);
    CHECK(compute_hash(all[i]) == all[i].hash);
    CHECK(all[i].prev_hash == (i == 0 ? kGenesisHash : all[i - 1].hash));
  }
  CHECK(offsets_of(s.read(kP0, 1)) == std::vector<int64_t>{1, 2, 3});
  CHECK(offsets_of(s.read(kP0, 3)) == std::vector<int64_t>{3});
  CHECK(s.read(kP0, 4).empty());
  CHECK(offsets_of(s.read(kP0, 0, 2)) == std::vector<int64_t>{0, 1});
  CHECK(offsets_of(s.read(kP0, 2, 1)) == std::vector<int64_t>{2});
  CHECK(s.read(kP0, 0, 0).empty());
  CHECK(offsets_of(s.read(kP0, -5, 10)) == std::vector<int64_t>{0, 1, 2, 3});

  auto p1 = s.read(kP1, 0);
  REQUIRE(p1.size() == 1u);
  CHECK(p1[0].partition == kP1);
  CHECK(p1[0].stream == "product-z");
}

TEST_CASE("read_stream returns one stream's events by version") {
  Storage s;
  s.append(kP0, {event(kP0, "a", 1), event(kP0, "ab", 1), event(kP0, "a", 2)});
  s.append(kP0, {event(kP0, "b", 1), event(kP0, "a", 3)});
  s.append(kP1, {event(kP1, "c", 1)});

  auto a = s.read_stream("product-a", 0);
  CHECK(versions_of(a) == std::vector<int64_t>{1, 2, 3});
  CHECK(offsets_of(a) == std::vector<int64_t>{0, 2, 4});
  for (const auto& e : a) CHECK(e.stream == "product-a");  // not product-ab
  CHECK(versions_of(s.read_stream("product-a", 2)) == std::vector<int64_t>{2, 3});
  CHECK(versions_of(s.read_stream("product-a", 4)).empty());
  CHECK(versions_of(s.read_stream("product-a", 1, 2)) == std::vector<int64_t>{1, 2});
  CHECK(versions_of(s.read_stream("product-ab", 0)) == std::vector<int64_t>{1});
  auto c = s.read_stream("product-c", 1);
  REQUIRE(c.size() == 1u);
  CHECK(c[0].partition == kP1);
  CHECK(s.read_stream("product-", 0).empty());
  CHECK(s.read_stream("product-nope", 0).empty());
}

TEST_CASE("the stream index keeps runs of versions, and reads start anywhere in one") {
  Storage s;
  std::vector<Envelope> first;
  for (int v = 1; v <= 5; ++v) {
    first.push_back(event(kP0, "a", v));
    first.push_back(event(kP0, "b", v));
  }
  s.append(kP0, first);
  s.append(kP0, {event(kP0, "a", 6)});
  // More than one run's worth (RocksDbLog::kMaxIndexRun) in one append, with another
  // stream whose name extends this one's in between.
  constexpr int kLast = 2506;
  std::vector<Envelope> hot;
  for (int v = 7; v <= kLast; ++v) {
    hot.push_back(event(kP0, "a", v));
    if (v % 100 == 0) hot.push_back(event(kP0, "ab", v / 100));
  }
  s.append(kP0, hot);
  REQUIRE(s.read_stream("product-a", 0, 5000).size() == size_t(kLast));  // waits for the index

  // Few keys for thousands of events: at least three runs (1,024 positions at most in
  // one), at most one per append plus the splits.
  const std::string prefix = std::string("product-a") + '\0';
  size_t keys = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      s.db->db().NewIterator(rocksdb::ReadOptions(), s.db->cf(Cf::stream_index)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++keys;
  it.reset();  // before the database closes below
  CHECK(keys >= 3);
  CHECK(keys <= 5);

  for (int64_t from :
       {-3, 0, 1, 2, 5, 6, 7, 8, 1000, 1030, 1031, 1032, 2054, 2055, 2056, 2505, 2506, 2507, 9000})
    for (size_t max : {size_t{1}, size_t{7}, size_t{3000}}) {
      const int64_t start = std::max<int64_t>(from, 1);
      std::vector<int64_t> want;
      for (int64_t v = start; v <= kLast && want.size() < max; ++v) want.push_back(v);
      auto got = s.read_stream("product-a", from, max);
      CHECK_MESSAGE(versions_of(got) == want, "from ", from, " max ", max);
      for (const auto& e : got) CHECK(e.stream == "product-a");
    }
  CHECK(versions_of(s.read_stream("product-ab", 0)) ==
        std::vector<int64_t>{1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                             14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25});
  CHECK(versions_of(s.read_stream("product-b", 3)) == std::vector<int64_t>{3, 4, 5});
  // And after a reopen (the index read back from its files, or caught up from the log).
  s.close();
  s.open();
  CHECK(versions_of(s.read_stream("product-a", 1030, 3)) == std::vector<int64_t>{1030, 1031, 1032});
  CHECK(s.read_stream("product-a", 0, 5000).size() == size_t(kLast));
}

TEST_CASE("an older binary's per-event index entries past a lowered mark read whole after open") {
  Storage s;
  std::vector<Envelope> events;
  for (int v = 1; v <= 10; ++v) events.push_back(event(kP0, "a", v));
  auto appended = s.append(kP0, events);
  REQUIRE(s.read_stream("product-a", 0).size() == 10u);
  s.close();
  {
    // What an older binary could leave after a crash: one entry per event for versions
    // 1–5, and its mark lowered to version 3's offset (a repeated batch wrote a lower one).
    auto db = RocksDb::open(s.db_path());
    REQUIRE(db.ok());
    RocksDb& d = *db.value();
    rocksdb::WriteBatch batch;
    const std::string prefix = std::string("product-a") + '\0';
    std::unique_ptr<rocksdb::Iterator> it(
        d.db().NewIterator(rocksdb::ReadOptions(), d.cf(Cf::stream_index)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      batch.Delete(d.cf(Cf::stream_index), it->key());
    it.reset();
    for (int v = 1; v <= 5; ++v) {
      std::string key = prefix, position;
      append_be64(key, uint64_t(v));
      append_be32(position, kP0.value());
      append_be64(position, uint64_t(appended[size_t(v - 1)].offset.value()));
      batch.Put(d.cf(Cf::stream_index), key, position);
    }
    std::string mark("\0indexed/", 9);
    append_be32(mark, kP0.value());
    batch.Put(d.cf(Cf::stream_index), mark, std::to_string(appended[2].offset.value()));
    REQUIRE(d.write_sync(batch).ok());
  }
  s.open();  // catches up from the mark, one entry per event
  CHECK(versions_of(s.read_stream("product-a", 6)) == std::vector<int64_t>{6, 7, 8, 9, 10});
  CHECK(versions_of(s.read_stream("product-a", 5, 2)) == std::vector<int64_t>{5, 6});
  CHECK(s.read_stream("product-a", 0).size() == 10u);
}

TEST_CASE("a data directory of a Kafka log is refused as an embedded log, also read-only") {
  test::TempDir dir{"kafka-dir"};
  {
    auto d = RocksDb::open(dir.sub("rocksdb"));
    REQUIRE(d.ok());
    rocksdb::WriteBatch b;
    b.Put(d.value()->cf(Cf::meta), "partitions", "1");
    b.Put(d.value()->cf(Cf::meta), std::string(kKafkaTopicMetaKey), "shop.events");
    REQUIRE(d.value()->write_sync(b).ok());
    for (bool read_only : {false, true}) {
      CAPTURE(read_only);
      auto l = RocksDbLog::open(*d.value(), 1, read_only);
      REQUIRE_FALSE(l.ok());
      CHECK(l.error().message.find("belongs to a Kafka log (topic shop.events)") !=
            std::string::npos);
    }
    // Nothing was written by the refusal: the directory still reads as the Kafka one.
    std::string stored;
    CHECK(d.value()
              ->db()
              .Get(rocksdb::ReadOptions(), d.value()->cf(Cf::meta), "partitions", &stored)
              .ok());
    CHECK(stored == "1");
  }
}

TEST_CASE("an embedded log that an older binary once opened with --kafka still opens") {
  // Such a binary recorded the topic before it reached the broker, on a directory whose
  // events are in it: the events decide.
  Storage s;
  auto written = s.append(kP0, {event(kP0, "a", 1)});
  rocksdb::WriteBatch b;
  b.Put(s.db->cf(Cf::meta), std::string(kKafkaTopicMetaKey), "ordo.events");
  REQUIRE(s.db->write_sync(b).ok());
  s.close();
  s.open();
  CHECK(s.tail(kP0).last_hash == written.back().hash);
  CHECK(s.read(kP0, 0).size() == 1u);
}

TEST_CASE("reopening the log preserves tails and the chain continues") {
  Storage s;
  auto p0 = s.append(kP0, {event(kP0, "a", 1), event(kP0, "a", 2)});
  auto p1 = s.append(kP1, {event(kP1, "c", 1)});
  s.close();
  s.open();

  CHECK(s.log->partition_count() == 2u);
  CHECK(s.tail(kP0).last_offset.value() == 1);
  CHECK(s.tail(kP0).last_hash == p0.back().hash);
  CHECK(s.tail(kP1).last_offset.value() == 0);
  CHECK(s.tail(kP1).last_hash == p1.back().hash);
  auto back = s.read(kP0, 0);
  REQUIRE(back.size() == 2u);
  CHECK(back[1] == p0[1]);

  auto next = s.append(kP0, {event(kP0, "a", 3)});
  CHECK(next[0].offset.value() == 2);
  CHECK(next[0].prev_hash == p0.back().hash);
  CHECK(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("failed stream-index writes leave no hole: the index catches up from the log") {
  Storage s;
  s.append(kP0, {event(kP0, "a", 1)});
  REQUIRE(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1});
  // Index writes fail from now on; the events are durable all the same.
  s.log->fail_next_index_writes(1'000'000);
  s.append(kP0, {event(kP0, "a", 2)});
  s.append(kP0, {event(kP0, "a", 3), event(kP0, "b", 1)});
  for (int i = 0; i < 20; ++i) s.append(kP1, {event(kP1, "c", i + 1)});  // appends never wait

  // A stream the index does not cover is refused, not answered with a hole.
  auto behind = s.log->read_stream("product-a", 0, 1000);
  REQUIRE_FALSE(behind.ok());
  CHECK(behind.error().message == "the stream index is behind the log");

  // Writes work again: the next retry reads the missing events back from the log. Polled up
  // to a bound for a hung test (the retry pause is at most 2 s).
  s.log->fail_next_index_writes(0);
  std::vector<int64_t> seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    auto r = s.log->read_stream("product-a", 0, 1000);
    if (r.ok()) {
      seen = versions_of(r.value());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(seen == std::vector<int64_t>{1, 2, 3});
  CHECK(versions_of(s.read_stream("product-b", 0)) == std::vector<int64_t>{1});
  CHECK(s.read_stream("product-c", 0).size() == 20u);

  // A reopen finds the index complete, and later events are indexed as usual.
  s.close();
  s.open();
  CHECK(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1, 2, 3});
  s.append(kP0, {event(kP0, "a", 4)});
  CHECK(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1, 2, 3, 4});
}

TEST_CASE("events whose index writes failed until shutdown are indexed from the log on reopen") {
  Storage s;
  s.append(kP0, {event(kP0, "a", 1)});
  REQUIRE(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1});
  s.log->fail_next_index_writes(1'000'000);  // every write fails from now on
  s.append(kP0, {event(kP0, "a", 2)});
  s.append(kP1, {event(kP1, "c", 1)});
  CHECK_FALSE(s.log->read_stream("product-a", 0, 1000).ok());
  s.close();  // the indexer stops with its items unwritten
  s.open();
  CHECK(versions_of(s.read_stream("product-a", 0)) == std::vector<int64_t>{1, 2});
  CHECK(versions_of(s.read_stream("product-c", 0)) == std::vector<int64_t>{1});
}

TEST_CASE("the partition count is fixed when the log is first opened") {
  Storage s;
  s.append(kP0, {event(kP0, "a", 1)});
  s.log.reset();
  CHECK_FALSE(RocksDbLog::open(*s.db, 3).ok());
  CHECK_FALSE(RocksDbLog::open(*s.db, 1).ok());
  CHECK_FALSE(RocksDbLog::open(*s.db, 0).ok());
  CHECK_FALSE(RocksDbLog::open(*s.db, 1025).ok());
  auto again = RocksDbLog::open(*s.db, 2);
  REQUIRE(again.ok());
  CHECK(again.value()->tail(kP0).value().last_offset.value() == 0);
}

TEST_CASE("state written through an append's delta loads back") {
  Storage s;
  const Product product = sample_product();
  const Order order = sample_order();
  bool built = false;
  s.append(kP0, {event(kP0, "sku-1", 1), event(kP0, "sku-1", 2)},
           [&](std::span<const Envelope> evs, StateDelta& d) {
             built = true;
             // Offsets are known by the time the delta is built.
             CHECK(evs.size() == 2u);
             if (evs.size() != 2) return;
             CHECK(evs[0].offset.value() == 0);
             CHECK(evs[1].offset.value() == 1);
             StateStore::put_product(d, kP0, product);
             StateStore::put_order(d, kP0, order);
             StateStore::put_applied(d, kP0, evs.back().offset);
           });
  CHECK(built);

  Loaded l = load(*s.db, kP0);
  CHECK(l.applied.value() == 1);
  REQUIRE(l.state.products.size() == 1u);
  check_same_product(l.state.products.at(Sku{"sku-1"}), product);
  REQUIRE(l.state.orders.size() == 1u);
  check_same_order(l.state.orders.at(OrderId{"o1"}), order);

  // Another partition sees none of it.
  Loaded other = load(*s.db, kP1);
  CHECK(other.state.products.empty());
  CHECK(other.state.orders.empty());
  CHECK(other.applied.value() == -1);

  // A later delta overwrites, and survives a reopen.
  Product restocked = product;
  restocked.on_hand = Quantity{50};
  restocked.version = 3;
  s.append(kP0, {event(kP0, "sku-1", 3)}, [&](std::span<const Envelope> evs, StateDelta& d) {
    StateStore::put_product(d, kP0, restocked);
    StateStore::put_applied(d, kP0, evs.back().offset);
  });
  s.close();
  s.open();
  l = load(*s.db, kP0);
  CHECK(l.applied.value() == 2);
  check_same_product(l.state.products.at(Sku{"sku-1"}), restocked);
}

TEST_CASE("idempotency records round-trip") {
  Storage s;
  StateStore store(*s.db);
  const IdempotencyRecord rec{"fp-123", 201, R"({"order_id":"o1"})", "0-7",
                              TimestampMs{1'700'000'000'000}};
  // A record may be written with no events at all (a rejected command).
  s.append(kP0, {}, [&](std::span<const Envelope> evs, StateDelta& d) {
    CHECK(evs.empty());
    StateStore::put_idempotency(d, "user-1:key-1", rec);
  });
  CHECK(s.tail(kP0).last_offset.value() == -1);

  auto got = store.get_idempotency("user-1:key-1");
  REQUIRE(got.ok());
  REQUIRE(got.value().has_value());
  const IdempotencyRecord& r = *got.value();
  CHECK(r.fingerprint == rec.fingerprint);
  CHECK(r.status == 201);
  CHECK(r.body == rec.body);
  CHECK(r.position == "0-7");
  CHECK(r.created_at == rec.created_at);

  auto missing = store.get_idempotency("user-1:key-2");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing.value().has_value());
}

TEST_CASE(
    "compaction drops idempotency records past their retention and the slack, and only those") {
  test::TempDir dir{"idempotency-expiry"};
  constexpr int64_t kRetentionMs = 24 * 3600 * 1000;
  std::atomic<int64_t> now_ms{1'800'000'000'000};
  auto opened = RocksDb::open(dir.sub("rocksdb"),
                              RocksDbOptions{kRetentionMs, [&now_ms] { return now_ms.load(); }});
  REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
  RocksDb& db = *opened.value();
  StateStore store(db);

  const int64_t boundary = now_ms.load() - kRetentionMs - RocksDb::kIdempotencySlackMs;
  StateDelta d;
  auto put = [&](const std::string& key, int64_t created_at) {
    StateStore::put_idempotency(d, key,
                                IdempotencyRecord{"fp", 201, "{}", "0-1", TimestampMs{created_at}});
  };
  put("u:long-gone", boundary - 3600 * 1000);
  put("u:just-past", boundary);
  put("u:in-the-slack", boundary + 1);  // past retention, within the slack: kept
  put("u:live", now_ms.load() - 1000);
  // A process-manager step's record is kept however old: it proves the step ran.
  put(std::string(kFlowStepKeyPrefix) + "0-17", 1);
  rocksdb::WriteBatch batch;
  db.add_to_batch(d, batch);
  REQUIRE(db.write_sync(batch).ok());
  // Not a record at all: kept for whoever reads it to report.
  REQUIRE(db.db().Put(rocksdb::WriteOptions(), db.cf(Cf::idempotency), "u:garbage", "x").ok());

  rocksdb::CompactRangeOptions all;
  all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  REQUIRE(db.db().CompactRange(all, db.cf(Cf::idempotency), nullptr, nullptr).ok());

  auto present = [&](const std::string& key) {
    std::string v;
    auto st = db.db().Get(rocksdb::ReadOptions(), db.cf(Cf::idempotency), key, &v);
    REQUIRE((st.ok() || st.IsNotFound()));
    return st.ok();
  };
  CHECK_FALSE(present("u:long-gone"));
  CHECK_FALSE(present("u:just-past"));
  CHECK(present("u:in-the-slack"));
  CHECK(present("u:live"));
  CHECK(present("u:garbage"));
  CHECK(present(std::string(kFlowStepKeyPrefix) + "0-17"));
  auto live = store.get_idempotency("u:live");
  REQUIRE(live.ok());
  REQUIRE(live.value().has_value());
  CHECK(live.value()->fingerprint == "fp");

  // Time passes: the next compaction drops what has since expired.
  now_ms += kRetentionMs + RocksDb::kIdempotencySlackMs;
  REQUIRE(db.db().CompactRange(all, db.cf(Cf::idempotency), nullptr, nullptr).ok());
  CHECK_FALSE(present("u:in-the-slack"));
  CHECK_FALSE(present("u:live"));
  CHECK(present("u:garbage"));
}

TEST_CASE("without a retention (the read-only tools) compaction keeps every idempotency record") {
  Storage s;
  StateDelta d;
  StateStore::put_idempotency(d, "u:ancient",
                              IdempotencyRecord{"fp", 201, "{}", "0-1", TimestampMs{1}});
  rocksdb::WriteBatch batch;
  s.db->add_to_batch(d, batch);
  REQUIRE(s.db->write_sync(batch).ok());
  rocksdb::CompactRangeOptions all;
  all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  REQUIRE(s.db->db().CompactRange(all, s.db->cf(Cf::idempotency), nullptr, nullptr).ok());
  StateStore store(*s.db);
  auto r = store.get_idempotency("u:ancient");
  REQUIRE(r.ok());
  CHECK(r.value().has_value());
}

TEST_CASE("timers an older binary left in the retired column family are cleared on open") {
  test::TempDir dir{"retired-timers"};
  const std::string path = dir.sub("rocksdb");
  auto count = [](RocksDb& db, Cf c) {
    std::unique_ptr<rocksdb::Iterator> it(db.db().NewIterator(rocksdb::ReadOptions(), db.cf(c)));
    int n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    REQUIRE(it->status().ok());
    return n;
  };
  {
    auto opened = RocksDb::open(path);
    REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
    RocksDb& db = *opened.value();
    rocksdb::WriteBatch b;
    for (uint32_t p = 0; p < 3; ++p)
      for (int i = 0; i < 100; ++i) {
        std::string key;
        append_be32(key, p);
        append_be64(key, 1'700'000'000'000 + i);
        b.Put(db.cf(Cf::timers), key + fmt::format("o-{}", i), "");
      }
    b.Put(db.cf(Cf::meta), "kept", "yes");  // the other families are left alone
    REQUIRE(db.write_sync(b).ok());
    REQUIRE(db.db().Flush(rocksdb::FlushOptions(), db.cf(Cf::timers)).ok());  // some in a file
    CHECK(count(db, Cf::timers) == 300);
  }
  {
    // The read-only tools leave the directory as they found it.
    RocksDbOptions read_only;
    read_only.read_only = true;
    auto ro = RocksDb::open(path, read_only);
    REQUIRE_MESSAGE(ro.ok(), test::error_of(ro));
    CHECK(count(*ro.value(), Cf::timers) == 300);
  }
  auto sst_bytes = [](RocksDb& db) {
    uint64_t n = 0;
    REQUIRE(db.db().GetIntProperty(db.cf(Cf::timers), "rocksdb.total-sst-files-size", &n));
    return n;
  };
  {
    auto opened = RocksDb::open(path);
    REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
    CHECK(count(*opened.value(), Cf::timers) == 0);
    CHECK(count(*opened.value(), Cf::meta) == 1);
    CHECK(sst_bytes(*opened.value()) == 0);  // compacted away, not only hidden by a tombstone

    // A cleanup cut short after its delete: one key in a file, then deleted, no compaction.
    RocksDb& db = *opened.value();
    rocksdb::WriteBatch b;
    b.Put(db.cf(Cf::timers), "only-one", "");
    REQUIRE(db.write_sync(b).ok());
    REQUIRE(db.db().Flush(rocksdb::FlushOptions(), db.cf(Cf::timers)).ok());
    rocksdb::WriteBatch del;
    del.Delete(db.cf(Cf::timers), "only-one");
    REQUIRE(db.write_sync(del).ok());
    REQUIRE(db.db().Flush(rocksdb::FlushOptions(), db.cf(Cf::timers)).ok());
    CHECK(count(db, Cf::timers) == 0);
    CHECK(sst_bytes(db) > 0);
  }
  auto opened = RocksDb::open(path);  // finds no key, but files: compacts them away
  REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
  CHECK(sst_bytes(*opened.value()) == 0);
  CHECK(count(*opened.value(), Cf::meta) == 1);
}

TEST_CASE("big-endian keys sort numerically") {
  std::string a, b;
  append_be64(a, 255);
  append_be64(b, 256);
  CHECK(a < b);
  CHECK(read_be64(a.data()) == 255u);
  std::string c;
  append_be32(c, 0xDEADBEEFu);
  CHECK(read_be32(c.data()) == 0xDEADBEEFu);
  CHECK(log_key(kP0, Offset{1}) < log_key(kP0, Offset{256}));
  CHECK(log_key(kP0, Offset{1'000'000}) < log_key(kP1, Offset{0}));
}

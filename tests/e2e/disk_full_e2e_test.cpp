// A full disk under the real binary: the data directory on a small tmpfs, filled up while
// clients place orders. Needs root (mount); elsewhere it says so and checks nothing. The
// reserve's test runs with the Kafka log too (e2e_kafka): the state store is on this disk.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "engine/runtime/disk_space.hpp"
#include "tests/e2e/e2e_helpers.hpp"
#include "tests/support/cli.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;

namespace {

// A tmpfs of `mib` MiB at `path`, unmounted when done (lazily: a server killed at the end
// may still hold it).
struct SmallDisk {
  std::string path;
  bool mounted = false;
  SmallDisk(std::string p, int mib) : path(std::move(p)) {
    std::filesystem::create_directories(path);
    const std::string opts = fmt::format("size={}m", mib);
    mounted = ::mount("tmpfs", path.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted) ::umount2(path.c_str(), MNT_DETACH);
  }
};

// The bytes free on the file system of `dir`, as the server measures them.
uint64_t free_bytes(const std::string& dir) {
  auto free = FileSystemSpace(dir).free_bytes();
  REQUIRE_MESSAGE(free.ok(), (free.ok() ? "" : free.error().message));
  return free.value();
}

// Writes `path` until the disk refuses (ENOSPC), or until no more than `leave_bytes` would be
// left free after the next chunk; at most `max_mib`. Returns the bytes written.
int64_t fill(const std::string& path, int max_mib, uint64_t leave_bytes = 0) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  std::string chunk(64 * 1024, 'x');
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int64_t written = 0;
  while (written < int64_t{max_mib} << 20) {
    if (leave_bytes > 0 && free_bytes(dir) < leave_bytes + chunk.size()) break;
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    written += n;
  }
  ::close(fd);
  return written;
}

// The server with its data directory on a 24 MiB tmpfs, a product "mug" defined and one
// order placed; `reserve_mib` is its --min-free-disk-mb. With the Kafka log (the e2e_kafka
// run) the events live in the broker, but the state store, the idempotency records and the
// stream index are still on this disk; `embedded_only` skips that run.
struct FullDiskRig {
  const bool skipped_for_kafka;  // nothing is mounted or started
  TempDir dir{"e2e-disk-full"};
  std::optional<SmallDisk> disk;
  std::unique_ptr<ServerProcess> server;
  std::string filler;

  FullDiskRig(int reserve_mib, bool embedded_only)
      : skipped_for_kafka(embedded_only && test_kafka_brokers().has_value()) {
    if (skipped_for_kafka) return;
    disk.emplace(dir.path() + "/disk", 24);
    if (!disk->mounted) return;
    filler = disk->path + "/filler";
    server = std::make_unique<ServerProcess>(
        disk->path + "/data",
        std::vector<std::string>{"--min-free-disk-mb", std::to_string(reserve_mib)});
    server->capture_stderr(dir.path() + "/server.log");  // off the small disk
    server->start();
    HttpClient c(server->port());
    REQUIRE(
        c.post("/v1/products", product_body("mug", "m1", 1000), bearer(token("m1", Role::merchant)))
            .status == 201);
    REQUIRE(place("before").status == 201);
  }
  // Whether the test can run here (it says why not).
  bool runs() const {
    if (skipped_for_kafka) {
      MESSAGE("embedded log only: with Kafka the events do not live on this disk");
      return false;
    }
    if (!disk->mounted)
      MESSAGE("cannot mount a tmpfs here (not root?): the full-disk test did not run");
    return disk->mounted;
  }
  HttpResult place(const std::string& id) {
    HttpClient c(server->port());  // a new connection: the server may have stopped
    auto h = bearer(token("c1", Role::customer));
    h["Idempotency-Key"] = "key-" + id;
    return c.post("/v1/orders", order_body("c1", {{"mug", 1}}, id), h);
  }
  // Every order of `ids` retried with its key is placed, and the log holds each exactly
  // once (with "before" and "after"), before and after a restart.
  void check_settled_once(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto r = place(id);
      CHECK_MESSAGE(r.status == 201, id, ": ", r.body);
    }
    REQUIRE(place("after").status == 201);
    for (int pass = 0; pass < 2; ++pass) {
      CAPTURE(pass);
      HttpClient h(server->port());
      Streams s{h};
      CHECK(s.reserved("mug") == 2 + static_cast<int64_t>(ids.size()));
      for (const auto& id : ids) {
        auto events = s.events("order-" + id);
        REQUIRE(events.size() == 1u);
        CHECK(events[0].find("type")->as_string() == "OrderPlaced");
      }
      if (pass == 0) {
        server->kill9();
        server->start();
      }
    }
  }
};

}  // namespace

TEST_CASE(
    "a nearly full disk: writes pause with 503 and resume by themselves; the server stays up") {
  FullDiskRig rig(4, /*embedded_only=*/false);  // writes pause below 4 MiB free
  if (!rig.runs()) return;

  // 2 MiB left, under the 4 MiB reserve. (The room left is for what still writes: RocksDB's
  // own flushes, the flow manager's checkpoints. A disk filled to the last byte is the next
  // test's.) The idle partition sees it by itself: /readyz goes down with no order sent
  // (polled, bounded; free space is measured every 50 ms when idle).
  CHECK(fill(rig.filler, 64, uint64_t{2} << 20) > 0);
  CHECK(free_bytes(rig.disk->path) < (uint64_t{4} << 20));
  // Polls /readyz until it answers `want`, for at most a minute; returns the last answer.
  auto wait_readyz = [&](int want) {
    int got = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((got = HttpClient(rig.server->port()).get("/readyz", {}).status) != want &&
           std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return got;
  };
  REQUIRE(wait_readyz(503) == 503);

  // Writes are paused: every order is refused cleanly with 503 storage_unavailable (retry
  // with the same key), and the server stays up.
  std::vector<std::string> refused;
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("full-{}", i);
    auto r = rig.place(id);
    REQUIRE_MESSAGE(r.status == 503, r.body);
    CHECK(str_field(r, "code") == "storage_unavailable");
    CHECK_FALSE(r.header("Retry-After").empty());
    refused.push_back(id);
  }
  HttpClient probe(rig.server->port());
  auto readyz = probe.get("/readyz", {});
  CHECK(readyz.status == 503);
  CHECK_MESSAGE(readyz.body.find(R"("writable":false)") != std::string::npos, readyz.body);
  auto metrics = probe.get("/metrics", {});
  CHECK_MESSAGE(
      metrics.body.find("ordo_partition_writable{partition=\"0\"} 0\n") != std::string::npos,
      metrics.body);

  // Room again, and no restart: /readyz comes back by itself (polled, bounded), and every
  // refused order retried with its key is placed once.
  std::filesystem::remove(rig.filler);
  REQUIRE(wait_readyz(200) == 200);
  CHECK(HttpClient(rig.server->port())
            .get("/metrics", {})
            .body.find("ordo_partition_writable{partition=\"0\"} 1\n") != std::string::npos);
  rig.check_settled_once(refused);
}

TEST_CASE("a full disk with no reserve: nothing is acknowledged that is not on disk") {
  FullDiskRig rig(0, /*embedded_only=*/true);  // the reserve off: RocksDB meets the full disk
  if (!rig.runs()) return;

  // No room left. An order may still fit the WAL's last page; after that each is refused
  // with 503 storage_unavailable (retry with the same key), or finds the server stopped:
  // Debian's RocksDB 7.8 is built with assertions, and its recovery from a failed WAL
  // append can abort the process. Never a 2xx for what is not on disk.
  CHECK(fill(rig.filler, 64) > 0);
  std::vector<std::string> unsettled;
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("full-{}", i);
    auto r = rig.place(id);
    if (r.status == 201) continue;  // written before the disk ran out
    unsettled.push_back(id);
    if (r.status == 0) continue;  // the server stopped
    CHECK_MESSAGE(r.status == 503, r.body);
    CHECK(str_field(r, "code") == "storage_unavailable");
    CHECK_FALSE(r.header("Retry-After").empty());
  }
  // (A WAL page's free tail holds at most a couple of orders.)
  CHECK_MESSAGE(unsettled.size() >= 5u, "the full disk refused too little: ", unsettled.size());

  // Space again, and a restart (what an operator does if the server stopped). Each refused
  // order retried with its key runs at most once: 201 whether it is placed now or was
  // written before the failure, and then the log holds it exactly once.
  std::filesystem::remove(rig.filler);
  rig.server->kill9();
  rig.server->start();
  std::vector<std::string> all;
  for (int i = 0; i < 8; ++i) all.push_back(fmt::format("full-{}", i));
  rig.check_settled_once(all);
}

TEST_CASE("a file system no larger than the reserve is refused at start, not served paused") {
  if (test_kafka_brokers()) return;  // the same check either way; run once
  TempDir dir{"e2e-disk-tiny"};
  SmallDisk disk(dir.path() + "/disk", 24);
  if (!disk.mounted) {
    MESSAGE("cannot mount a tmpfs here (not root?): the test did not run");
    return;
  }
  auto r = run_ordo(dir, "serve --data-dir '" + disk.path + "/data' --listen 127.0.0.1:0 " +
                             "--min-free-disk-mb 64");
  CHECK(r.code == 2);
  CHECK_MESSAGE(
      r.err.find("holds 24 MiB in all, no more than --min-free-disk-mb 64") != std::string::npos,
      r.err);
}

// The record of when a previous JWT secret was first used: the rotation grace counts from it.
#include "api/secrets.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

const std::string kOld = "previous-secret-0123456789abcdef0123456789";
const std::string kOlder = "older-secret-0123456789abcdef0123456789ab";

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("previous secret: the first start is recorded, later starts read it") {
  test::TempDir dir{"grace"};
  const std::string path = dir.sub("jwt-previous.since");
  auto first = api::previous_secret_first_seen(path, kOld, 1'000);
  REQUIRE(first.ok());
  CHECK(first.value() == 1'000);
  // Owner-only, and it names the secret by digest, not by value.
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);
  const std::string stored = read_all(path);
  CHECK(stored.find(kOld) == std::string::npos);
  CHECK(stored.size() == 64 + 1 + 4 + 1);  // hex digest, space, "1000", newline
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  // A restart a day later: the grace still counts from the first start.
  auto later = api::previous_secret_first_seen(path, kOld, 86'400'000);
  REQUIRE(later.ok());
  CHECK(later.value() == 1'000);
  CHECK(read_all(path) == stored);
}

TEST_CASE("previous secret: another secret starts its own record") {
  test::TempDir dir{"grace-other"};
  const std::string path = dir.sub("jwt-previous.since");
  REQUIRE(api::previous_secret_first_seen(path, kOlder, 1'000).ok());
  auto next = api::previous_secret_first_seen(path, kOld, 5'000);
  REQUIRE(next.ok());
  CHECK(next.value() == 5'000);
  CHECK(api::previous_secret_first_seen(path, kOld, 9'000).value() == 5'000);
}

TEST_CASE("previous secret: a clock stepped back or a bad record does not lengthen the grace") {
  test::TempDir dir{"grace-bad"};
  const std::string path = dir.sub("jwt-previous.since");
  REQUIRE(api::previous_secret_first_seen(path, kOld, 10'000).ok());
  // The clock now reads earlier than the record: the grace starts no later than now.
  CHECK(api::previous_secret_first_seen(path, kOld, 4'000).value() == 4'000);
  // A record that does not parse counts as none: this start is the first, and it is rewritten.
  const std::vector<std::string> bad_records{"garbage", "", "abc 12", std::string(64, 'a') + " -5"};
  for (const auto& bad : bad_records) {
    CAPTURE(bad);
    std::ofstream(path) << bad;
    CHECK(api::previous_secret_first_seen(path, kOld, 7'000).value() == 7'000);
    CHECK(api::previous_secret_first_seen(path, kOld, 8'000).value() == 7'000);
  }
  // A directory that cannot be written: an error, not a grace from nowhere.
  auto unwritable = api::previous_secret_first_seen(dir.sub("missing/jwt-previous.since"), kOld, 1);
  CHECK_FALSE(unwritable.ok());
}

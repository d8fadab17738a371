// Generated ids: ordered by creation within a process (also when the clock stands still or
// steps back), unique, and shaped prefix + 32 lower-case hex digits.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "api/app.hpp"

using namespace ordo;

namespace {

class SetClock final : public Clock {
 public:
  TimestampMs now() const override { return TimestampMs{ms}; }
  int64_t ms = 0;
};

bool is_id(const std::string& id, std::string_view prefix) {
  if (!id.starts_with(prefix) || id.size() != prefix.size() + 32) return false;
  for (char c : id.substr(prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

TEST_CASE("ids carry their millisecond first, so later ids sort after earlier ones") {
  SetClock clock;
  clock.ms = 1'764'000'000'000;
  api::IdSource ids(clock, 7);
  const std::string a = ids.next("o-");
  clock.ms += 1;
  const std::string b = ids.next("o-");
  CHECK(is_id(a, "o-"));
  CHECK(is_id(b, "o-"));
  CHECK(a.substr(2, 12) == "019ab697e800");  // 1,764,000,000,000 ms in hex
  CHECK(a < b);
}

TEST_CASE("ids stay ordered and unique when the clock stands still or steps back") {
  SetClock clock;
  clock.ms = 5'000;
  api::IdSource ids(clock, 1);
  std::set<std::string> seen;
  std::string last;
  // More ids than the 16-bit sequence holds in one millisecond: it borrows the next one.
  for (int i = 0; i < 70'000; ++i) {
    if (i == 40'000) clock.ms = 4'000;  // a step back of a second
    std::string id = ids.next("cmd-");
    REQUIRE(is_id(id, "cmd-"));
    REQUIRE_MESSAGE(id > last, i);
    last = id;
    seen.insert(std::move(id));
  }
  CHECK(seen.size() == 70'000);
  CHECK(last.substr(4, 12) == "000000001389");  // 5,001 ms: borrowed once
}

TEST_CASE("two sources in the same millisecond differ in their random part") {
  SetClock clock;
  clock.ms = 9'000;
  api::IdSource a(clock, 1), b(clock, 2);
  CHECK(a.next("o-") != b.next("o-"));
}

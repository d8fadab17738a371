// Denied requests: counted per reason; the log line names method, path and sub only, and a
// hostile path cannot forge or break log lines.
#include <doctest/doctest.h>

#include "api/denials.hpp"

using namespace ordo::api;

TEST_CASE("denials: counted per reason") {
  Denials d;
  d.record(DenyReason::forbidden, "POST", "/v1/products", "c1", 1'000);
  d.record(DenyReason::forbidden, "POST", "/v1/products", "c1", 1'000);
  d.record(DenyReason::rate_limited, "GET", "/v1/events", "a", 1'000);
  CHECK(d.count(DenyReason::forbidden) == 2);
  CHECK(d.count(DenyReason::rate_limited) == 1);
  CHECK(d.count(DenyReason::unauthenticated) == 0);
  CHECK(d.count(DenyReason::not_found_ownership) == 0);
  // Counting goes on when the log line budget of the second is spent.
  for (int i = 0; i < 10 * Denials::kMaxLinesPerSecond; ++i)
    d.record(DenyReason::unauthenticated, "GET", "/v1/events", "", 2'000);
  CHECK(d.count(DenyReason::unauthenticated) == 10 * Denials::kMaxLinesPerSecond);
}

TEST_CASE("denials: the log line carries method, path, sub and reason, nothing forged") {
  CHECK(denial_line(DenyReason::not_found_ownership, "GET", "/v1/orders/o-1", "c2") ==
        R"(ordo: denied reason=not_found_ownership method=GET path="/v1/orders/o-1" sub="c2")");
  const std::string evil =
      denial_line(DenyReason::forbidden, "GET", "/x\n ordo: denied reason=fake\"\x1b[2J", "");
  CHECK(evil.find('\n') == std::string::npos);
  CHECK(evil.find('\x1b') == std::string::npos);
  CHECK(
      evil ==
      R"(ordo: denied reason=forbidden method=GET path="/x? ordo: denied reason=fake??[2J" sub="")");
  CHECK(denial_line(DenyReason::forbidden, "GET", std::string(1000, 'a'), "s").size() < 400);
}

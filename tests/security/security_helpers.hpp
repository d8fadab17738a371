#pragma once
// Shared by the security suites: the real binary over HTTP (tests/support), /metrics
// parsing, and the server's captured stderr.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "engine/log/json.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/server_process.hpp"

namespace ordo::test {

// The value of one Prometheus series (`name{labels}`) in /metrics, or nullopt.
inline std::optional<int64_t> metric(HttpClient& c, const std::string& series) {
  auto r = c.get("/metrics");
  REQUIRE(r.status == 200);
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stoll(line.substr(series.size() + 1));
  return std::nullopt;
}

inline int64_t denied(HttpClient& c, const std::string& reason) {
  auto v = metric(c, fmt::format("ordo_http_denied_total{{reason=\"{}\"}}", reason));
  REQUIRE_MESSAGE(v, "no ordo_http_denied_total for ", reason);
  return *v;
}

inline std::string problem_code(const HttpResult& r) {
  auto j = parse_json(r.body);
  if (!j || !j.value().is_object()) return "";
  const Json* c = j.value().find("code");
  return c && c->is_string() ? c->as_string() : "";
}

// ORDO_TEST_POSTGRES (set by the CTest fixture for the integration run): the views exist.
inline std::optional<std::string> test_postgres() {
  const char* c = std::getenv("ORDO_TEST_POSTGRES");
  if (!c || !*c) return std::nullopt;
  return std::string(c);
}

}  // namespace ordo::test

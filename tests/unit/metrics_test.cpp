// GET /metrics in the Prometheus text format, over a real engine of several partitions.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "tests/unit/app_support.hpp"

using namespace ordo;
using namespace ordo::api;
using namespace ordo::test::app;

TEST_CASE("/metrics gives each family's samples together, under one TYPE line") {
  AppRig rig("app-metrics", app_config(), 3);
  auto p = start(rig.io, rig.app, Request{http::verb::get, "/metrics", 11});
  rig.io.run();
  REQUIRE(p->res.has_value());
  CHECK(p->res->result_int() == 200);
  std::set<std::string> typed;
  std::string current;
  std::map<std::string, int> samples;
  std::istringstream in(p->res->body());
  for (std::string line; std::getline(in, line);) {
    CAPTURE(line);
    if (line.starts_with("# TYPE ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      CHECK(typed.insert(current).second);  // one TYPE line per family
      continue;
    }
    const std::string name = line.substr(0, line.find('{'));
    CHECK(name == current);  // under its own family's TYPE line, none other in between
    ++samples[name];
  }
  for (const char* family :
       {"ordo_partition_last_offset", "ordo_partition_queue_depth", "ordo_commands_total",
        "ordo_group_commits_total", "ordo_events_total", "ordo_partition_writable"})
    CHECK_MESSAGE(samples[family] == 3, family);
  for (int part = 0; part < 3; ++part)
    CHECK(p->res->body().find(fmt::format("ordo_partition_writable{{partition=\"{}\"}} 1\n",
                                          part)) != std::string::npos);
}

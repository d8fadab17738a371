#pragma once
// The main() of the suites that run the real binary. The binary takes every flag from an
// ORDO_<FLAG> variable too, so a server or CLI started by a test would pick up whatever the
// shell running the tests exported (ORDO_DATA_DIR, ORDO_POSTGRES, …): those are dropped
// first, before any thread starts. ORDO_BIN, the tests' own ORDO_TEST_* and ORDO_SIM_*
// settings and compose/kafka.sh's (ORDO_KAFKA_SCRIPT, _PORT, _DIR, _LIB, _HEAP: no flag has
// these names) stay.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> flags;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view var(*e);
    const std::string_view name = var.substr(0, var.find('='));
    const bool kept = name == "ORDO_BIN" || name.starts_with("ORDO_TEST_") ||
                      name.starts_with("ORDO_SIM_") || name == "ORDO_KAFKA_SCRIPT" ||
                      name == "ORDO_KAFKA_PORT" || name == "ORDO_KAFKA_DIR" ||
                      name == "ORDO_KAFKA_LIB" || name == "ORDO_KAFKA_HEAP";
    if (name.starts_with("ORDO_") && !kept) flags.emplace_back(name);
  }
  for (const auto& name : flags) ::unsetenv(name.c_str());
  doctest::Context context(argc, argv);
  return context.run();
}

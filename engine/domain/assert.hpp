#pragma once
// Always-on assertions for invariants. A broken invariant is a bug: the process stops
// (as Redpanda's `vassert` and TigerBeetle's assertions do) rather than write bad state.
#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>

#define ORDO_ASSERT(cond, ...)                                                                     \
  do {                                                                                             \
    if (!(cond)) [[unlikely]] {                                                                    \
      std::fprintf(stderr, "ordo: assertion failed at %s:%d: %s: %s\n", __FILE__, __LINE__, #cond, \
                   ::fmt::format(__VA_ARGS__).c_str());                                            \
      std::fflush(stderr);                                                                         \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

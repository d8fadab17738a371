#!/usr/bin/env bash
# Configures and builds Ordo. Usage: compose/build.sh release|test
#   release → build/       (Release, -O2)           : what `compose/run.sh` serves
#   test    → build-test/  (Debug + ASan + UBSan; the engine's libraries at -O1): what
#                                                    `compose/test.sh` runs
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
jobs="$(nproc 2>/dev/null || echo 2)"
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF) ;;
  # -g1: line tables only, enough for ASan's stack traces, and a sixth off the compile time.
  test) dir=build-test; flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DORDO_SANITIZE=ON -DBUILD_TESTING=ON) ;;
  bench) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF) ;;
  *) echo "usage: $0 release|test" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"

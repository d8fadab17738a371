#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine (as root): installs what the build and the
# tests need, builds with ASan + UBSan, and runs every CTest suite (Schemathesis comes from
# PyPI, into a virtualenv under build-test).
# Pass a CTest label to run one suite: compose/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
bash compose/setup-debian.sh
bash compose/build.sh test
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=\"$PWD/tests/lsan.supp\"}"  # quoted: a path may hold spaces
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-test
ctest --output-on-failure --timeout 1200 "$@"

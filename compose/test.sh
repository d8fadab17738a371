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
# The broker and the PostgreSQL the suites start are stopped by CTest fixtures; an interrupted
# run skips those, so they are stopped here too (a no-op when they are not running).
# (CMake names them after the build directory's physical path.)
build_dir="$(pwd -P)"
stop_test_servers() {
  ORDO_KAFKA_DIR="$build_dir/kafka-test" ORDO_KAFKA_PORT=19192 bash ../compose/kafka.sh stop \
    >/dev/null 2>&1 || true
  bash ../compose/postgres.sh stop "/tmp/ordo-test-pg-$(printf '%s' "$build_dir" | md5sum | cut -c1-12)" \
    >/dev/null 2>&1 || true
}
trap stop_test_servers EXIT
trap 'exit 130' INT TERM HUP
ctest --output-on-failure --timeout 1200 "$@"

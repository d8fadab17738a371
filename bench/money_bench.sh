#!/usr/bin/env bash
# Wallet-paid orders settled end to end, in-process and durable (bench/bench_money.cpp), with
# 1 and with 2 partitions; each configuration runs REPEATS times (default 3), because the
# fsync latency of a shared VM disk moves from run to run and both the engine and its raw
# RocksDB baseline are measured in the same run.
#   bench/money_bench.sh [--orders N] [--window W] ...   (options go to bench_money)
# Builds only bench_money, Release, in BUILD_DIR (default build/, as compose/build.sh release).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
repeats="${REPEATS:-3}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
nice -n 10 cmake --build "$build" --target bench_money -j "${JOBS:-$(nproc)}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
for partitions in 1 2; do
  for run in $(seq 1 "$repeats"); do
    echo
    echo "== bench_money --partitions $partitions $* (run $run of $repeats; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$build/bin/bench_money" --partitions "$partitions" "$@"
  done
done

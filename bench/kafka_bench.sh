#!/usr/bin/env bash
# Runs bench_kafka against a fresh broker of compose/kafka.sh (Release build in build/).
#   bench/kafka_bench.sh [--orders N]
set -euo pipefail
cd "$(dirname "$0")/.."
export ORDO_KAFKA_PORT="${ORDO_KAFKA_PORT:-19292}"
export ORDO_KAFKA_DIR="${ORDO_KAFKA_DIR:-$(mktemp -d /tmp/ordo-bench-kafka-broker.XXXXXX)}"
bin="${ORDO_BENCH_BIN:-build/bin/bench_kafka}"
[[ -x "$bin" ]] || bash compose/build.sh bench
bash compose/kafka.sh start
trap 'bash compose/kafka.sh stop; rm -rf "$ORDO_KAFKA_DIR"' EXIT
"$bin" --brokers "127.0.0.1:$ORDO_KAFKA_PORT" "$@"

#!/usr/bin/env bash
# Runs Ordo on a fresh Debian 12 machine (as root): installs what it needs, builds, and
# serves HTTP on 127.0.0.1:8080 with the embedded RocksDB log under ./data.
#   ORDO_DATA_DIR  (default ./data)   ORDO_LISTEN (default 127.0.0.1:8080)
# Any other `ordo serve` flag can be passed after the script name or as ORDO_<FLAG>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash compose/setup-debian.sh
bash compose/build.sh release
data_dir="${ORDO_DATA_DIR:-$PWD/data}"
mkdir -p "$data_dir"
echo "ordo: mint a token with: build/bin/ordo token --data-dir $data_dir --sub alice --role customer" >&2
exec build/bin/ordo serve --data-dir "$data_dir" --listen "${ORDO_LISTEN:-127.0.0.1:8080}" "$@"

#!/usr/bin/env bash
# Runs Ordo on a fresh Debian 12 machine (as root): installs what it needs, builds, starts a
# private PostgreSQL 15 for the views (Unix socket only, under the data directory), and
# serves HTTP on 127.0.0.1:8080 with the embedded RocksDB log. Ctrl-C stops both cleanly.
#   ORDO_DATA_DIR  (default ./data)     ORDO_LISTEN (default 127.0.0.1:8080)
#   ORDO_POSTGRES  an existing server's conninfo instead of the private cluster
# Any other `ordo serve` flag can be passed after the script name or as ORDO_<FLAG> (the
# binary reads them; paths in flags are taken from the repository's root). The script exits
# with the server's status.
set -euo pipefail
# A relative ORDO_DATA_DIR is the caller's, resolved before moving to the repository.
data_dir="$(realpath -m "${ORDO_DATA_DIR:-$(dirname "$0")/../data}")"
cd "$(dirname "$0")/.."
bash compose/setup-debian.sh
bash compose/build.sh release
mkdir -p "$data_dir"
pg_dir="$data_dir/postgres"
if [ -n "${ORDO_POSTGRES:-}" ]; then
  conninfo="$ORDO_POSTGRES"
  own_pg=0
else
  conninfo="$(bash compose/postgres.sh start "$pg_dir" "${ORDO_PG_PORT:-55432}")"
  own_pg=1
fi
stop_pg() { if [ "$own_pg" = 1 ]; then bash compose/postgres.sh stop "$pg_dir"; fi; }
trap stop_pg EXIT
echo "ordo: views in PostgreSQL at '$conninfo'" >&2
echo "ordo: mint a token with: build/bin/ordo token --data-dir $data_dir --sub alice --role customer" >&2
build/bin/ordo serve --data-dir "$data_dir" --listen "${ORDO_LISTEN:-127.0.0.1:8080}" \
  --postgres "$conninfo" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
# The first wait returns early when a signal arrives (the trap forwards it); the second
# collects the server's own exit status, which is the script's.
status=0
wait "$pid" || status=$?
if [ "$status" -gt 128 ]; then  # interrupted by a signal, or the server died of one
  status=0
  wait "$pid" || status=$?  # bash keeps a reaped child's status
fi
exit "$status"

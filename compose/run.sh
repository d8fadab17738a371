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
# Traversable (the postgres user reaches its cluster inside) but not listable by others.
mkdir -p -m 0711 "$data_dir"
# One run per data directory: a second one would find the log locked, and on its way out
# must not stop the PostgreSQL the first one uses. Taken before building, so a second run
# exits at once.
exec 9>"$data_dir/.run.lock"
if ! flock -n 9; then
  echo "ordo: $data_dir is in use by another compose/run.sh" >&2
  exit 1
fi
bash compose/setup-debian.sh
bash compose/build.sh release
pg_dir="$data_dir/postgres"
own_pg=0
stop_pg() { if [ "$own_pg" = 1 ]; then bash compose/postgres.sh stop "$pg_dir"; fi; }
# Set before PostgreSQL starts: an interrupt while it starts still stops it.
trap stop_pg EXIT
trap 'exit 130' INT TERM HUP
if [ -n "${ORDO_POSTGRES:-}" ]; then
  conninfo="$ORDO_POSTGRES"
else
  own_pg=1  # with the lock held, a cluster running here is this run's (or a crashed run's)
  # (Not holding the lock: the postmaster outlives this script if it is killed.)
  conninfo="$(bash compose/postgres.sh start "$pg_dir" "${ORDO_PG_PORT:-55432}" 9>&-)"
fi
echo "ordo: views in PostgreSQL at '$conninfo'" >&2
echo "ordo: mint a token with: build/bin/ordo token --data-dir '$data_dir' --sub alice --role customer" >&2
# A signal from here until the server's pid is known is remembered, then forwarded.
stop_asked=0
trap 'stop_asked=1' INT TERM HUP
# The log, the state and the secret it writes are the owner's alone (umask 077). The server
# holds the lock too: should this script be killed, no second run starts beside it.
(umask 077 && exec build/bin/ordo serve --data-dir "$data_dir" \
  --listen "${ORDO_LISTEN:-127.0.0.1:8080}" --postgres "$conninfo" "$@") &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM HUP
if [ "$stop_asked" = 1 ]; then kill -TERM "$pid" 2>/dev/null || true; fi
# A signal cuts a wait short (the trap forwards it to the server): wait again until the
# server has really exited, so PostgreSQL is stopped after it, never under it. Bash keeps a
# reaped child's status for the last wait, which is the script's.
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
status=0
wait "$pid" || status=$?
exit "$status"

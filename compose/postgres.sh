#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for Ordo's views, on a Unix socket only (no TCP).
#   compose/postgres.sh start DIR PORT   → initdb if needed, start, print the conninfo
#   compose/postgres.sh stop DIR         → fast shutdown
#   compose/postgres.sh conninfo DIR PORT
# initdb refuses to run as root, so as root the cluster runs as the `postgres` user.
set -euo pipefail
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
cmd="${1:?usage: $0 start|stop|conninfo DIR [PORT]}"
dir="$(realpath -m "${2:?DIR}")"
port="${3:-5432}"
# As root, the cluster belongs to `postgres`, which must be able to reach DIR. When a parent
# directory is closed to it (a checkout under /root, say), the cluster lives under
# /var/lib/ordo instead, named after DIR so the same DIR always finds the same cluster.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null; then
  alt="/var/lib/ordo/pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)"
  [ "$cmd" = start ] && echo "postgres.sh: postgres cannot reach $dir; using $alt" >&2
  dir="$alt"
fi
# Unix socket paths are limited to ~107 bytes: keep the socket in a short per-cluster dir.
sock="/tmp/ordo-pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

conninfo() { echo "host=$sock port=$port user=postgres dbname=postgres"; }

case "$cmd" in
  start)
    mkdir -p "$dir" "$sock"
    # The postgres user must traverse the parent: add only that, and only if missing (the
    # parent may be /tmp, whose mode must stay 1777).
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(dirname "$dir")"; then
      chmod o+x "$(dirname "$dir")"
    fi
    if [ "$(id -u)" = 0 ]; then
      chown postgres:postgres "$dir" "$sock"
      # The cluster trusts whoever reaches its socket: only root and postgres may.
      chmod 700 "$dir" "$sock"
      if ! runuser -u postgres -- test -w "$dir"; then
        echo "postgres.sh: the postgres user cannot reach $dir (a parent directory is not" \
             "traversable); choose a data directory outside it" >&2
        exit 1
      fi
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_pg "$PG_BIN/initdb" -D "$dir" --username=postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $sock -c unix_socket_permissions=0700 -p $port -c max_connections=100 -c shared_buffers=128MB" \
        start >/dev/null
    fi
    conninfo
    ;;
  stop)
    if [ -f "$dir/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    fi
    ;;
  conninfo) conninfo ;;
  *) echo "usage: $0 start|stop|conninfo DIR [PORT]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs a test command with ORDO_TEST_POSTGRES set to the test cluster's conninfo (the cluster
# the postgres_start fixture started):  tests/with_test_pg.sh PG_DIR PG_PORT COMMAND [ARG...]
# Arguments stay whole, so paths may hold spaces.
set -euo pipefail
pg_dir="$1"
pg_port="$2"
shift 2
ORDO_TEST_POSTGRES="$(bash "$(dirname "$0")/../compose/postgres.sh" conninfo "$pg_dir" "$pg_port")"
export ORDO_TEST_POSTGRES
exec "$@"

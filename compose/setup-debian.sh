#!/usr/bin/env bash
# Installs every Debian package Ordo's build, run and tests need. Idempotent: packages
# already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libboost-dev libpqxx-dev librocksdb-dev libsimdjson-dev libfmt-dev doctest-dev
  librdkafka-dev libssl-dev libjemalloc-dev
  postgresql-15 postgresql-client-15
  python3 python3-yaml python3-venv wrk jq kcat
  clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14
  maven openjdk-17-jre-headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Ordo runs its own private clusters: Debian's package must not create and start one of
# its own on port 5432.
if [ "$(id -u)" = 0 ] && [ ! -f /etc/postgresql-common/createcluster.d/ordo.conf ]; then
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/ordo.conf
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A fresh VM's unattended upgrades may hold dpkg's lock for a while: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present" >&2
fi

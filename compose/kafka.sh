#!/usr/bin/env bash
# A single-node Apache Kafka 3.9 broker (KRaft: broker and controller in one JVM) on
# loopback, for development and the integration tests. No Docker, no tarball: the jars come
# from Maven Central through Maven and are cached.
#   compose/kafka.sh start|stop|status|kill9   (kill9: SIGKILL, for the failure tests)
# Environment:
#   ORDO_KAFKA_PORT  (default 19092)           broker port on 127.0.0.1 (controller: +1)
#   ORDO_KAFKA_DIR   (default ~/.cache/ordo/kafka-run-$PORT)  config, data, log, pid
#   ORDO_KAFKA_LIB   (default ~/.cache/ordo/kafka-3.9.1/lib)  cached jars
#   ORDO_KAFKA_HEAP  (default -Xmx512m -Xms256m)
# Idempotent: start on a running broker and stop on a stopped one both succeed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${ORDO_KAFKA_PORT:-19092}"
cport=$((port + 1))
run_dir="${ORDO_KAFKA_DIR:-$HOME/.cache/ordo/kafka-run-$port}"
lib="${ORDO_KAFKA_LIB:-$HOME/.cache/ordo/kafka-3.9.1/lib}"
heap="${ORDO_KAFKA_HEAP:--Xmx512m -Xms256m}"
pid_file="$run_dir/kafka.pid"

log() { echo "kafka.sh: $*" >&2; }

running() {
  # The pid must still be our broker: after a reboot a stale pid file can name anything.
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $run_dir/server.properties"
}

answers() {
  # Metadata from the broker itself: it is up and serving requests.
  kcat -L -b "127.0.0.1:$port" -m 3 >/dev/null 2>&1
}

fetch_jars() {
  if [[ -f "$lib/.complete" ]]; then return; fi
  command -v mvn >/dev/null || { log "maven is missing (compose/setup-debian.sh installs it)"; exit 1; }
  log "fetching Apache Kafka 3.9.1 jars with Maven into $lib"
  mkdir -p "$lib"
  # -C: a jar whose checksum does not match fails the download instead of being cached.
  # A transient registry error is retried (three attempts, 5 and 10 s apart).
  local attempt
  for attempt in 1 2 3; do
    if mvn -q -B -C -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib" >&2; then
      touch "$lib/.complete"
      return
    fi
    [[ $attempt -lt 3 ]] && { log "maven failed (attempt $attempt); retrying"; sleep $((attempt * 5)); }
  done
  log "could not fetch the Kafka jars from Maven Central"
  exit 1
}

write_config() {
  mkdir -p "$run_dir/data"
  cat >"$run_dir/server.properties" <<CONF
# Written by compose/kafka.sh: single node, KRaft combined mode, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$run_dir/data
num.partitions=1
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
offsets.topic.num.partitions=4
min.insync.replicas=1
# Ordo creates its topic itself, with the partition count it is configured with.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# Transactions of a crashed producer are aborted after this long at most.
transaction.max.timeout.ms=900000
CONF
}

start() {
  if running; then
    log "already running (pid $(cat "$pid_file")) on 127.0.0.1:$port"
    return
  fi
  command -v java >/dev/null || { log "java is missing"; exit 1; }
  command -v kcat >/dev/null || { log "kcat is missing"; exit 1; }
  fetch_jars
  write_config
  if [[ ! -f "$run_dir/data/meta.properties" ]]; then
    # A fixed cluster id: the directory is ours and formatted once.
    java -cp "$lib/*" kafka.tools.StorageTool format -t "ordo-dev-cluster-0001" \
      -c "$run_dir/server.properties" --ignore-formatted >"$run_dir/format.log" 2>&1 ||
      { log "format failed:"; cat "$run_dir/format.log" >&2; exit 1; }
  fi
  # shellcheck disable=SC2086
  nohup java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$lib/*" kafka.Kafka "$run_dir/server.properties" >"$run_dir/kafka.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$pid_file"
  # Bounded wait: 120 tries, about a minute on a loaded machine. Alive is `kill -0` here: the
  # child may not have exec'd java yet, so its command line is not yet the broker's.
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the broker exited during start-up; its log:"
      tail -n 40 "$run_dir/kafka.log" >&2
      rm -f "$pid_file"
      exit 1
    fi
    if answers; then
      log "ready on 127.0.0.1:$port (pid $(cat "$pid_file"), dir $run_dir)"
      return
    fi
    sleep 0.5
  done
  log "the broker did not answer in time; its log:"
  tail -n 40 "$run_dir/kafka.log" >&2
  exit 1
}

stop() {
  if ! running; then
    rm -f "$pid_file"
    log "not running"
    return
  fi
  local pid
  pid="$(cat "$pid_file")"
  kill "$pid"
  # A clean shutdown takes a few seconds; then SIGKILL (bounded).
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; log "stopped"; return; }
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  log "killed (did not stop within 30 s)"
}

kill9() {
  if running; then kill -9 "$(cat "$pid_file")"; fi
  rm -f "$pid_file"
}

status() {
  if running && answers; then
    echo "running (pid $(cat "$pid_file")) on 127.0.0.1:$port"
  elif running; then
    echo "starting or unresponsive (pid $(cat "$pid_file"))"
    return 1
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill9) kill9 ;;
  *) echo "usage: $0 start|stop|status|kill9" >&2; exit 2 ;;
esac

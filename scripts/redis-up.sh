#!/usr/bin/env bash
# Starts every Redis topology the tests and examples need, on loopback, and waits until each is
# ready. Idempotent: what already runs and is healthy is reused. Nothing is persisted.
#   single node : 127.0.0.1:6379 (reused if a server is already there; never flushed)
#   cluster     : 127.0.0.1:7000-7005, 3 masters + 3 replicas
set -euo pipefail

DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
SINGLE_PORT="${REDSTREAM_SINGLE_PORT:-6379}"
CLUSTER_PORTS=(7000 7001 7002 7003 7004 7005)
mkdir -p "$DIR"

log() { printf 'redis:up: %s\n' "$*"; }

ensure_binaries() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then return; fi
  log "redis-server not found; installing it with apt-get"
  if [ "$(id -u)" -ne 0 ]; then echo "redis:up: install redis-server (apt-get install redis-server) and retry" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
}

ping() { redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null | grep -q PONG; }

wait_until() { # wait_until <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

start_node() { # start_node <port> [extra redis-server args...]
  local port=$1; shift
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid" "$@"
  wait_until 10 ping "$port" || { echo "redis:up: node on port $port did not start; see $DIR/redis-$port.log" >&2; exit 1; }
}

single() {
  if ping "$SINGLE_PORT"; then log "single node on $SINGLE_PORT: already running (reused)"; return; fi
  start_node "$SINGLE_PORT"
  log "single node on $SINGLE_PORT: started"
}

cluster_ok() {
  local port
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
  # Every master has its replica.
  [ "$(redis-cli -p "${CLUSTER_PORTS[0]}" CLUSTER NODES | grep -c slave)" -eq 3 ]
}

stop_cluster() {
  local port
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  done
  for port in "${CLUSTER_PORTS[@]}"; do wait_until 10 bash -c "! redis-cli -p $port PING >/dev/null 2>&1" || true; done
  rm -f "$DIR"/nodes-*.conf
}

cluster() {
  if cluster_ok; then log "cluster on ${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[-1]}: already running (reused)"; return; fi
  # Anything half-made (a previous run that died, nodes of another layout) is rebuilt from scratch.
  stop_cluster
  local port hosts=()
  for port in "${CLUSTER_PORTS[@]}"; do
    start_node "$port" --cluster-enabled yes --cluster-config-file "$DIR/nodes-$port.conf" \
      --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 --appendonly no
    hosts+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/cluster-create.log" 2>&1 \
    || { cat "$DIR/cluster-create.log" >&2; exit 1; }
  wait_until 30 cluster_ok || { echo "redis:up: cluster did not reach cluster_state:ok" >&2; exit 1; }
  log "cluster on ${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[-1]}: started (3 masters, 3 replicas)"
}

ensure_binaries
single
cluster

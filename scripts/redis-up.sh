#!/usr/bin/env bash
# Starts every Redis topology the tests and examples need, on loopback, and waits until each is
# ready. Idempotent: what already runs and is healthy is reused. Nothing is persisted.
#   single node : 127.0.0.1:6379 (reused if a server is already there; never flushed)
#   cluster     : 127.0.0.1:7000-7005, 3 masters + 3 replicas
#   chaos       : 127.0.0.1:7100-7105, 3 masters + 3 replicas, for failover and resharding tests
#                 (they kill and move things, so they get a cluster of their own)
#   secure      : 127.0.0.1:6390 and a 3-master cluster on 7200-7202, TLS only (certificates from a
#                 throwaway CA made here, in $DIR/tls), ACL user only (the default user is off)
#   sentinel    : three Sentinel sets (see redis-sentinel.sh): 6400/6401 with sentinels 26400-26402,
#                 6410/6411 with 26410-26412 for failover tests, and a TLS + ACL set on 6420/6421
#                 with one TLS sentinel on 26420
set -euo pipefail

DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
SINGLE_PORT="${REDSTREAM_SINGLE_PORT:-6379}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DIR"

log() { printf 'redis:up: %s\n' "$*"; }

ensure_binaries() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null; then return; fi
  log "redis-server, redis-cli or openssl not found; installing them with apt-get"
  if [ "$(id -u)" -ne 0 ]; then echo "redis:up: install redis-server redis-tools openssl (apt-get) and retry" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools openssl >/dev/null
}

ping() { redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null | grep -q PONG; }

wait_until() { # wait_until <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

start_node() { # start_node plain|cluster <port>
  bash "$HERE/redis-node.sh" "$1" "$2"
}

single() {
  if ping "$SINGLE_PORT"; then log "single node on $SINGLE_PORT: already running (reused)"; return; fi
  start_node plain "$SINGLE_PORT"
  log "single node on $SINGLE_PORT: started"
}

cluster_ok() { # cluster_ok <ports...>
  local port
  for port in "$@"; do
    redis-cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
  # Three masters, each with its replica, all connected.
  local nodes
  nodes=$(redis-cli -p "$1" CLUSTER NODES)
  [ "$(grep -c master <<<"$nodes")" -eq 3 ] && [ "$(grep -c slave <<<"$nodes")" -eq 3 ] && ! grep -q fail <<<"$nodes"
}

stop_cluster() { # stop_cluster <ports...>
  local port
  for port in "$@"; do redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true; done
  for port in "$@"; do
    wait_until 10 bash -c "! redis-cli -p $port PING >/dev/null 2>&1" || true
    rm -f "$DIR/nodes-$port.conf"
  done
}

cluster() { # cluster <name> <ports...>
  local name=$1; shift
  local ports=("$@") label="$name on $1-${*: -1}"
  if cluster_ok "${ports[@]}"; then log "$label: already running (reused)"; return; fi
  # Anything half-made (a run that died, a node left down by a test) is rebuilt from scratch.
  stop_cluster "${ports[@]}"
  local port hosts=()
  for port in "${ports[@]}"; do
    start_node cluster "$port"
    hosts+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/cluster-$name.log" 2>&1 \
    || { cat "$DIR/cluster-$name.log" >&2; exit 1; }
  wait_until 30 cluster_ok "${ports[@]}" || { echo "redis:up: $label did not reach cluster_state:ok" >&2; exit 1; }
  log "$label: started (3 masters, 3 replicas)"
}

tls_material() {
  local tls="$DIR/tls"
  if [ -s "$tls/ca.crt" ] && [ -s "$tls/redis.crt" ] && [ -s "$tls/redis.key" ]; then return; fi
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=redstream test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/redis.key" -out "$tls/redis.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/san.cnf"
  openssl x509 -req -in "$tls/redis.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 3650 \
    -extfile "$tls/san.cnf" -out "$tls/redis.crt" 2>/dev/null
  chmod 644 "$tls"/*
  log "made a test CA and certificate in $tls"
}

secure_cli() { redis-cli --tls --cacert "$DIR/tls/ca.crt" --user redstream-app --pass redstream-test-secret --no-auth-warning -h 127.0.0.1 "$@"; }

secure_single() {
  if secure_cli -p 6390 PING 2>/dev/null | grep -q PONG; then log "secure node on 6390: already running (reused)"; return; fi
  start_node secure 6390
  log "secure node on 6390: started (TLS + ACL)"
}

secure_cluster_ok() {
  local port
  for port in 7200 7201 7202; do
    secure_cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

secure_cluster() {
  if secure_cluster_ok; then log "secure cluster on 7200-7202: already running (reused)"; return; fi
  local port
  for port in 7200 7201 7202; do secure_cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true; done
  for port in 7200 7201 7202; do
    wait_until 10 bash -c "! (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null" || true
    rm -f "$DIR/nodes-$port.conf"
    start_node secure-cluster "$port"
  done
  secure_cli --cluster create 127.0.0.1:7200 127.0.0.1:7201 127.0.0.1:7202 --cluster-yes >"$DIR/cluster-secure.log" 2>&1 \
    || { cat "$DIR/cluster-secure.log" >&2; exit 1; }
  wait_until 30 secure_cluster_ok || { echo "redis:up: the secure cluster did not reach cluster_state:ok" >&2; exit 1; }
  log "secure cluster on 7200-7202: started (3 masters, TLS + ACL)"
}

# `redis-up.sh [single] [cluster] [chaos] [secure] [sentinel]` starts only those; no argument, all.
wanted=("$@")
want() { [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $1 "* ]]; }
for name in "${wanted[@]}"; do
  case "$name" in single | cluster | chaos | secure | sentinel) ;; *) echo "redis:up: unknown topology \"$name\" (single, cluster, chaos, secure, sentinel)" >&2; exit 2 ;; esac
done

ensure_binaries
if want single; then single; fi
if want cluster; then cluster cluster 7000 7001 7002 7003 7004 7005; fi
if want chaos; then cluster chaos 7100 7101 7102 7103 7104 7105; fi
if want secure || want sentinel; then tls_material; fi
if want secure; then
  secure_single
  secure_cluster
fi
if want sentinel; then bash "$HERE/redis-sentinel.sh"; fi

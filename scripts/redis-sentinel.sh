#!/usr/bin/env bash
# Starts the Sentinel sets the tests need, on loopback, and waits until each is ready; called by
# redis-up.sh. Idempotent: a set whose sentinels agree on a master that has its replica is reused
# (after a failover test the master may be the other node: clients ask the sentinels anyway).
#   sentinel        : master 6400, replica 6401, sentinels 26400-26402, master name "redstream"
#   sentinel-chaos  : master 6410, replica 6411, sentinels 26410-26412, "redstream-chaos" (failover tests)
#   tls-sentinel    : master 6420, replica 6421 (TLS + ACL), one sentinel on 26420 (TLS, its own
#                     ACL user), "redstream-tls"
set -euo pipefail

DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# Test-only credentials; tests read the same values.
SENTINEL_USER=redstream-sentinel
SENTINEL_PASSWORD=redstream-sentinel-secret
mkdir -p "$DIR"

log() { printf 'redis:up: %s\n' "$*"; }

cli() { # cli plain|secure <port> <args...>
  local kind=$1 port=$2; shift 2
  if [ "$kind" = secure ]; then
    redis-cli --tls --cacert "$DIR/tls/ca.crt" --user redstream-app --pass redstream-test-secret --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$port" "$@"
  fi
}

sentinel_cli() { # sentinel_cli plain|secure <port> <args...>
  local kind=$1 port=$2; shift 2
  if [ "$kind" = secure ]; then
    redis-cli --tls --cacert "$DIR/tls/ca.crt" --user "$SENTINEL_USER" --pass "$SENTINEL_PASSWORD" --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$port" "$@"
  fi
}

wait_until() { # wait_until <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

# healthy <kind> <name> <sentinel ports...>: every sentinel names the same master, which has a
# connected replica, and knows all the other sentinels.
healthy() {
  local kind=$1 name=$2; shift 2
  local port addr first="" others=$(($# - 1))
  for port in "$@"; do
    addr=$(sentinel_cli "$kind" "$port" SENTINEL get-master-addr-by-name "$name" 2>/dev/null | tr '\n' ':') || return 1
    [ -n "$addr" ] || return 1
    [ -z "$first" ] && first=$addr
    [ "$addr" = "$first" ] || return 1
    sentinel_cli "$kind" "$port" SENTINEL master "$name" 2>/dev/null | tr '\n' ' ' | grep -q "num-other-sentinels $others " || return 1
  done
  local master_port
  master_port=$(cut -d: -f2 <<<"$first")
  cli "$kind" "$master_port" INFO replication 2>/dev/null | grep -q '^role:master' || return 1
  cli "$kind" "$master_port" INFO replication 2>/dev/null | grep -q '^connected_slaves:1' || return 1
  cli "$kind" "$master_port" INFO replication 2>/dev/null | grep -q 'state=online' || return 1
}

stop_port() { # stop_port <kind> <port>
  cli "$1" "$2" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  if [ -s "$DIR/redis-$2.pid" ]; then kill "$(cat "$DIR/redis-$2.pid")" 2>/dev/null || true; fi
  wait_until 10 bash -c "! (echo > /dev/tcp/127.0.0.1/$2) 2>/dev/null" || true
}

# sentinel_set <label> <plain|secure> <name> <master> <replica> <sentinel ports...>
sentinel_set() {
  local label=$1 kind=$2 name=$3 master=$4 replica=$5; shift 5
  local sentinels=("$@") port quorum=$(( $# / 2 + 1 ))
  if healthy "$kind" "$name" "${sentinels[@]}"; then log "$label ($name): already running (reused)"; return; fi
  # Anything half-made (a test that died mid-failover) is rebuilt from scratch.
  for port in "${sentinels[@]}"; do
    sentinel_cli "$kind" "$port" SHUTDOWN >/dev/null 2>&1 || true
    if [ -s "$DIR/redis-$port.pid" ]; then kill "$(cat "$DIR/redis-$port.pid")" 2>/dev/null || true; fi
    wait_until 10 bash -c "! (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null" || true
    rm -f "$DIR/sentinel-$port.conf"
  done
  stop_port "$kind" "$master"
  stop_port "$kind" "$replica"
  local node=plain
  [ "$kind" = secure ] && node=secure
  bash "$HERE/redis-node.sh" "$node" "$master"
  bash "$HERE/redis-node.sh" "$node" "$replica" "$master"
  for port in "${sentinels[@]}"; do
    bash "$HERE/redis-node.sh" "$node-sentinel" "$port" "$name" "$master" "$quorum"
  done
  wait_until 30 healthy "$kind" "$name" "${sentinels[@]}" \
    || { echo "redis:up: $label did not get ready; see $DIR/redis-${sentinels[0]}.log" >&2; exit 1; }
  log "$label ($name): started (master $master, replica $replica, sentinels ${sentinels[*]})"
}

sentinel_set sentinel plain redstream 6400 6401 26400 26401 26402
sentinel_set sentinel-chaos plain redstream-chaos 6410 6411 26410 26411 26412
sentinel_set tls-sentinel secure redstream-tls 6420 6421 26420

#!/usr/bin/env bash
# Starts one Redis node on loopback the way redis-up.sh does, so tests can restart a node they
# killed with exactly its original settings.
#   redis-node.sh plain <port>            a stand-alone node
#   redis-node.sh cluster <port>          a cluster node (its nodes-<port>.conf is kept, so it rejoins)
#   redis-node.sh secure <port>           TLS only (no plaintext port), ACL user only (default user off)
#   redis-node.sh secure-cluster <port>   the same, as a cluster node with TLS on the cluster bus
#   redis-node.sh plain|secure <port> <master-port>
#                                         a replica of the node on <master-port>
#   redis-node.sh plain-sentinel|secure-sentinel <port> <master-name> <master-port> <quorum>
#                                         a Sentinel monitoring that master (quick failover timeouts,
#                                         for tests); the secure one speaks TLS, has its own ACL user
#                                         and reaches the master with the app's credentials
set -euo pipefail
DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
# Test-only credentials of the secure topology; tests read the same values.
SECURE_USER=redstream-app
SECURE_PASSWORD=redstream-test-secret
SENTINEL_USER=redstream-sentinel
SENTINEL_PASSWORD=redstream-sentinel-secret
mkdir -p "$DIR"
kind=$1 port=$2
TLS="$DIR/tls"

wait_for_ping() { # wait_for_ping <redis-cli args...>
  for _ in $(seq 1 100); do
    "$@" PING 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  echo "redis-node: $kind on port $port did not start; see $DIR/redis-$port.log" >&2
  exit 1
}

if [[ "$kind" == *-sentinel ]]; then
  name=$3 master=$4 quorum=$5
  conf="$DIR/sentinel-$port.conf"
  # Sentinel rewrites its configuration file as it learns the topology; it lives with the rest.
  {
    echo "bind 127.0.0.1"
    echo "daemonize yes"
    echo "dir $DIR"
    echo "logfile $DIR/redis-$port.log"
    echo "pidfile $DIR/redis-$port.pid"
    if [ "$kind" = secure-sentinel ]; then
      echo "port 0"
      echo "tls-port $port"
      echo "tls-cert-file $TLS/redis.crt"
      echo "tls-key-file $TLS/redis.key"
      echo "tls-ca-cert-file $TLS/ca.crt"
      echo "tls-auth-clients no"
      echo "tls-replication yes"
      echo "user default off"
      echo "user $SENTINEL_USER on >$SENTINEL_PASSWORD ~* &* +@all"
    else
      echo "port $port"
    fi
    echo "sentinel monitor $name 127.0.0.1 $master $quorum"
    echo "sentinel down-after-milliseconds $name 1000"
    echo "sentinel failover-timeout $name 2000"
    echo "sentinel parallel-syncs $name 1"
    if [ "$kind" = secure-sentinel ]; then
      echo "sentinel auth-user $name $SECURE_USER"
      echo "sentinel auth-pass $name $SECURE_PASSWORD"
    fi
  } >"$conf"
  redis-server "$conf" --sentinel
  if [ "$kind" = secure-sentinel ]; then
    wait_for_ping redis-cli --tls --cacert "$TLS/ca.crt" --user "$SENTINEL_USER" --pass "$SENTINEL_PASSWORD" --no-auth-warning -h 127.0.0.1 -p "$port"
  else
    wait_for_ping redis-cli -h 127.0.0.1 -p "$port"
  fi
  exit 0
fi
# Nothing is kept on disk: no snapshots, no AOF, and replicas load a full sync straight into
# memory (a shared RDB file would otherwise be loaded by the next node started in this folder).
rm -f "$DIR/dump-$port.rdb"
args=(--port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no
  --dir "$DIR" --dbfilename "dump-$port.rdb" --repl-diskless-load swapdb
  --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid")
ping=(redis-cli -h 127.0.0.1 -p "$port")
if [[ "$kind" == secure* ]]; then
  args=(--port 0 --tls-port "$port" "${args[@]:2}"
    --tls-cert-file "$TLS/redis.crt" --tls-key-file "$TLS/redis.key" --tls-ca-cert-file "$TLS/ca.crt"
    --tls-auth-clients no --tls-replication yes
    --user default off --user "$SECURE_USER" on ">$SECURE_PASSWORD" '~*' '&*' '+@all')
  ping=(redis-cli --tls --cacert "$TLS/ca.crt" --user "$SECURE_USER" --pass "$SECURE_PASSWORD" --no-auth-warning -h 127.0.0.1 -p "$port")
fi
if [[ "$kind" == *cluster ]]; then
  args+=(--cluster-enabled yes --cluster-config-file "$DIR/nodes-$port.conf"
    --cluster-node-timeout 2000 --cluster-replica-validity-factor 0)
  [[ "$kind" == secure* ]] && args+=(--tls-cluster yes)
fi
if [ -n "${3:-}" ]; then
  args+=(--replicaof 127.0.0.1 "$3")
  [[ "$kind" == secure* ]] && args+=(--masteruser "$SECURE_USER" --masterauth "$SECURE_PASSWORD")
fi
redis-server "${args[@]}"
wait_for_ping "${ping[@]}"

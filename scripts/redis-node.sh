#!/usr/bin/env bash
# Starts one Redis node on loopback the way redis-up.sh does, so tests can restart a node they
# killed with exactly its original settings.
#   redis-node.sh plain <port>            a stand-alone node
#   redis-node.sh cluster <port>          a cluster node (its nodes-<port>.conf is kept, so it rejoins)
#   redis-node.sh secure <port>           TLS only (no plaintext port), ACL user only (default user off)
#   redis-node.sh secure-cluster <port>   the same, as a cluster node with TLS on the cluster bus
set -euo pipefail
DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
# Test-only credentials of the secure topology; tests read the same values.
SECURE_USER=redstream-app
SECURE_PASSWORD=redstream-test-secret
mkdir -p "$DIR"
kind=$1 port=$2
# Nothing is kept on disk: no snapshots, no AOF, and replicas load a full sync straight into
# memory (a shared RDB file would otherwise be loaded by the next node started in this folder).
rm -f "$DIR/dump-$port.rdb"
args=(--port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no
  --dir "$DIR" --dbfilename "dump-$port.rdb" --repl-diskless-load swapdb
  --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid")
ping=(redis-cli -h 127.0.0.1 -p "$port")
if [[ "$kind" == secure* ]]; then
  TLS="$DIR/tls"
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
redis-server "${args[@]}"
for _ in $(seq 1 100); do
  "${ping[@]}" PING 2>/dev/null | grep -q PONG && exit 0
  sleep 0.1
done
echo "redis-node: node on port $port did not start; see $DIR/redis-$port.log" >&2
exit 1

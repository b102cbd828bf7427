#!/usr/bin/env bash
# Starts one Redis node on loopback the way redis-up.sh does, so tests can restart a node they
# killed with exactly its original settings.
#   redis-node.sh plain <port>     a stand-alone node
#   redis-node.sh cluster <port>   a cluster node (its nodes-<port>.conf is kept, so it rejoins)
set -euo pipefail
DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
mkdir -p "$DIR"
kind=$1 port=$2
args=(--port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no
  --dir "$DIR" --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid")
if [ "$kind" = cluster ]; then
  args+=(--cluster-enabled yes --cluster-config-file "$DIR/nodes-$port.conf"
    --cluster-node-timeout 2000 --cluster-replica-validity-factor 0)
fi
redis-server "${args[@]}"
for _ in $(seq 1 100); do
  redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null | grep -q PONG && exit 0
  sleep 0.1
done
echo "redis-node: node on port $port did not start; see $DIR/redis-$port.log" >&2
exit 1

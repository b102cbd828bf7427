#!/usr/bin/env bash
# Stops the Redis processes redis:up started (never the shared server on 6379 it reused).
set -uo pipefail
DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
pids=()
for pidfile in "$DIR"/redis-*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  # SIGTERM: Redis shuts down cleanly; with no save points it writes nothing.
  if kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
  rm -f "$pidfile"
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
rm -f "$DIR"/nodes-*.conf "$DIR"/dump-*.rdb "$DIR"/sentinel-*.conf
echo "redis:down: stopped ${#pids[@]} Redis processes started in $DIR"

#!/usr/bin/env bash
# Stops the Redis processes redis:up started (never the shared server on 6379 it reused).
set -uo pipefail
DIR="${REDSTREAM_REDIS_DIR:-/tmp/redstream-redis}"
for pidfile in "$DIR"/redis-*.pid; do
  [ -e "$pidfile" ] || continue
  port=$(basename "$pidfile" .pid); port=${port#redis-}
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
done
rm -f "$DIR"/nodes-*.conf
echo "redis:down: stopped what redis:up started in $DIR"

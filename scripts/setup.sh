#!/usr/bin/env bash
# What the tests need besides npm packages: redis-server, redis-cli, openssl and Debian's Chromium
# (the browser tests drive it through playwright-core), installed with apt-get when missing; then
# every local Redis topology (redis-up.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: install ${missing[*]} (apt-get, as root) and run again" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash "$HERE/redis-up.sh"

#!/usr/bin/env bash
# The echo throughput cost of FANOUT_REDIS_MIN_REPLICAS=1 (BENCHMARKS.md, "Redis high
# availability"): one master and one replica (redis-server, no persistence), one echo worker, and
# two edges on the same master — one with FANOUT_REDIS_MIN_REPLICAS=1 (every write batch waits for
# `WAIT 1`), one without — measured alternately by the same client in one run:
#
#   bash scripts/bench-min-replicas.sh [--rounds N] [--duration S] [--no-build]
#
# Each round runs `fanout bench echo-closed -c 50 --payload 64 --duration S --warmup 2` against
# the plain edge, then against the WAIT edge. Every process it starts is stopped by PID on exit.
# FANOUT_BENCH_BIN=PATH picks the binary (default .build/release/fanout, built here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=2 duration=8 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --no-build) build=0 ;;
    *) echo "bench-min-replicas: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then swift build -c release --product fanout 2>&1 | grep -E "error|Build complete" || true; fi
fanout=${FANOUT_BENCH_BIN:-.build/release/fanout}
[ -x "$fanout" ] || { echo "bench-min-replicas: $fanout missing (build first)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# shellcheck source=scripts/lib/ports.sh
source scripts/lib/ports.sh

master=$(free_port) replica=$(free_port) plain=$(free_port) waiting=$(free_port)
redis-server --port "$master" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning >"$work/master.log" 2>&1 &
pids+=($!); wait_port "$master"
mkdir -p "$work/replica"
redis-server --port "$replica" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/replica" --loglevel warning \
  --replicaof 127.0.0.1 "$master" >"$work/replica.log" 2>&1 &
pids+=($!); wait_port "$replica"
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$master" wait 1 100)" = 1 ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$master" wait 1 100)" = 1 ] || { echo "bench-min-replicas: the replica never synced" >&2; exit 1; }

export FANOUT_REDIS_URL="redis://127.0.0.1:$master" FANOUT_KEY_PREFIX="bench$$" FANOUT_LOG_LEVEL=warning FANOUT_RATE_LIMIT=0
"$fanout" edge --port "$plain" --edge-id plain >"$work/plain.log" 2>&1 &
pids+=($!)
FANOUT_REDIS_MIN_REPLICAS=1 "$fanout" edge --port "$waiting" --edge-id waiting >"$work/waiting.log" 2>&1 &
pids+=($!)
"$fanout" worker --handler echo --metrics-port 0 >"$work/worker.log" 2>&1 &
pids+=($!)
wait_port "$plain"; wait_port "$waiting"
sleep 1  # the worker's first XREADGROUP; the bench's warm-up absorbs the rest

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2) · load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  for edge in plain waiting; do
    port=$plain
    label="FANOUT_REDIS_MIN_REPLICAS=0"
    if [ "$edge" = waiting ]; then port=$waiting label="FANOUT_REDIS_MIN_REPLICAS=1"; fi
    echo "== round $round, $label: fanout bench echo-closed --url ws://127.0.0.1:$port/ws -c 50 --payload 64 --duration $duration --warmup 2"
    "$fanout" bench echo-closed --url "ws://127.0.0.1:$port/ws" -c 50 --payload 64 --duration "$duration" --warmup 2
  done
done

#!/usr/bin/env bash
# Soak test (issue 13): steady load on one edge and two workers for MINUTES minutes, printing the
# edge's and the workers' RSS (and Redis's used_memory) every minute, then what every load lost.
#
#   bash scripts/soak.sh MINUTES [--no-build]
#
# Load, all at once, all on loopback (`fanout bench`, each its own process):
#   - echo at 2,000 msgs/s over 100 connections (echo-open),
#   - 5,000 idle connections held open (conns --hold),
#   - a chat room of 100 members, one publisher at 20 msgs/s (fanout),
#   - 500 connections/s of churn: opened, echoed once, closed (churn --round-interval 1).
# Workers run the `echo-chat` handler (chat for JSON objects, echo otherwise). Not part of CI: a
# 30-minute run is recorded in BENCHMARKS.md. Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=${1:?usage: bash scripts/soak.sh MINUTES [--no-build]}
build=1
[ "${2:-}" = "--no-build" ] && build=0
seconds=$((minutes * 60))

if [ "$build" = 1 ]; then swift build -c release --scratch-path .build-release 2>&1 | grep -E "error|Build complete" || true; fi
fanout=${FANOUT_BENCH_BIN:-.build-release/release/fanout}
[ -x "$fanout" ] || { echo "soak: $fanout missing (build first)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "soak: logs and results were in $work (removed)"
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# shellcheck source=scripts/lib/ports.sh
source scripts/lib/ports.sh
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "-"; }

redis_port=$(free_port) edge_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!); wait_port "$redis_port"
export FANOUT_REDIS_URL="redis://127.0.0.1:$redis_port" FANOUT_KEY_PREFIX="soak$$" FANOUT_LOG_LEVEL=warning
export FANOUT_MAX_CONNECTIONS=20000 FANOUT_RATE_LIMIT=0
"$fanout" edge --port "$edge_port" >"$work/edge.log" 2>&1 &
edge_pid=$!; pids+=($edge_pid); wait_port "$edge_port"
worker_pids=()
for index in 1 2; do
  "$fanout" worker --handler echo-chat --metrics-port 0 >>"$work/worker$index.log" 2>&1 &
  worker_pids+=($!); pids+=($!)
done
sleep 1
url="ws://127.0.0.1:$edge_port/ws"

echo "soak: $minutes min against $url (edge $edge_pid, workers ${worker_pids[*]})"
"$fanout" bench echo-open --url "$url" -c 100 --rate 2000 --duration "$seconds" --warmup 1 --json >"$work/echo.json" 2>"$work/echo.err" &
loads=($!); pids+=($!)
"$fanout" bench conns --url "$url" -c 5000 --hold "$seconds" --connect-concurrency 256 --json >"$work/idle.json" 2>"$work/idle.err" &
loads+=($!); pids+=($!)
"$fanout" bench fanout --url "$url" --members 100 --publishers 1 --rate 20 --room soak --duration "$seconds" --warmup 1 --json >"$work/room.json" 2>"$work/room.err" &
loads+=($!); pids+=($!)
"$fanout" bench churn --url "$url" -c 500 --rounds "$seconds" --round-interval 1 --edge-pid "$edge_pid" --json >"$work/churn.json" 2>"$work/churn.err" &
loads+=($!); pids+=($!)

printf '| minute | edge RSS KiB | worker 1 RSS KiB | worker 2 RSS KiB | redis used_memory |\n|---|---|---|---|---|\n'
for minute in $(seq 0 "$minutes"); do
  used=$(redis-cli -p "$redis_port" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
  printf '| %s | %s | %s | %s | %s |\n' "$minute" "$(rss "$edge_pid")" "$(rss "${worker_pids[0]}")" "$(rss "${worker_pids[1]}")" "$used"
  [ "$minute" = "$minutes" ] || sleep 60
done
status=0
for pid in "${loads[@]}"; do wait "$pid" || status=1; done
for name in echo idle room churn; do
  python3 - "$name" "$work/$name.json" <<'PY' || status=1
import json, sys
name, path = sys.argv[1], sys.argv[2]
try:
    report = json.loads(open(path).read().strip().splitlines()[-1])
except Exception as error:
    print(f"soak: {name}: no result ({error})"); sys.exit(1)
print(f'soak: {name:5} {report["mode"]:11} sent {report["sent"]:>9} received {report["received"]:>9} lost {report["lost"]} '
      f'mismatched {report["mismatches"]} errors {report["errors"]} p99 {report["latency"]["p99"]:.2f} ms')
sys.exit(0 if report["lost"] == 0 and report["mismatches"] == 0 and report["errors"] == 0 else 1)
PY
done
exit $status

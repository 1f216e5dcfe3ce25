#!/usr/bin/env bash
# What room history costs (issue 15): fan-out (1,000 members, 100 msgs/s) and echo through one edge
# and one worker, with history on (FANOUT_HISTORY_SIZE=100) and off (0), alternating in one run so
# both see the same machine. Same processes and method as scripts/bench.sh (release build in
# .build-release, its own redis-server with persistence off, one edge, FANOUT_RATE_LIMIT=0); only
# the worker is restarted with the other setting between runs.
#
#   bash scripts/bench-history.sh [--rounds N] [--no-build] [--quick] [--members M --publishers P --rate R]
#
# --members/--publishers/--rate change the fan-out run (default 1000/1/100, the issue's bar); a
# small room at a high rate (--members 50 --publishers 5 --rate 2000) stresses the history script.
#
# Prints one line per run, then a table (median of the rounds per setting) recorded in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=10 warmup=2 rounds=2 build=1 members=1000 publishers=1 rate=100 echo=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=3 warmup=1 ;;
    --rounds) rounds="$2"; shift ;;
    --no-build) build=0 ;;
    --members) members="$2"; shift ;;
    --publishers) publishers="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --no-echo) echo=0 ;;
    *) echo "bench-history: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then swift build -c release --scratch-path .build-release 2>&1 | grep -E "error|Build complete" || true; fi
fanout=${FANOUT_BENCH_BIN:-.build-release/release/fanout}
[ -x "$fanout" ] || { echo "bench-history: $fanout missing (build first)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
worker_pid=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "bench-history: nothing listens on $1" >&2; exit 1; }

redis_port=$(free_port) edge_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning >"$work/redis.log" 2>&1 &
redis_pid=$!; pids+=($redis_pid); wait_port "$redis_port"
export FANOUT_REDIS_URL="redis://127.0.0.1:$redis_port" FANOUT_KEY_PREFIX="bench$$" FANOUT_LOG_LEVEL=warning
export FANOUT_MAX_CONNECTIONS=20000 FANOUT_RATE_LIMIT=0
"$fanout" edge --port "$edge_port" >"$work/edge.log" 2>&1 &
edge_pid=$!; pids+=($edge_pid); wait_port "$edge_port"
edge="ws://127.0.0.1:$edge_port/ws"

start_worker() {  # handler history-size
  if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; fi
  FANOUT_HISTORY_SIZE=$2 "$fanout" worker --handler "$1" --metrics-port 0 >>"$work/worker.log" 2>&1 &
  worker_pid=$!; pids+=($worker_pid)
  sleep 1
}

results=$work/results.jsonl
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run() {  # label mode [options…]
  local label=$1 mode=$2; shift 2
  echo "== $label: fanout bench $mode --url $edge --duration $duration --warmup $warmup $*" >&2
  "$fanout" bench "$mode" --url "$edge" --duration "$duration" --warmup "$warmup" --json "$@" \
    --watch "edge=$edge_pid" --watch "worker=$worker_pid" --watch "redis=$redis_pid" \
    | jq -c --arg run "$label" '. + {"label": $run}' >>"$results" \
    || echo "{\"label\":\"$label\",\"mode\":\"$mode\",\"failed\":true}" >>"$results"
}

for round in $(seq 1 "$rounds"); do
  for size in 100 0; do
    label="history $([ "$size" = 0 ] && echo off || echo on)"
    start_worker chat "$size"
    run "$label" fanout --members "$members" --publishers "$publishers" --rate "$rate" --room "r$round-$size"
    if [ "$echo" = 1 ]; then
      start_worker echo "$size"
      run "$label" echo-closed -c 50 --payload 64
    fi
  done
done
kill "$worker_pid" 2>/dev/null || true
# Gaps the edge filled from history during the runs (0 expected: nothing was lost on the way).
fills=$(curl -s "http://127.0.0.1:$edge_port/metrics" | awk '/^fanout_edge_history_(fills|losses)_total/ { printf "%s=%s ", $1, $2 }')

{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2) · load average before: $load_before · $rounds rounds, ${duration} s each · ${fills:-no history fills}"
  python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
head = ["run", "mode", "throughput", "p50 ms", "p99 ms", "max ms", "sent", "lost", "CPU µs/msg"]
table = [head]
for r in rows:
    if r.get("failed"):
        table.append([r["label"], r["mode"], "FAILED"] + [""] * (len(head) - 3)); continue
    cpu = r.get("cpuMicrosecondsPerMessage") or {}
    unit = "deliv/s" if r["mode"] == "fanout" else "msgs/s"
    lat = r["latency"]
    table.append([r["label"], r["mode"], f'{r["throughput"]:,.0f} {unit}', f'{lat["p50"]:.3f}', f'{lat["p99"]:.3f}',
                  f'{lat["max"]:.3f}', str(r["sent"]), str(r["lost"]), " ".join(f'{k} {v:.1f}' for k, v in sorted(cpu.items()))])
for mode in ("fanout", "echo-closed"):
    for label in ("history on", "history off"):
        runs = [r for r in rows if r.get("label") == label and r["mode"] == mode and not r.get("failed")]
        if not runs: continue
        table.append([f"median, {label}", mode, f'{statistics.median(r["throughput"] for r in runs):,.0f}',
                      f'{statistics.median(r["latency"]["p50"] for r in runs):.3f}', f'{statistics.median(r["latency"]["p99"] for r in runs):.3f}',
                      "", "", str(sum(r["lost"] for r in runs)), ""])
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
for row in table:
    print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
    if row is head: print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
PY
} | tee "$work/table.txt"

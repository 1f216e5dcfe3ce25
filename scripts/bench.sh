#!/usr/bin/env bash
# The performance bar of BENCHMARKS.md in one run: the direct reference server (a WebSocket echo
# and chat server on raw SwiftNIO, no queue: `fanout bench direct`), the Hummingbird ceiling, and
# the full pipeline (redis-server + edge + worker), measured by the same client, one after the
# other, per mode.
#
#   bash scripts/bench.sh [--quick | --smoke] [--no-build] [--out FILE.jsonl] [--pairs N]
#
# Builds `fanout` in release mode, starts its own redis-server, direct server, ceiling, edge and
# workers on free loopback ports, runs every mode against them, and prints one table with each
# result as a ratio to the direct server, and the CPU each process used per message inside the
# measured window (from /proc/PID/stat: edge, worker, redis; the server itself for the others).
# Every process it starts is stopped by PID on exit. --quick shortens every run (3 s instead of
# 10 s, 5,000 idle connections, 3 churn rounds of 2,000) for a check, not a record; --smoke runs
# each for half a second (checks the script). FANOUT_BENCH_BIN=PATH picks the binary.
# The echo modes also run against a second pipeline with the lingers set (FANOUT_APPEND_LINGER_US=500,
# FANOUT_BATCH_LINGER_MS=2; adaptive by default, decision 0046), in the table and in --pairs.
# --pairs N runs only the echo modes, N rounds of [direct, pipeline] back to back, each ratio to
# the direct run of its own round, then the medians: on a virtual machine whose speed drifts by a
# quarter from one minute to the next, a single pair can land on either side of a bar.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=10 warmup=2 conns=10000 churn_conns=8000 churn_rounds=10 build=1 out="" pairs=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=3 warmup=1 conns=5000 churn_conns=2000 churn_rounds=3 ;;
    --smoke) duration=0.5 warmup=0.2 conns=200 churn_conns=100 churn_rounds=2 ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    --pairs) pairs="$2"; shift; [[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --pairs needs a positive number" >&2; exit 2; } ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then swift build -c release --scratch-path .build-release 2>&1 | grep -E "error|Compiling FanoutCLI|Build complete" || true; fi
fanout=${FANOUT_BENCH_BIN:-.build-release/release/fanout}
[ -x "$fanout" ] || { echo "bench: $fanout missing (build first)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

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

redis_port=$(free_port) ceiling_port=$(free_port) direct_port=$(free_port) edge_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning >"$work/redis.log" 2>&1 &
redis_pid=$!; pids+=($redis_pid); wait_port "$redis_port"
"$fanout" bench ceiling --port "$ceiling_port" >"$work/ceiling.log" 2>&1 &
ceiling_pid=$!; pids+=($ceiling_pid); wait_port "$ceiling_port"
"$fanout" bench direct --port "$direct_port" >"$work/direct.log" 2>&1 &
direct_pid=$!; pids+=($direct_pid); wait_port "$direct_port"

export FANOUT_REDIS_URL="redis://127.0.0.1:$redis_port" FANOUT_KEY_PREFIX="bench$$" FANOUT_LOG_LEVEL=warning
export FANOUT_MAX_CONNECTIONS=20000
# A load generator sends far more per connection than the default rate limit allows a person.
export FANOUT_RATE_LIMIT=0
# One event loop for the edge: on this two-core box it shares the cores with Redis, the worker and
# the load generator, and one loop batches twice as many frames per wake-up as two (echo-open at
# 10,000 msgs/s: edge 24 µs/msg with one loop, 40 µs with two, BENCHMARKS.md). The default is one
# loop per core, right for an edge with a machine of its own. FANOUT_EVENT_LOOPS=N overrides.
export FANOUT_EVENT_LOOPS=${FANOUT_EVENT_LOOPS:-1}
"$fanout" edge --port "$edge_port" >"$work/edge.log" 2>&1 &
edge_pid=$!; pids+=($edge_pid); wait_port "$edge_port"
# A second pipeline with the lingers set (decision 0046; off by default): its own key prefix, edge
# and worker, idle while the first is measured. Adaptive, the lingers leave a closed loop alone
# and take CPU off an open one, for latency.
lingers="FANOUT_APPEND_LINGER_US=500 FANOUT_BATCH_LINGER_MS=2"
lingers_label="pipeline, lingers 500 µs / 2 ms"
lingers_port=$(free_port)
env FANOUT_KEY_PREFIX="bench$$l" $lingers "$fanout" edge --port "$lingers_port" >"$work/edge-lingers.log" 2>&1 &
lingers_edge_pid=$!; pids+=($lingers_edge_pid); wait_port "$lingers_port"
env FANOUT_KEY_PREFIX="bench$$l" $lingers "$fanout" worker --handler echo --metrics-port 0 >"$work/worker-lingers.log" 2>&1 &
lingers_worker_pid=$!; pids+=($lingers_worker_pid)

worker_pids=()
start_workers() {  # handler count
  stop_workers
  for _ in $(seq 1 "$2"); do
    "$fanout" worker --handler "$1" --metrics-port 0 >>"$work/worker.log" 2>&1 &
    worker_pids+=($!); pids+=($!)
  done
  sleep 1  # the workers' first XREADGROUP; the bench's own warm-up absorbs the rest
}
stop_workers() {
  for pid in "${worker_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  worker_pids=()
}

load_before=$(cut -d" " -f1-3 /proc/loadavg)
results="$work/results.jsonl"
: >"$results"
run() {  # label mode url [options…]
  local label=$1 mode=$2 url=$3; shift 3
  echo "== $label: fanout bench $mode --url $url $*" >&2
  "$fanout" bench "$mode" --url "$url" --duration "$duration" --warmup "$warmup" --json "$@" \
    | jq -c --arg run "$label" --argjson round "${round:-0}" '. + {"label": $run, "round": $round}' >>"$results" \
    || echo "{\"label\":\"$label\",\"mode\":\"$mode\",\"failed\":true}" >>"$results"
}
ceiling="ws://127.0.0.1:$ceiling_port/ws" direct="ws://127.0.0.1:$direct_port/ws" edge="ws://127.0.0.1:$edge_port/ws"
# CPU inside each measured window, per process: the pipeline's three, or the server alone.
pipeline_watch() { echo --watch "edge=$edge_pid" --watch "worker=${worker_pids[0]}" --watch "redis=$redis_pid"; }
lingers_watch() { echo --watch "edge=$lingers_edge_pid" --watch "worker=$lingers_worker_pid" --watch "redis=$redis_pid"; }
lingers_url="ws://127.0.0.1:$lingers_port/ws"

start_workers echo 1
if [ "$pairs" -gt 0 ]; then
  for round in $(seq 1 "$pairs"); do
    run "direct" echo-closed "$direct" -c 50 --payload 64 --watch "server=$direct_pid"
    run "pipeline" echo-closed "$edge" -c 50 --payload 64 $(pipeline_watch)
    run "$lingers_label" echo-closed "$lingers_url" -c 50 --payload 64 $(lingers_watch)
    run "direct" echo-open "$direct" -c 100 --rate 10000 --watch "server=$direct_pid"
    run "pipeline" echo-open "$edge" -c 100 --rate 10000 $(pipeline_watch)
    run "$lingers_label" echo-open "$lingers_url" -c 100 --rate 10000 $(lingers_watch)
  done
  round=0
else
run "direct" echo-closed "$direct" -c 50 --payload 64 --watch "server=$direct_pid"
run "ceiling" echo-closed "$ceiling" -c 50 --payload 64 --watch "server=$ceiling_pid"
run "pipeline" echo-closed "$edge" -c 50 --payload 64 $(pipeline_watch)
run "direct" echo-open "$direct" -c 100 --rate 10000 --watch "server=$direct_pid"
run "ceiling" echo-open "$ceiling" -c 100 --rate 10000 --watch "server=$ceiling_pid"
run "pipeline" echo-open "$edge" -c 100 --rate 10000 $(pipeline_watch)
run "$lingers_label" echo-closed "$lingers_url" -c 50 --payload 64 $(lingers_watch)
run "$lingers_label" echo-open "$lingers_url" -c 100 --rate 10000 $(lingers_watch)
run "direct" conns "$direct" -c "$conns" --edge-pid "$direct_pid" --connect-concurrency 512
run "ceiling" conns "$ceiling" -c "$conns" --edge-pid "$ceiling_pid" --connect-concurrency 512
run "pipeline" conns "$edge" -c "$conns" --edge-pid "$edge_pid" --connect-concurrency 512
run "direct" churn "$direct" -c "$churn_conns" --rounds "$churn_rounds" --edge-pid "$direct_pid" --connect-concurrency 512
run "pipeline" churn "$edge" -c "$churn_conns" --rounds "$churn_rounds" --edge-pid "$edge_pid" --connect-concurrency 512
start_workers chat 1
run "direct" fanout "$direct" --members 1000 --publishers 1 --rate 100 --room direct --watch "server=$direct_pid"
run "ceiling" fanout "$ceiling" --members 1000 --publishers 1 --rate 100 --room ceiling --watch "server=$ceiling_pid"
run "pipeline" fanout "$edge" --members 1000 --publishers 1 --rate 100 --room pipeline $(pipeline_watch)
start_workers burn 1
run "burn, 1 worker" echo-closed "$edge" -c 100 --payload 64
start_workers burn 2
run "burn, 2 workers" echo-closed "$edge" -c 100 --payload 64
fi
stop_workers

# The raw results first: a table that cannot be printed must not take them with it.
if [ -n "$out" ]; then cp "$results" "$out"; fi
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · $(lscpu | sed -n 's/^Model name: *//p') · redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2) · load average before: $load_before"
  python3 - "$results" <<'PY'
import json, os, sys
def whole(r):  # (CPU µs per message of every process, the load generator's included; share of the machine busy)
    cpu, client = r.get("cpuMicrosecondsPerMessage"), r.get("clientCPUMicrosecondsPerMessage")
    if not cpu or client is None or not r.get("seconds"): return None
    total = sum(cpu.values()) + client
    return total, total * r["throughput"] / 1e6 / os.cpu_count()
def factors(cpu_factor, use_factor, pipeline, direct):  # the echo-closed ratio's two factors, as printed
    return (f"CPU factor {cpu_factor * 100:.0f} % (every process, client included: {pipeline[0]:.1f} µs/msg, direct {direct[0]:.1f}) "
            f"x machine-use factor {use_factor * 100:.0f} % (machine busy {pipeline[1] * 100:.0f} %, direct {direct[1] * 100:.0f} %)")
rows = [json.loads(line) for line in open(sys.argv[1])]
direct = {(r["mode"], r.get("round", 0)): r for r in rows if r.get("label") == "direct" and not r.get("failed")}
burn1 = next((r for r in rows if r.get("label") == "burn, 1 worker" and not r.get("failed")), None)
paired = any(r.get("round", 0) > 0 for r in rows)
head = (["round"] if paired else []) + ["run", "mode", "conns", "throughput", "ratio", "p50 ms", "p99 ms", "max ms", "sent", "lost", "mism", "err", "CPU µs/msg", "CPU % of a core", "RSS"]
table = [head]
for r in rows:
    lead = [str(r.get("round", 0))] if paired else []
    if r.get("failed"):
        table.append(lead + [r["label"], r["mode"], "FAILED"] + [""] * (len(head) - 3 - len(lead))); continue
    base = burn1 if r["label"].startswith("burn") else direct.get((r["mode"], r.get("round", 0)))
    ratio = f'{r["throughput"] / base["throughput"] * 100:.0f} %' if base else "-"
    lat = r["latency"]
    cpu = r.get("cpuMicrosecondsPerMessage") or {}
    cpu_text = " ".join(f'{k} {v:.1f}' for k, v in sorted(cpu.items()))
    if r.get("clientCPUMicrosecondsPerMessage") is not None: cpu_text = f'{cpu_text} client {r["clientCPUMicrosecondsPerMessage"]:.1f}'.strip()
    busy = r.get("cpuSeconds") or {}
    busy_text = f'{sum(busy.values()) / r["seconds"] * 100:.0f} %' if busy and r.get("seconds") else ""
    rss = ""
    if r.get("rssPerConnectionBytes") is not None: rss = f'{r["rssPerConnectionBytes"] / 1024:.2f} KiB/conn'
    if r.get("rssAfterRoundKiB"): rss = "KiB after rounds: " + " ".join(str(k) for k in r["rssAfterRoundKiB"])
    unit = dict(conns="conns/s", churn="conns/s", fanout="deliv/s").get(r["mode"], "msgs/s")
    table.append(lead + [r["label"], r["mode"], str(r["connections"]), f'{r["throughput"]:,.0f} {unit}', ratio,
                  f'{lat["p50"]:.3f}', f'{lat["p99"]:.3f}', f'{lat["max"]:.3f}',
                  str(r["sent"]), str(r["lost"]), str(r["mismatches"]), str(r["errors"]), cpu_text, busy_text, rss])
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
for row in table:
    print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
    if row is head: print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
print("ratio: throughput / the direct server's in the same mode (burn: / 1 worker's); CPU: inside the measured window, per message (fanout: per delivery); client: the load generator")
if not paired:
    for r in rows:
        d = direct.get((r["mode"], 0))
        if r["mode"] != "echo-closed" or not r["label"].startswith("pipeline") or not d: continue
        wp, wd = whole(r), whole(d)
        if wp and wd:
            print(f"{r['label']}, echo-closed: ratio {r['throughput'] / d['throughput'] * 100:.0f} % = "
                  + factors(wd[0] / wp[0], wp[1] / wd[1], wp, wd))
if paired:
    from statistics import median
    print()
    for label, mode in [(l, m) for l in dict.fromkeys(r["label"] for r in rows if r["label"].startswith("pipeline")) for m in ("echo-closed", "echo-open")]:
        pipes = [r for r in rows if r["label"] == label and r["mode"] == mode and not r.get("failed")]
        pairs = [(r, direct[(mode, r["round"])]) for r in pipes if (mode, r["round"]) in direct]
        if not pairs: continue
        ratios = [p["throughput"] / d["throughput"] * 100 for p, d in pairs]
        keys = set().union(*(p.get("cpuMicrosecondsPerMessage") or {} for p, _ in pairs))
        cpu = {k: median(v for p, _ in pairs if (v := (p.get("cpuMicrosecondsPerMessage") or {}).get(k)) is not None) for k in keys}
        busy = [sum(p["cpuSeconds"].values()) / p["seconds"] * 100 for p, _ in pairs if p.get("cpuSeconds") and p.get("seconds")] or [0]
        p99 = [p["latency"]["p99"] for p, _ in pairs]
        print(f"median of {len(pairs)} rounds, {label}, {mode}: ratio {median(ratios):.0f} % (range {min(ratios):.0f}-{max(ratios):.0f} %), "
              f"CPU µs/msg " + " ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items())) +
              f", edge+worker+redis {median(busy):.0f} % of a core, p99 {median(p99):.2f} ms (range {min(p99):.2f}-{max(p99):.2f}), lost {sum(p['lost'] for p, _ in pairs)}")
        # Throughput is the machine's busy share over the CPU all processes spend per message, so
        # the ratio to the direct server splits exactly into a CPU factor and a machine-use factor.
        split = [(whole(p), whole(d)) for p, d in pairs if mode == "echo-closed"]
        split = [(wp, wd) for wp, wd in split if wp and wd]
        if split:
            middle = lambda side: tuple(median(pair[side][i] for pair in split) for i in (0, 1))
            print("    = " + factors(median(wd[0] / wp[0] for wp, wd in split), median(wp[1] / wd[1] for wp, wd in split), middle(0), middle(1)))
PY
} | tee "$work/table.txt"

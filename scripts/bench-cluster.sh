#!/usr/bin/env bash
# Fanout on a Redis Cluster of 1, 2 and 3 masters (BENCHMARKS.md, "Redis Cluster"): for each
# size, a fresh cluster (redis-server --cluster-enabled yes, no persistence; slots split evenly with
# CLUSTER ADDSLOTSRANGE, nodes joined with CLUSTER MEET), one edge and one worker with
# FANOUT_STREAM_PARTITIONS=6, then
#   fanout bench echo-closed -c 50 --payload 64               (echo handler)
#   fanout bench fanout --members 1000 --publishers 1 --rate 100   (chat handler)
# with every Redis node, the edge and the worker watched (`--watch`): CPU per message per process.
# On a 2-core box the shards share the cores with everything else, so throughput cannot grow with
# shards here; what shards divide is Redis CPU per message, which this prints per node and in total.
#
#   bash scripts/bench-cluster.sh [--shards "1 2 3"] [--duration S] [--no-build]
#
# Every process it starts is stopped by PID on exit. FANOUT_BENCH_BIN=PATH picks the binary
# (default .build/release/fanout, built here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

shard_counts="1 2 3" duration=8 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shard_counts="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --no-build) build=0 ;;
    *) echo "bench-cluster: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v redis-cli >/dev/null || { echo "bench-cluster: redis-cli missing (bash scripts/install-deps.sh --run)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench-cluster: jq missing" >&2; exit 1; }

if [ "$build" = 1 ]; then swift build -c release --product fanout 2>&1 | grep -E "error|Build complete" || true; fi
fanout=${FANOUT_BENCH_BIN:-.build/release/fanout}
[ -x "$fanout" ] || { echo "bench-cluster: $fanout missing (build first)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap "exit 130" INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "bench-cluster: nothing listens on $1" >&2; exit 1; }

results="$work/results.jsonl"
: >"$results"
load_before=$(cut -d" " -f1-3 /proc/loadavg)
for shards in $shard_counts; do
  nodes=() buses=() watch=()
  for i in $(seq 1 "$shards"); do
    port=$(free_port) bus=$(free_port)
    mkdir -p "$work/s$shards-$i"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/s$shards-$i" --loglevel warning \
      --cluster-enabled yes --cluster-port "$bus" --cluster-require-full-coverage no >"$work/s$shards-$i/log" 2>&1 &
    pids+=($!); watch+=(--watch "redis$i=$!"); nodes+=("127.0.0.1:$port"); buses+=("$bus")
    wait_port "$port"
  done
  # Slots split evenly by hand (redis-cli --cluster create wants at least 3 masters), then every
  # node meets the first.
  for i in $(seq 0 $((shards - 1))); do
    redis-cli -p "${nodes[$i]##*:}" cluster addslotsrange $((i * 16384 / shards)) $(((i + 1) * 16384 / shards - 1)) >/dev/null
    [ "$i" = 0 ] || redis-cli -p "${nodes[$i]##*:}" cluster meet 127.0.0.1 "${nodes[0]##*:}" "${buses[0]}" >/dev/null
  done
  for _ in $(seq 1 100); do
    ok=1
    for node in "${nodes[@]}"; do
      info=$(redis-cli -p "${node##*:}" cluster info)
      grep -q '^cluster_state:ok' <<<"$info" && grep -q "^cluster_known_nodes:$shards" <<<"$info" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "bench-cluster: the $shards-node cluster did not form" >&2; exit 1; }
  url="redis-cluster://$(IFS=,; echo "${nodes[*]}")"
  edge_port=$(free_port)
  export FANOUT_REDIS_URL="$url" FANOUT_KEY_PREFIX="bench$$" FANOUT_LOG_LEVEL=warning FANOUT_RATE_LIMIT=0 FANOUT_STREAM_PARTITIONS=6
  "$fanout" edge --port "$edge_port" >"$work/edge-$shards.log" 2>&1 &
  edge_pid=$!; pids+=("$edge_pid")
  wait_port "$edge_port"
  for handler in echo chat; do
    "$fanout" worker --handler "$handler" --metrics-port 0 >"$work/worker-$shards-$handler.log" 2>&1 &
    worker_pid=$!; pids+=("$worker_pid")
    sleep 1  # the worker's first reads; the bench's warm-up absorbs the rest
    if [ "$handler" = echo ]; then
      mode=echo-closed args=(-c 50 --payload 64)
    else
      mode=fanout args=(--members 1000 --publishers 1 --rate 100)
    fi
    echo "== $shards shard(s), $mode: fanout bench $mode --url ws://127.0.0.1:$edge_port/ws ${args[*]}" >&2
    "$fanout" bench "$mode" --url "ws://127.0.0.1:$edge_port/ws" --duration "$duration" --warmup 2 --json "${args[@]}" \
      "${watch[@]}" --watch "edge=$edge_pid" --watch "worker=$worker_pid" \
      | jq -c --arg shards "$shards" '. + {"shards": ($shards | tonumber)}' >>"$results" \
      || echo "{\"shards\":$shards,\"mode\":\"$mode\",\"failed\":true}" >>"$results"
    kill "$worker_pid"; wait "$worker_pid" 2>/dev/null || true
  done
  stop_all
done

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2) · load average before: $load_before"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
head = ["shards", "mode", "throughput", "p50 ms", "p99 ms", "lost", "Redis µs/msg (total)", "per node", "edge µs/msg", "worker µs/msg"]
table = [head]
for r in rows:
    if r.get("failed"):
        table.append([str(r["shards"]), r["mode"], "FAILED"] + [""] * (len(head) - 3)); continue
    cpu = r.get("cpuMicrosecondsPerMessage") or {}
    redis = {k: v for k, v in cpu.items() if k.startswith("redis")}
    unit = "deliv/s" if r["mode"] == "fanout" else "msgs/s"
    table.append([str(r["shards"]), r["mode"], f'{r["throughput"]:,.0f} {unit}', f'{r["latency"]["p50"]:.3f}', f'{r["latency"]["p99"]:.3f}',
                  str(r["lost"]), f'{sum(redis.values()):.2f}', " ".join(f'{v:.2f}' for _, v in sorted(redis.items())),
                  f'{cpu.get("edge", 0):.1f}', f'{cpu.get("worker", 0):.1f}'])
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
for row in table:
    print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
    if row is head: print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
print("CPU inside the measured window per message (fanout: per delivery); per node: redis1 … redisN")
PY

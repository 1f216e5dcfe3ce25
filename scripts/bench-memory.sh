#!/usr/bin/env bash
# Redis's used_memory after N messages of S bytes went through the queue (issue 18): two runs,
# each on a fresh redis-server with W workers running the echo handler —
#   before: trimming off (FANOUT_TRIM_INTERVAL_MS=0), the behaviour before issue 18: the stream
#           is kept only by the edges' XADD MAXLEN ~ 1000000;
#   after:  trimming on, the defaults (FANOUT_STREAM_RETENTION=10000, every 1000 ms).
# The load (scripts/bench-memory-load.py) appends what an edge would, straight to the stream,
# holding the backlog under 100,000 as admission would; used_memory is read once the workers
# have drained it and 3 s have passed. Prints one line per run and the ratio.
#
#   bash scripts/bench-memory.sh [--messages N] [--bytes S] [--workers W] [--binary PATH] [--only before|after]
#
# Without --binary it builds `fanout` in release mode. Memory does not depend on the build; only
# the time does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
messages=1000000 bytes=1024 workers=2 fanout= only=
while (($#)); do
    case $1 in
        --messages) messages=$2; shift 2 ;;
        --bytes) bytes=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --binary) fanout=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "bench-memory: unknown argument $1" >&2; exit 2 ;;
    esac
done
bash scripts/install-deps.sh --run >/dev/null
if [[ -z $fanout ]]; then
    swift build -c release --product fanout 2>&1 | tail -1
    fanout=.build/release/fanout
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

run() { # run LABEL FANOUT_TRIM_INTERVAL_MS → prints LABEL and the load's JSON, echoes used_memory
    local label=$1 interval=$2 port dir redis_pid
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    dir=$(mktemp -d)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >/dev/null 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    local empty
    empty=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p')
    local worker_pids=()
    for index in $(seq "$workers"); do
        FANOUT_REDIS_URL="redis://127.0.0.1:$port" FANOUT_METRICS_PORT=0 FANOUT_TRIM_INTERVAL_MS="$interval" \
            FANOUT_LOG_LEVEL=warning "$fanout" worker >"$dir/worker-$index.log" 2>&1 &
        worker_pids+=($!)
        pids+=($!)
    done
    for _ in $(seq 200); do
        redis-cli -p "$port" xinfo groups fanout:inbound 2>/dev/null | grep -q workers && break
        sleep 0.05
    done
    local result
    result=$(python3 scripts/bench-memory-load.py --port "$port" --messages "$messages" --bytes "$bytes")
    echo "$label: empty redis used_memory $empty; after: $result" >&2
    kill "${worker_pids[@]}" "$redis_pid" 2>/dev/null || true
    wait "${worker_pids[@]}" "$redis_pid" 2>/dev/null || true
    rm -rf "$dir"
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["used_memory"])' "$result"
}

if [[ $only != after ]]; then before=$(run "before (trimming off; XADD MAXLEN ~ 1000000 only)" 0); fi
if [[ $only != before ]]; then after=$(run "after (trimming on; FANOUT_STREAM_RETENTION=10000)" 1000); fi
[[ -n $only ]] && exit 0
python3 -c 'import sys; b,a=int(sys.argv[1]),int(sys.argv[2]); print(f"used_memory after {sys.argv[3]} messages of {sys.argv[4]} bytes: before {b} ({b/2**20:.1f} MiB), after {a} ({a/2**20:.1f} MiB): {b/a:.0f}x less")' \
    "$before" "$after" "$messages" "$bytes"

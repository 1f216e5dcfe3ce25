#!/usr/bin/env bash
# The Redis client benchmark: Fanout's client (`fanout bench redis`) next to redis-benchmark -P 16,
# same commands, same payload, same fresh redis-server, one run.
#
#   bash scripts/bench-redis.sh [REQUESTS]      # default 500000
#
# Builds `fanout` in release mode if needed. Prints one line per measurement and the ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests=${1:-500000}
bash scripts/install-deps.sh --run >/dev/null
swift build -c release --product fanout 2>&1 | tail -1
fanout=.build/release/fanout

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no >/dev/null 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

payload=$(printf 'x%.0s' $(seq 64))
rb() { # rb NAME ARGS...: requests per second of redis-benchmark -P 16 (50 clients)
    redis-cli -p "$port" del bench:stream >/dev/null
    redis-benchmark -p "$port" -P 16 -c 50 -n "$requests" -q "$@" 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1
}
rb_xadd=$(rb XADD bench:stream '*' f "$payload")
rb_publish=$(rb PUBLISH bench:channel "$payload")
echo "redis-benchmark -P 16 -c 50: XADD $rb_xadd/s, PUBLISH $rb_publish/s"

for pipeline in 16 1; do
    out=$($fanout bench redis --redis-url "redis://127.0.0.1:$port" --key-prefix bench --requests "$requests" --tasks 64 --pipeline "$pipeline" --json)
    xadd=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['XADD'])" "$out")
    publish=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['PUBLISH'])" "$out")
    python3 - "$pipeline" "$xadd" "$publish" "$rb_xadd" "$rb_publish" <<'PY'
import sys
pipeline, xadd, publish, rbx, rbp = sys.argv[1], *map(float, sys.argv[2:])
print(f"fanout bench redis, 64 tasks, pipeline {pipeline}: XADD {xadd:.0f}/s ({100*xadd/rbx:.0f}% of redis-benchmark), "
      f"PUBLISH {publish:.0f}/s ({100*publish/rbp:.0f}% of redis-benchmark)")
PY
done

#!/usr/bin/env bash
# The micro-benchmarks (ordo-one/benchmark, the package in Benchmarks/): envelope encode/decode,
# stream entry fields, RESP parsing and encoding, and the Redis client against a real redis-server.
#
#   bash scripts/bench-micro.sh                    # full run (each benchmark up to 2 s), prints the table
#   bash scripts/bench-micro.sh --quick            # every benchmark once, no warm-up: checks they still
#                                                  # build and run (the numbers are not worth reading)
#   bash scripts/bench-micro.sh -- --filter RESP   # anything after `--` goes to `swift package benchmark`
#
# 1. installs what is missing (scripts/install-deps.sh --run: redis-server, libhiredis-dev, pkg-config),
# 2. starts a fresh redis-server on a free port and passes its URL in FANOUT_BENCH_REDIS_URL,
# 3. builds the benchmarks in release mode into Benchmarks/.build (gitignored) and runs them with
#    the malloc interposer preloaded, so mallocs are counted (BENCHMARKS.md explains the columns).
# Exits non-zero if the build fails or a benchmark fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
extra=()
while (($# > 0)); do
    case "$1" in
        --quick) quick=1 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "usage: bash scripts/bench-micro.sh [--quick] [-- BENCHMARK-OPTIONS...]" >&2; exit 2 ;;
    esac
    shift
done

start=$SECONDS
bash scripts/install-deps.sh --run >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no >/dev/null 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" ping >/dev/null || { echo "bench-micro: redis-server did not start on port $port" >&2; exit 1; }

export FANOUT_BENCH_REDIS_URL="redis://127.0.0.1:$port"
if ((quick)); then export FANOUT_BENCH_QUICK=1; else unset FANOUT_BENCH_QUICK; fi

# `--no-progress`: the progress bars are terminal escapes that make logs unreadable.
# Without `--scale` (the flag disables scaling, despite its name) the time and malloc rows are per
# operation: "Malloc (total)" reads as allocations per encode, decode or round trip.
swift package --package-path Benchmarks benchmark --no-progress ${extra[@]+"${extra[@]}"}

echo "bench-micro: done in $((SECONDS - start)) s (build included)$( ((quick)) && echo ', quick mode')"

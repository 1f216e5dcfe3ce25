#!/usr/bin/env bash
# A real browser against real processes: the chat demo page (served by the edge at /) and the
# JavaScript client library (Clients/js/fanout.js, served at /fanout.js), in headless Chromium.
#
#   bash scripts/browser-test.sh
#   FANOUT_BINARY=path/to/fanout bash scripts/browser-test.sh     # test this binary, skip the build
#   FANOUT_BUILD_FLAGS="--scratch-path .build-browser" bash scripts/browser-test.sh
#
# 1. installs what is missing: redis-server (scripts/install-deps.sh --run), Debian's `chromium`,
#    and the Python package `websockets` (PyPI). No browser is downloaded by a test framework:
#    the driver, scripts/browser-test.py, speaks the Chrome DevTools protocol itself (scripts/cdp.py).
# 2. builds `fanout` (debug: swift build --product fanout), unless FANOUT_BINARY is set,
# 3. starts its own redis-server, two edges (edge-1, edge-2) and one chat worker on free loopback
#    ports, then headless Chromium, with every log under .run/browser-test/logs/,
# 4. checks, in order:
#    - GET /, /fanout.js, /fanout.mjs: content types, and the bytes equal the files under Clients/;
#    - page A on edge 1 and page B on edge 2 load fanout.js and connect to ws://<host>/ws;
#    - the library in a real browser: send() while not connected throws (no buffering), backoff
#      bounds, retries with backoff after refused connections, close() stops retrying, the ES
#      module import;
#    - A ("alice") and B ("bob") join room "demo" by typing into the form and clicking Join;
#      A types a message and clicks Send; it appears in B's page (from a connection on edge-1)
#      and in A's own;
#    - edge 2 is stopped (SIGTERM: it closes its WebSockets with 1001) and started again; B shows
#      the disconnect; A sends a message meanwhile; B reconnects, joins "demo" again with the
#      last offset it saw, and shows the missed message marked "recovered"; A and B then chat both ways;
#    - a screenshot of page B goes to .run/browser-test.png;
#    - neither page threw an uncaught JavaScript error,
# 5. prints one line per check, then `browser-test: N passed, M failed` last; exits 1 on failure,
# 6. stops everything it started on every exit path (the driver stops its children; this script's
#    EXIT trap ends any the driver left behind, by the PIDs it recorded).
#
# Every wait is bounded. It takes about 20 s with a built binary (plus a one-time Chromium install).
# Output (logs of every process, Chromium's profile) stays in .run/browser-test/ until the next run.
#
# shellcheck disable=SC2317 # functions run from traps look unreachable to shellcheck
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="$PATH:/usr/sbin:/sbin"

case ${1:-} in
    "") ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 && !/shellcheck/' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "browser-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

# 1. What is missing.
bash scripts/install-deps.sh --run
if ! command -v chromium >/dev/null 2>&1; then
    echo "browser-test: installing chromium (Debian package)"
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium
fi
chromium=$(command -v chromium)
if ! python3 -c 'import websockets.asyncio.client' >/dev/null 2>&1; then
    echo "browser-test: installing websockets (PyPI)"
    python3 -m pip install --quiet 'websockets>=13'
fi

# 2. The binary.
if [[ -n "${FANOUT_BINARY:-}" ]]; then
    fanout=$FANOUT_BINARY
else
    read -r -a build_flags <<<"${FANOUT_BUILD_FLAGS:-}"
    swift build --product fanout "${build_flags[@]}"
    fanout="$(swift build --show-bin-path "${build_flags[@]}")/fanout"
fi
[[ -x "$fanout" ]] || { echo "browser-test: no fanout binary at $fanout" >&2; exit 1; }
[[ $fanout == /* ]] || fanout=$ROOT/$fanout

# 3-5. The driver starts the processes and runs the checks.
out=$ROOT/.run/browser-test
rm -rf "$out"
mkdir -p "$out"
rm -f "$ROOT/.run/browser-test.png"

driver=
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then
        kill -TERM "$driver" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$driver" 2>/dev/null || true
    fi
    # Whatever the driver could not stop (it was killed, say): each child leads its own process
    # group, so this reaches Chromium's helper processes too.
    if [[ -f $out/pids ]]; then
        local pid
        while read -r pid; do
            [[ -n $pid ]] || continue
            kill -TERM -- "-$pid" 2>/dev/null || true
        done <"$out/pids"
        sleep 0.5
        while read -r pid; do
            [[ -n $pid ]] || continue
            kill -KILL -- "-$pid" 2>/dev/null || true
        done <"$out/pids"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 -u -B scripts/browser-test.py --fanout "$fanout" --chromium "$chromium" --out "$out" &
driver=$!
status=0
wait "$driver" || status=$?
driver=
exit "$status"

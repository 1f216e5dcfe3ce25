#!/usr/bin/env bash
# WebSocket protocol conformance: runs the Autobahn TestSuite's fuzzingclient cases (through kosoku,
# a Python 3 runner of the same case files) against one edge and one echo worker, end to end —
# every frame goes edge → Redis stream → worker → pub/sub → edge → client.
#
#   bash scripts/autobahn.sh                     # cases 1-10: everything but compression
#   bash scripts/autobahn.sh --cases '6.*'       # only these case IDs or globs (repeatable)
#   FANOUT_BINARY=path/to/fanout bash scripts/autobahn.sh      # test this binary, skip the build
#
# 1. installs what is missing (scripts/install-deps.sh --autobahn: redis-server, kosoku from PyPI),
# 2. builds `fanout` (debug; FANOUT_BUILD_FLAGS adds `swift build` flags), unless FANOUT_BINARY is set,
# 3. starts its own redis-server, one edge and one echo worker on free loopback ports, each with
#    its log under .run/autobahn/logs/, and waits until the edge's /readyz answers 200 and the
#    worker has joined the consumer group,
# 4. runs cases 1.* to 10.* — framing, pings/pongs, reserved bits, opcodes, fragmentation, UTF-8,
#    close handling, limits/performance, misc — and excludes 12.* and 13.* (permessage-deflate:
#    the edge does not negotiate compression, so those cases do not apply),
# 5. prints one line per case that did not pass, then where the full report is, then
#    `autobahn: N passed, M failed`, and exits 1 if any case failed, if a requested glob matched
#    no case, if the default run did not run exactly the 301 cases of 1.*-10.* (a kosoku that
#    ran fewer, or none, must not pass), or if kosoku's own verdict disagrees with ours,
# 6. stops everything it started, on every exit path.
#
# Passed: behaviour OK, NON-STRICT or INFORMATIONAL (UNIMPLEMENTED too, for the compression cases
# only), with a closing handshake judged OK or INFORMATIONAL. Anything else fails: FAILED, ERROR,
# UNIMPLEMENTED, or a close by the wrong side, unclean, or with the wrong code.
#
# The edge runs with settings that differ from the defaults, for the 9.* (limits) cases only:
# - FANOUT_MAX_MESSAGE_BYTES=16777216: 9.1.6 and 9.2.6 send 16 MiB messages (default limit 1 MiB).
# - FANOUT_OUTBOX_BYTES=33554432: the echo of a 16 MiB message must fit in the connection's
#   outbound buffer (default 4 MiB), or the edge closes with 4008 before writing it.
#
# The whole run (301 cases, 54 of them 9.*) takes about a minute on a 2-core machine with a debug
# build, so every case runs by default; `--full` is accepted and means the same.
#
# shellcheck disable=SC2317 # functions run from traps look unreachable to shellcheck
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="$PATH:/usr/sbin:/sbin"

usage() {
    cat <<'EOF'
Usage: bash scripts/autobahn.sh [--cases GLOB]... [--full]

Runs the Autobahn fuzzingclient cases 1.*-10.* (kosoku) against an edge and
an echo worker, and prints `autobahn: N passed, M failed`.

Options:
  --cases GLOB   run only these case IDs or globs, e.g. 5.* or 7.1.6 (repeatable)
  --full         every case of 1.*-10.* (the default)
  -h, --help     this help

Environment:
  FANOUT_BINARY       fanout binary to test (default: build it with swift build)
  FANOUT_BUILD_FLAGS  extra `swift build` flags, e.g. "--scratch-path .build-autobahn"
EOF
}

cases=()
while (($# > 0)); do
    case $1 in
        --cases) cases+=("${2:?--cases needs a glob}"); shift 2 ;;
        --full) cases=(); shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "autobahn: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
# The default run is every case of 1.*-10.* (there is no 8.*): exactly this many, or it fails.
expected_total=0
if ((${#cases[@]} == 0)); then
    cases=('1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*' '9.*' '10.*')
    expected_total=301
fi

# 1. What is missing.
bash scripts/install-deps.sh --autobahn
if command -v kosoku >/dev/null 2>&1; then
    kosoku=(kosoku)
else
    # A pip install may leave its console script off PATH (user site, pyenv without a rehash).
    kosoku=(python3 -c 'import sys; from kosoku._cli import main; sys.argv[0] = "kosoku"; main()')
fi

# 2. The binary.
if [[ -n "${FANOUT_BINARY:-}" ]]; then
    fanout=$FANOUT_BINARY
else
    read -r -a build_flags <<<"${FANOUT_BUILD_FLAGS:-}"
    swift build --product fanout "${build_flags[@]}"
    fanout="$(swift build --show-bin-path "${build_flags[@]}")/fanout"
fi
[[ -x "$fanout" ]] || { echo "autobahn: no fanout binary at $fanout" >&2; exit 1; }

# 3. Redis, an edge and a worker. Reports and logs stay in .run/autobahn/ (gitignored);
# Redis's data directory is temporary.
out=$ROOT/.run/autobahn
report=$out/report
logs=$out/logs
rm -rf "$report" "$logs"
mkdir -p "$report" "$logs"
redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/fanout-autobahn.XXXXXX")

pids=()
cleanup() {
    local status=$?
    # Edge and worker first (they drain on SIGTERM), Redis last, so they do not see it vanish.
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    if [[ -n "${redis_pid:-}" ]]; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$redis_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two free loopback ports, both held open until chosen so they differ.
read -r redis_port edge_port < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets: s.close()')
redis_url="redis://127.0.0.1:$redis_port"
prefix=autobahn

redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$redis_dir" \
    >"$logs/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
    [[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" == PONG ]] && break
    kill -0 "$redis_pid" 2>/dev/null || { echo "autobahn: redis-server exited; see $logs/redis.log" >&2; exit 1; }
    sleep 0.1
done

FANOUT_MAX_MESSAGE_BYTES=16777216 FANOUT_OUTBOX_BYTES=33554432 \
    "$fanout" edge --port "$edge_port" --redis-url "$redis_url" --key-prefix "$prefix" >"$logs/edge.log" 2>&1 &
pids+=($!)
"$fanout" worker --handler echo --metrics-port 0 --redis-url "$redis_url" --key-prefix "$prefix" \
    >"$logs/worker.log" 2>&1 &
pids+=($!)

ready=0
for _ in $(seq 1 300); do
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "autobahn: a fanout process exited; see $logs/" >&2; exit 1; }
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$edge_port/readyz" || true)
    # The worker has no metrics port here: it is up once it has created its consumer group (from
    # ID 0, so nothing appended before it reads is missed).
    groups=$(redis-cli -p "$redis_port" xinfo groups "$prefix:inbound" 2>/dev/null || true)
    if [[ "$code" == 200 ]] && grep -qx workers <<<"$groups"; then ready=1; break; fi
    sleep 0.1
done
((ready)) || { echo "autobahn: edge or worker not ready after 30 s; see $logs/" >&2; exit 1; }

# 4. The cases.
args=(-m fuzzingclient -x '12.*' -x '13.*' -o "$report")
for glob in "${cases[@]}"; do args+=(-i "$glob"); done
echo "autobahn: running cases ${cases[*]} against ws://127.0.0.1:$edge_port/ws"
started=$SECONDS
set +e
"${kosoku[@]}" "${args[@]}" "ws://127.0.0.1:$edge_port/ws" >"$logs/kosoku.log" 2>&1
kosoku_status=$?
set -e
elapsed=$((SECONDS - started))
if [[ ! -f "$report/index.json" ]]; then
    echo "autobahn: kosoku wrote no report (exit $kosoku_status):" >&2
    tail -n 20 "$logs/kosoku.log" >&2
    exit 1
fi

# 5. The verdicts.
set +e
python3 - "$report" "$elapsed" "$kosoku_status" "$expected_total" "${cases[@]}" <<'EOF'
import fnmatch, json, os, sys
from collections import Counter

report, elapsed, kosoku_status, expected_total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
globs = sys.argv[5:]
with open(os.path.join(report, "index.json")) as f:
    index = json.load(f)

def case_key(case_id):
    return [int(part) for part in case_id.split(".")]

behaviors, passed, failed = Counter(), 0, 0
for agent, cases in index.items():
    for case_id in sorted(cases, key=case_key):
        entry = cases[case_id]
        behavior, close = entry["behavior"], entry["behaviorClose"]
        behaviors[behavior] += 1
        compression = case_id.split(".")[0] in ("12", "13")
        ok = behavior in ("OK", "NON-STRICT", "INFORMATIONAL") or (behavior == "UNIMPLEMENTED" and compression)
        ok = ok and close in ("OK", "INFORMATIONAL")
        if ok:
            passed += 1
            continue
        failed += 1
        with open(os.path.join(report, entry["reportfile"])) as f:
            detail = json.load(f)
        code = entry.get("remoteCloseCode")
        print(f"autobahn: {case_id} {behavior} (close {close}, code {code if code is not None else '-'}): "
              f"{detail.get('result', '')} {detail.get('resultClose', '')}".rstrip())

total = passed + failed
breakdown = ", ".join(f"{count} {name}" for name, count in sorted(behaviors.items()))
print(f"autobahn: {total} cases in {elapsed} s ({breakdown})")
print(f"autobahn: full report: {os.path.join(report, 'index.html')} (per-case JSON beside it)")

# The run itself must be whole: every glob ran something, the default run ran every case, and
# kosoku's exit code (1 when it judged a case failed) agrees with the verdicts above.
problems = []
if len(index) != 1:
    problems.append(f"expected one agent in the report, found {len(index)}")
case_ids = [case_id for cases in index.values() for case_id in cases]
for glob in globs:
    if not any(fnmatch.fnmatchcase(case_id, glob) for case_id in case_ids):
        problems.append(f"no case matched {glob}")
if expected_total and total != expected_total:
    problems.append(f"expected {expected_total} cases, ran {total}")
if total == 0:
    problems.append("no case ran")
if kosoku_status != 0 and failed == 0:
    problems.append(f"kosoku exited {kosoku_status} although every case passed here (see its log)")
for problem in problems:
    print(f"autobahn: {problem}")
print(f"autobahn: {passed} passed, {failed} failed")
sys.exit(1 if failed or problems else 0)
EOF
status=$?
set -e
exit "$status"

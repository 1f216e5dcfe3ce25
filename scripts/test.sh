#!/usr/bin/env bash
# The whole test suite — the README's test command, and what CI runs (.ci/run).
#
#   bash scripts/test.sh
#
# 1. installs what is missing (scripts/install-deps.sh),
# 2. builds and runs every Swift test: unit, role and integration tests against real redis-server
#    processes that the tests start themselves on free ports,
# 3. runs the Autobahn WebSocket conformance cases 1-10 against an edge and an echo worker, end
#    to end (scripts/autobahn.sh: all 301 must pass),
# 4. fuzzes every decoder of untrusted bytes for 10 s each with libFuzzer + ASan, replaying every
#    input that once crashed one (scripts/fuzz.sh 10; Docs/fuzzing.md),
# 5. validates the deployment files statically (scripts/validate-deploy.sh),
# 6. drives the demo page on two edges in headless Chromium (scripts/browser-test.sh),
# 7. runs docker-compose.yml for real and checks the stack from outside (scripts/compose-test.sh:
#    starts dockerd if none runs, builds or stands in for the images, `down -v` at the end).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

# Tests start their own redis-server; a missing one must fail the run, never skip it.
command -v redis-server >/dev/null || { echo "test: redis-server missing after install" >&2; exit 1; }
command -v redis-sentinel >/dev/null || { echo "test: redis-sentinel missing after install" >&2; exit 1; }

echo "== swift build"
# (Two known-harmless SwiftPM warnings are filtered out of the log; the exit code is swift build's.)
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
status=0
swift build --build-tests >"$build_log" 2>&1 || status=$?
grep -vE "prohibited flag|unhandled; explicitly" "$build_log" || true
if [ "$status" -ne 0 ]; then echo "test: swift build failed (exit $status)" >&2; exit "$status"; fi

echo "== swift test"
# Every wait inside the tests is bounded; this outer bound turns an unforeseen hang into a failure
# with output, long before CI's own limit. Tests run one at a time: the integration and fault
# tests start real processes and measure timeouts, and two cores shared by several of them at
# once would make those timings, not the code, decide the outcome.
timeout --signal=KILL 1500 swift test --skip-build --no-parallel

echo "== WebSocket protocol conformance (Autobahn cases 1-10, through the whole pipeline)"
# The binary the tests just used; about a minute. Fails the run on any case not OK, NON-STRICT or
# INFORMATIONAL, and on a run that did not cover all 301 cases.
FANOUT_BINARY="$(swift build --show-bin-path)/fanout" timeout --kill-after=30 600 bash scripts/autobahn.sh

echo "== short fuzz run (libFuzzer + ASan, 10 s per decoder)"
# Its own sanitized build in Fuzz/.build: 3 to 8 minutes from scratch on 2 cores, seconds after.
timeout --kill-after=30 1500 bash scripts/fuzz.sh 10

echo "== deployment files"
bash scripts/validate-deploy.sh

echo "== demo page in a real browser (headless Chromium, two edges)"
bash scripts/browser-test.sh

echo "== docker-compose.yml for real (dockerd, images, the stack checked through 127.0.0.1)"
# About 10 minutes from a cold Docker state on 2 cores (a debug build of the fanout binary in
# .build-docker/swift, debootstrap, the images, then the checks), about 2 minutes after that.
timeout --kill-after=60 1800 bash scripts/compose-test.sh

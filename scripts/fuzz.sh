#!/usr/bin/env bash
# Fuzzes the decoders that read bytes Fanout does not control, with libFuzzer + AddressSanitizer.
#
#   bash scripts/fuzz.sh              # every target for 30 s
#   bash scripts/fuzz.sh 10           # every target for 10 s (CI)
#   bash scripts/fuzz.sh 300 FuzzRESPReader   # one target for 5 minutes
#
# Targets (the package in Fuzz/, one executable each; Docs/fuzzing.md says what each checks):
#   FuzzInboundEntry, FuzzOutboundEnvelope, FuzzRESPReader, FuzzChatHandler
#
# 1. installs what is missing (scripts/install-deps.sh --run: libhiredis-dev, pkg-config),
# 2. builds the fuzzers into Fuzz/.build (gitignored),
# 3. runs each for SECONDS_PER_TARGET, starting from the committed seeds (Fuzz/Corpus/<target>/),
#    every input that once crashed it (Fuzz/Crashes/<target>/, replayed first, so a known bug
#    fails every run instead of only the runs lucky enough to find it again) and what earlier runs
#    on this machine added (Fuzz/.build/corpus/<target>/),
# 4. prints for each target the executions run and whether it crashed — with the crashing
#    input's path and the command that replays it — then `fuzz: N passed, M failed`, and exits 1
#    if any target crashed.
#
# Why these build flags (Swift 6.3, Linux):
# - `--sanitize fuzzer` makes SwiftPM link libFuzzer's `main`. Passing the sanitizer only as
#   `-Xswiftc -sanitize=fuzzer,…` is not enough: SwiftPM links every executable with
#   `--defsym main=<Module>_main`, a symbol `-parse-as-library` never emits, and the link fails.
# - `-Xswiftc -sanitize=fuzzer,address` in one argument: the Swift driver keeps only the last
#   `-sanitize=` it is given, so `--sanitize fuzzer --sanitize address` (two arguments) builds
#   every module without coverage instrumentation and libFuzzer fuzzes blind.
# - `-parse-as-library`: a target defines only `LLVMFuzzerTestOneInput`, no top-level code.
# hiredis is the system's prebuilt library: its parser runs under ASan's allocator and
# interceptors, but libFuzzer sees coverage of the Swift side only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

seconds=${1:-30}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(FuzzInboundEntry FuzzOutboundEnvelope FuzzRESPReader FuzzChatHandler)
fi

bash scripts/install-deps.sh --run

scratch=$ROOT/Fuzz/.build
# shellcheck disable=SC2054 # the commas belong to the -sanitize= value
build=(swift build -c debug --package-path Fuzz --scratch-path "$scratch"
    --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
echo "fuzz: building the fuzzers (Fuzz/, debug, libFuzzer + ASan)"
mkdir -p "$scratch"
if ! "${build[@]}" >"$scratch/build.log" 2>&1; then
    grep -E '^[^ |].*error:' "$scratch/build.log" | sort -u | head -n 20 >&2 || true
    echo "fuzz: the build failed; full log: $scratch/build.log" >&2
    exit 1
fi
bin=$scratch/debug
for target in "${targets[@]}"; do
    [[ -x "$bin/$target" ]] || { echo "fuzz: no target '$target' (see Fuzz/Package.swift)" >&2; exit 2; }
done

# The Swift runtime's crash handler would otherwise catch a trap first, and ASan reports its
# stack reads as a stack-buffer-underflow, hiding the real failure. LeakSanitizer stays on.
export SWIFT_BACKTRACE=enable=no
# A huge allocation returns NULL, as glibc's would, so the code's own out-of-memory path runs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}

passed=0
failed=0
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    artifacts=$scratch/artifacts/$target
    log=$scratch/logs/$target.log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    seeds=("$ROOT/Fuzz/Corpus/$target")
    [[ -d "$ROOT/Fuzz/Crashes/$target" ]] && seeds=("$ROOT/Fuzz/Crashes/$target" "${seeds[@]}")
    before=$(find "$artifacts" -type f | wc -l)

    set +e
    # New inputs go to the first directory (the machine-local corpus); the seeds are only read.
    "$bin/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" >"$log" 2>&1
    status=$?
    set -e

    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [[ -z "$executions" ]]; then  # no final stats: take the last progress line
        executions=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    fi
    if ((status == 0)) && (($(find "$artifacts" -type f | wc -l) == before)); then
        echo "fuzz: $target: ${executions:-0} executions in $seconds s, no crash"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        reason=$(grep -m 1 -E 'Precondition failed|Fatal error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY:' "$log" || true)
        artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
        echo "fuzz: $target: CRASHED after ${executions:-?} executions: ${reason:-exit $status}"
        [[ -n "$artifact" ]] && echo "fuzz: $target: input: $artifact" \
            "(replay: SWIFT_BACKTRACE=enable=no $bin/$target $artifact)"
        echo "fuzz: $target: log: $log"
    fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))

#!/usr/bin/env bash
# tests/fuzz/run.sh: the parser's libFuzzer target, as part of the test command.
#
# Builds tests/fuzz/fuzz_parse.c with clang and -fsanitize=fuzzer,address,
# undefined twice (the parser's SSE2 separator index, and its scalar path via
# MD_PARSE_NO_SIMD), replays the committed seed corpus on both (a regression
# test: every input that ever mattered runs again), then fuzzes the SSE2
# build for FUZZ_SECONDS (60) from those seeds. A crash leaves its input in
# build-fuzz/ (crash-*) and fails. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=build-fuzz
SECONDS_FUZZ=${FUZZ_SECONDS:-60}
mkdir -p "$OUT"
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }

build() { # output, extra cflags...
    local out=$1; shift
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
        -Iinclude -Iagent/dogstatsd "$@" tests/fuzz/fuzz_parse.c agent/dogstatsd/parse.c agent/dogstatsd/parse_num.c agent/dogstatsd/parse_event.c -lm -o "$out" 2>&1
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
nseeds=$(find tests/fuzz/corpus -type f | wc -l)
for variant in simd scalar; do
    flags=()
    [ "$variant" = scalar ] && flags=(-DMD_PARSE_NO_SIMD)
    bin=$OUT/fuzz_parse_$variant
    if ! build "$bin" "${flags[@]}"; then
        ko "build fuzz_parse ($variant)"
        continue
    fi
    if "$bin" -runs=0 -max_len=9000 -artifact_prefix="$OUT/" tests/fuzz/corpus >"$OUT/replay_$variant.log" 2>&1; then
        ok "replay $nseeds seeds ($variant)"
    else
        tail -30 "$OUT/replay_$variant.log"
        ko "replay $nseeds seeds ($variant)"
    fi
done

if [ -x "$OUT/fuzz_parse_simd" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/meterd-fuzz.XXXXXX")
    if "$OUT/fuzz_parse_simd" -max_total_time="$SECONDS_FUZZ" -max_len=9000 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$OUT/" -print_final_stats=1 \
        "$work" tests/fuzz/corpus >"$OUT/fuzz.log" 2>&1; then
        ok "fuzz ${SECONDS_FUZZ}s: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/fuzz.log" | grep -o '[0-9]*$') runs, $(find "$work" -type f | wc -l) new inputs"
    else
        tail -40 "$OUT/fuzz.log"
        ko "fuzz ${SECONDS_FUZZ}s (crash input in $OUT/)"
    fi
    rm -rf "$work"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

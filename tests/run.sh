#!/usr/bin/env bash
# meterd's whole test suite, the README's test command and what CI runs.
# Installs missing Debian packages, builds (warnings are errors), runs the
# cmocka unit tests, then the protocol corpus, the config-error tests and
# the end-to-end tests (which start and stop their own VictoriaMetrics and
# meterd on loopback), the unit tests again under ASan+UBSan, the parser's
# fuzz target (seed replay and 60 s of fuzzing), and the threaded tests
# under TSan. Prints every test's result and ends with one line:
# "N passed, N failed".
#
# --quick (the inner loop): unit, corpus, config-error and end-to-end tests
# only, without the sanitizer builds and the fuzzer. CI runs the full suite.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: tests/run.sh [--quick]" >&2; exit 2 ;;
esac
packaging/deps.sh --test || { echo "deps: install failed"; echo "0 passed, 1 failed"; exit 1; }

PASS=0
FAIL=0
FAILED_LINES=()   # repeated just above the summary, where a truncated log still shows them
add() { PASS=$((PASS + $1)); FAIL=$((FAIL + $2)); }
remember() { # label, output: keep its failure lines for the end
    local l
    while IFS= read -r l; do
        FAILED_LINES+=("[$1] $l")
    done < <(echo "$2" | grep -E '^(FAIL|\[  FAILED  \] [^0-9])|ERROR: (Address|Undefined|Thread|Leak)Sanitizer|runtime error:' | head -20)
}
summary() {
    local l
    if [ "$FAIL" -ne 0 ]; then
        echo "failures:"
        for l in "${FAILED_LINES[@]}"; do echo "  $l"; done
    fi
    echo "$PASS passed, $FAIL failed"
}

build() { # dir, extra meson args...; $TARGETS limits what ninja builds
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true -Dtests=enabled "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    fi
    # shellcheck disable=SC2086
    ninja -C "$dir" ${TARGETS:-} >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
}

# Run one cmocka binary; count its test cases from cmocka's own summary.
cmocka() { # binary, label
    local t=$1 label=$2 out p f rc
    out=$("$t" 2>&1); rc=$?
    echo "$out" | sed "s/^/[$label $(basename "$t")] /"
    p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1   # crashed or sanitizer report
    [ "$f" != 0 ] && { FAILED_LINES+=("[$label $(basename "$t")] exit $rc"); remember "$label $(basename "$t")" "$out"; }
    add "$p" "$f"
}

unit() { # build dir, label
    local t
    for t in "$1"/tests/unit/test_*; do
        [ -x "$t" ] && [ -f "$t" ] && cmocka "$t" "$2"
    done
}

# Run a script that ends with "N passed, N failed".
summarised() { # label, command...
    local label=$1; shift
    local out line
    out=$("$@" 2>&1); rc=$?
    echo "$out" | sed "s/^/[$label] /"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
    if [ -z "$line" ]; then
        FAILED_LINES+=("[$label] exit $rc without a summary line")
        remember "$label" "$out"
        add 0 1
        return
    fi
    [ $rc -ne 0 ] || [ "$(echo "$line" | cut -d' ' -f3)" != 0 ] && remember "$label" "$out"
    add "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"
    [ $rc -ne 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ] && add 0 1
}

if build build-test; then

    unit build-test unit
    export METERD_BIN=$ROOT/build-test/meterd
    [ -f tests/corpus/run_corpus.py ] && summarised corpus python3 tests/corpus/run_corpus.py "$METERD_BIN"
    [ -f tests/e2e/test_config_errors.sh ] && summarised config-errors bash tests/e2e/test_config_errors.sh "$METERD_BIN"
    summarised "e2e quickstart" bash tests/e2e/test_quickstart.sh
    for t in tests/e2e/test_*.py; do
        summarised "e2e $(basename "$t" .py)" python3 "$t"
    done
else
    echo "build failed"; FAILED_LINES+=("build failed")
    add 0 1
fi

if [ "$QUICK" = 1 ]; then
    summary
    [ "$FAIL" -eq 0 ]
    exit
fi

# The sanitizer builds compile only the test binaries they run.
unit_targets() {
    local f
    for f in tests/unit/test_*.c; do
        f=$(basename "$f" .c)
        printf 'tests/unit/%s ' "$f"
    done
    printf 'tests/unit/test_parse_scalar'
}

if TARGETS=$(unit_targets) build build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    unit build-asan asan
else
    echo "asan build failed"; FAILED_LINES+=("asan build failed")
    add 0 1
fi

# The parser's libFuzzer target: seed replay on both parser paths, then a minute of fuzzing.
summarised fuzz bash tests/fuzz/run.sh

# ThreadSanitizer: the tests whose code crosses threads (rings, intake, feed, aggregator, stop, trim).
if TARGETS="tests/unit/test_ring tests/unit/test_pipeline tests/unit/test_pipeline_feed tests/unit/test_ledger tests/unit/test_stop_seal tests/unit/test_aggregator" build build-tsan -Db_sanitize=thread -Db_lundef=false; then
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    for t in ring pipeline pipeline_feed ledger stop_seal aggregator; do
        cmocka "build-tsan/tests/unit/test_$t" tsan
    done
else
    echo "tsan build failed"; FAILED_LINES+=("tsan build failed")
    add 0 1
fi

summary
[ "$FAIL" -eq 0 ]

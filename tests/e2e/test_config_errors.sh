#!/usr/bin/env bash
# test_config_errors.sh: run the real `meterd configcheck -c FILE` on every
# config fixture and check what an operator would see.
#
# Each fixture in tests/fixtures/config/ starts with `# expect: LINE TEXT`
# (bad-*.yaml: exit != 0 and stderr contains "FILE:LINE: TEXT", TEXT
# starting with the key) or `# expect: ok` (good-*.yaml: exit 0 and the
# effective config on stdout). A `# secret: VALUE` line says VALUE must not
# appear in either output. The shipped conf.d/meterd.yaml must load too.
#
# usage: test_config_errors.sh [path/to/meterd]   (default: $MESON_BUILD_ROOT/meterd)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${MESON_BUILD_ROOT:-}/meterd}
if [ ! -x "$bin" ]; then
    echo "FAIL: meterd binary not found at '$bin' (pass it as \$1 or set MESON_BUILD_ROOT)"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# Runs configcheck with no inherited METERD_/DD_ settings, so only the file speaks.
run_check() {
    env -u HOST_PROC -u HOST_SYS $(env | sed -n 's/^\(\(METERD\|DD\)_[A-Za-z0-9_]*\)=.*/-u \1/p') \
        "$bin" configcheck -c "$1" >"$work/out" 2>"$work/err"
}

check_fixture() {
    local f=$1 name expect line text secret rc
    name=$(basename "$f")
    expect=$(sed -n '1s/^# expect: //p' "$f")
    if [ -z "$expect" ]; then
        fail "$name" "first line lacks '# expect: LINE TEXT' or '# expect: ok'"
        return
    fi
    secret=$(sed -n 's/^# secret: //p' "$f" | head -n 1)
    run_check "$f"
    rc=$?
    if [ -n "$secret" ] && grep -qF -- "$secret" "$work/out" "$work/err"; then
        fail "$name" "the secret appears in the output"
        return
    fi
    if [ "$expect" = ok ]; then
        if [ $rc -ne 0 ]; then
            fail "$name" "exit $rc, stderr: $(head -c 300 "$work/err")"
        elif ! grep -q '^dogstatsd_port: ' "$work/out"; then
            fail "$name" "exit 0 but no effective config on stdout"
        else
            ok "$name"
        fi
        return
    fi
    line=${expect%% *}
    text=${expect#* }
    if [ $rc -eq 0 ]; then
        fail "$name" "exit 0, expected an error"
    elif ! grep -qF -- "$f:$line: $text" "$work/err"; then
        fail "$name" "stderr lacks '$f:$line: $text'; got: $(head -c 300 "$work/err")"
    else
        ok "$name"
    fi
}

shopt -s nullglob
fixtures=("$root"/tests/fixtures/config/bad-*.yaml "$root"/tests/fixtures/config/good-*.yaml)
if [ ${#fixtures[@]} -eq 0 ]; then
    echo "FAIL: no fixtures under $root/tests/fixtures/config"
    exit 1
fi
for f in "${fixtures[@]}"; do
    check_fixture "$f"
done

# The shipped main config loads as is.
if run_check "$root/conf.d/meterd.yaml"; then
    ok "conf.d/meterd.yaml"
else
    fail "conf.d/meterd.yaml" "$(head -c 300 "$work/err")"
fi

# A missing file is an error that names it.
if run_check "$work/missing.yaml"; then
    fail "missing-file" "exit 0"
elif grep -qF "$work/missing.yaml" "$work/err"; then
    ok "missing-file"
else
    fail "missing-file" "stderr does not name the file: $(head -c 300 "$work/err")"
fi

# Broken collector files: configcheck validates conf.d too and names
# FILE:LINE: KEY. Each case folder holds one broken <collector>.d/ file.
for dir in "$root"/tests/fixtures/confd-bad/*/; do
    name="confd-bad/$(basename "$dir")"
    if "$bin" configcheck -c "$root/tests/fixtures/config/good-empty.yaml" \
        --set "confd_path=$dir" >/dev/null 2>"$work/err"; then
        fail "$name" "exit 0"
    elif grep -qE "$(basename "$dir")/+[a-z_]+\.d/conf\.yaml(\.default)?:[0-9]+: " "$work/err"; then
        ok "$name"
    else
        fail "$name" "no FILE:LINE: KEY in: $(head -c 300 "$work/err")"
    fi
done

# configcheck runs exactly the validation run runs: for each setting that
# `meterd run` refuses, configcheck must refuse it too, with the same reason.
# run is started on ports of its own and bounded by timeout; a run that
# starts instead of refusing is stopped and counted as a failure.
agree_cases=(
    "status_host=localhost"
    "histogram_percentiles=0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 0.91 0.92 0.93 0.94 0.95 0.96 0.97 0.98"
    'dogstatsd_mapper_profiles=[{"name":"a","prefix":"a.","mappings":[{"match":"a.(","match_type":"regex","name":"x"}]}]'
)
status_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for set in "${agree_cases[@]}"; do
    name="agree: ${set:0:40}"
    env -u HOST_PROC -u HOST_SYS $(env | sed -n 's/^\(\(METERD\|DD\)_[A-Za-z0-9_]*\)=.*/-u \1/p') \
        "$bin" configcheck -c "$root/tests/fixtures/config/good-empty.yaml" --set "$set" \
        >/dev/null 2>"$work/cc_err"
    cc=$?
    env -u HOST_PROC -u HOST_SYS $(env | sed -n 's/^\(\(METERD\|DD\)_[A-Za-z0-9_]*\)=.*/-u \1/p') \
        timeout 10 "$bin" run -c "$root/tests/fixtures/config/good-empty.yaml" --set "$set" \
        --set dogstatsd_port=0 --set "status_port=$status_port" >/dev/null 2>"$work/run_err"
    rn=$?
    reason=$(sed -n 's/^meterd configcheck: //p' "$work/cc_err" | head -n 1)
    if [ $rn -eq 0 ] || [ $rn -eq 124 ]; then
        fail "$name" "run did not refuse it (exit $rn)"
    elif [ $cc -eq 0 ]; then
        fail "$name" "run refuses it (exit $rn) but configcheck exits 0"
    elif [ -z "$reason" ] || ! grep -qF -- "$reason" "$work/run_err"; then
        fail "$name" "different reasons: configcheck '$(head -c 200 "$work/cc_err")', run '$(head -c 200 "$work/run_err")'"
    else
        ok "$name"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

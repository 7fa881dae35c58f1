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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Quick start: build meterd and run it in the foreground with the shipped
# conf.d defaults. With no api_key/dd_url it prints every flushed window to
# stdout (console sink) and serves http://127.0.0.1:5555/status.
# Extra arguments go to `meterd run` (e.g. --set dd_url=http://...).
#
# Needs only the build packages (packaging/deps.sh installs them): the unit
# tests are built when cmocka is present, which only the test command
# installs. A build folder left half made by an interrupted first run (no
# build.ninja) is set up again rather than failing for ever after. When a
# step fails, its own output is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/deps.sh
BUILD=build
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
if [ ! -f "$BUILD/build.ninja" ]; then
    rm -rf "$BUILD"
    if ! meson setup "$BUILD" --buildtype=release >"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "dev-run: meson setup failed (output above)" >&2
        exit 1
    fi
fi
if ! ninja -C "$BUILD" meterd >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "dev-run: build failed (output above)" >&2
    exit 1
fi
rm -f "$LOG"
trap - EXIT
exec "$BUILD/meterd" run -c conf.d/meterd.yaml "$@"

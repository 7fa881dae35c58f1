#!/usr/bin/env bash
# Quick start: build meterd and run it in the foreground with the shipped
# conf.d defaults. With no api_key/dd_url it prints every flushed window to
# stdout (console sink) and serves http://127.0.0.1:5555/status.
# Extra arguments go to `meterd run` (e.g. --set dd_url=http://...).
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/meterd run -c conf.d/meterd.yaml "$@"

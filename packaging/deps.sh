#!/usr/bin/env bash
# Installs the Debian 12 packages meterd needs to build (and, with --test,
# to run its tests) when any is missing. Sourced or run by the README's two
# quick-start commands. Needs root (or sudo) only when something is missing.
set -euo pipefail

BUILD_PKGS="gcc meson ninja-build pkg-config libuv1-dev libcurl4-openssl-dev zlib1g-dev libssl-dev
libyaml-dev libxxhash-dev libsnappy-dev libzstd-dev ca-certificates"
TEST_PKGS="libcmocka-dev libjansson-dev victoria-metrics prometheus openssl clang libclang-rt-14-dev mmdebstrap
docker.io busybox-static debhelper dpkg-dev systemd python3-yaml tinyproxy protobuf-compiler
python3-protobuf e2fsprogs mount zstd python3-zstandard"
# Tools that may come from outside Debian's packages (pyenv, nodesource...):
# install the Debian package only when the command is missing.
TEST_TOOLS="python3:python3 curl:curl node:nodejs npm:npm"

want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ "${1:-}" = "--test" ]; then
    for t in $TEST_TOOLS; do
        command -v "${t%%:*}" >/dev/null 2>&1 || missing="$missing ${t#*:}"
    done
fi
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing" >&2
# Packages with services (victoria-metrics) must not start system-wide
# instances: the tests start their own on free loopback ports.
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
fi
trap '[ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 $missing >/dev/null

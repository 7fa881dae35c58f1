#!/usr/bin/env bash
# test_quickstart.sh: the README's first command on a fresh Debian 12.
#
# A machine that already has the build packages hides a missing install
# step, so this makes a fresh root (mmdebstrap minbase: no compiler, no
# meson, no cmocka), copies the repository into it with a half-made build
# folder (what an interrupted first run leaves), and runs
# `packaging/dev-run.sh` there under chroot, exactly as a new user would.
# It passes when the agent serves its status page and prints a metric sent
# to it over UDP in the console sink's output.
#
# Runs as root (mmdebstrap, mount, chroot). Only the two ports passed to
# `meterd run` differ from the README's command, so that it cannot clash
# with another agent on this machine.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
    fail quickstart_fresh_root "needs root and mmdebstrap"
    finish
fi

work=$(mktemp -d /tmp/meterd-quickstart.XXXXXX)
rootfs=$work/root
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    for m in dev/pts dev sys proc; do
        mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m"
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The machine's own apt sources, so the fresh root reaches the same mirror.
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
if ! mmdebstrap --variant=minbase --quiet \
        --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
        bookworm "$rootfs" "$sources" >"$work/mmdebstrap.log" 2>&1; then
    tail -20 "$work/mmdebstrap.log"
    fail quickstart_fresh_root "mmdebstrap failed"
    finish
fi
for t in gcc meson cmocka; do
    if chroot "$rootfs" sh -c "command -v $t || ls /usr/include/cmocka.h" >/dev/null 2>&1; then
        fail fresh_root_is_bare "$t is already in the fresh root"
    fi
done

# The repository as a clone would have it (tracked and new files, no build output).
mkdir -p "$rootfs/src/meterd"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$rootfs/src/meterd")
# What a first run interrupted during `meson setup` leaves behind.
mkdir -p "$rootfs/src/meterd/build/meson-private"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
mount --rbind /sys "$rootfs/sys"
mount --rbind /dev "$rootfs/dev"

status_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
statsd_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$work/run.log
# chroot execs the script, which execs meterd: one pid from start to end.
chroot "$rootfs" /bin/bash -c "cd /src/meterd && exec packaging/dev-run.sh \
    --set status_port=$status_port --set dogstatsd_port=$statsd_port" >"$log" 2>&1 &
agent_pid=$!

# Installing the build packages and building take minutes on a fresh root.
deadline=$((SECONDS + 900))
up=""
while [ $SECONDS -lt $deadline ] && kill -0 "$agent_pid" 2>/dev/null; do
    if python3 - "$status_port" <<'EOF' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=2).read()
EOF
        up=1
        break
    fi
    sleep 1
done
if [ -n "$up" ]; then
    ok quickstart_serves_status_page
else
    tail -40 "$log"
    fail quickstart_serves_status_page "no status page within 900 s (agent alive: $(kill -0 "$agent_pid" 2>/dev/null && echo yes || echo no))"
    finish
fi

# A metric sent as the README says shows up in the console output of the next flush.
deadline=$((SECONDS + 40))
seen=""
while [ $SECONDS -lt $deadline ]; do
    echo "quickstart.views:1|c|#env:qs" >"/dev/udp/127.0.0.1/$statsd_port"
    if grep -q 'quickstart.views{env:qs}' "$log"; then
        seen=1
        break
    fi
    sleep 1
done
if [ -n "$seen" ]; then
    ok quickstart_prints_metric
else
    tail -40 "$log"
    fail quickstart_prints_metric "the console never showed quickstart.views{env:qs}"
fi
finish

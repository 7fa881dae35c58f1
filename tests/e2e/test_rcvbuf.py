#!/usr/bin/env python3
"""End to end: the intake socket buffer holds what arrives while meterd is off the CPU.

A host agent shares its host: whatever the scheduler does, the datagrams
that arrive while the intake thread does not run wait in the socket's
receive buffer. meterd asks for 8 MiB (dogstatsd_so_rcvbuf), past
net.core.rmem_max with SO_RCVBUFFORCE when it has CAP_NET_ADMIN. Each test
stops the real meterd process (SIGSTOP), sends a burst bigger than
rmem_max's worth of buffer but smaller than 8 MiB's, resumes it, and reads
its telemetry:
- as root (CAP_NET_ADMIN), nothing is lost;
- with CAP_NET_ADMIN dropped (setpriv), meterd says at start which sysctl
  to raise, and what the kernel dropped is counted, never silent.
"""
import os
import signal
import socket
import stat
import sys

import harness
from harness import Meterd, run_tests, wait_until

DATAGRAMS = 5000         # 20 metrics each, ~1.4 KB: ~11 MB of kernel memory on loopback
PER_DATAGRAM = 20
RCVBUF = 8 * 1024 * 1024  # meterd's default dogstatsd_so_rcvbuf


def rmem_max():
    with open("/proc/sys/net/core/rmem_max") as f:
        return int(f.read())


def burst(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in range(DATAGRAMS):
        lines = ["rb.c%d:1|c|#env:e2e,service:socket-buffer-burst,team:intake" %
                 ((d * PER_DATAGRAM + k) % 1000) for k in range(PER_DATAGRAM)]
        s.sendto("\n".join(lines).encode(), ("127.0.0.1", port))
    s.close()


def stopped_burst(m):
    """Send the burst while meterd is stopped; return its intake telemetry once all is accounted for."""
    m.proc.signal(signal.SIGSTOP)
    try:
        burst(m.statsd_port)
    finally:
        m.proc.signal(signal.SIGCONT)
    def settled():
        i = m.status()["dogstatsd"]
        return i if i["packets"] + max(i["kernel_drops"], 0) >= DATAGRAMS else None
    return wait_until(settled, 30, "every datagram read or counted as dropped")


def test_root_buffer_absorbs_burst(d):
    if os.geteuid() != 0:
        print("  (not root: SO_RCVBUFFORCE is not ours to use; nothing to check)")
        return
    m = Meterd(d, settings={"hostname": "e2e-rcvbuf", "dogstatsd_pipeline_count": 1})
    i = stopped_burst(m)
    print("  burst of %d datagrams while stopped: read %d, kernel drops %d (rmem_max %d)" % (
        DATAGRAMS, i["packets"], i["kernel_drops"], rmem_max()))
    assert i["kernel_drops"] == 0, i
    assert i["packets"] == DATAGRAMS and i["metrics"] == DATAGRAMS * PER_DATAGRAM, i
    log = m.proc.output()
    assert "net.core.rmem_max" not in log, log[-2000:]


def test_without_cap_net_admin_warns_and_counts(d):
    if os.geteuid() != 0 or rmem_max() >= RCVBUF:
        print("  (rmem_max %d already allows %d bytes, or not root: nothing to refuse)" % (
            rmem_max(), RCVBUF))
        return
    # The same binary with CAP_NET_ADMIN gone from every capability set.
    wrapper = os.path.join(d, "meterd-no-net-admin")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --inh-caps=-net_admin --bounding-set=-net_admin %s \"$@\"\n"
                % harness.meterd_bin())
    os.chmod(wrapper, stat.S_IRWXU)
    real = os.environ.get("METERD_BIN")
    os.environ["METERD_BIN"] = wrapper
    try:
        m = Meterd(d, settings={"hostname": "e2e-rcvbuf", "dogstatsd_pipeline_count": 1})
    finally:
        if real is None:
            del os.environ["METERD_BIN"]
        else:
            os.environ["METERD_BIN"] = real
    log = m.proc.output()
    assert "net.core.rmem_max" in log and "dogstatsd_so_rcvbuf" in log, log[-2000:]
    i = stopped_burst(m)
    print("  without CAP_NET_ADMIN: read %d, kernel drops %d (rmem_max %d)" % (
        i["packets"], i["kernel_drops"], rmem_max()))
    assert i["kernel_drops"] > 0, i  # what the smaller buffer could not hold ...
    assert i["packets"] + i["kernel_drops"] == DATAGRAMS, i  # ... is counted, not silent


if __name__ == "__main__":
    sys.exit(run_tests([test_root_buffer_absorbs_burst, test_without_cap_net_admin_warns_and_counts]))

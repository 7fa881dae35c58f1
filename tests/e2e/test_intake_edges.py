#!/usr/bin/env python3
"""End to end: the DogStatsD intake's network edges, as a Datadog agent user expects them.

- dogstatsd_non_local_traffic: one dual-stack UDP socket ([::]:port) receives
  datagrams sent over IPv4 (127.0.0.1) and IPv6 (::1); both reach VictoriaMetrics.
- The unix socket is created with the agent's mode 0722 by default, or with
  dogstatsd_socket_mode, and receives datagrams.
- A unix socket whose folder does not exist is logged and UDP carries on.
"""
import os
import socket
import stat
import sys

from harness import Meterd, VictoriaMetrics, run_tests, wait_until

HOST = "e2e-edges"


def start(d, **settings):
    vm = VictoriaMetrics(d)
    base = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": "e2e-edges-key",
            "flush_interval": 2}
    base.update(settings)
    return vm, Meterd(d, settings=base)


def send(family, addr, port, payload):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, (addr, port))
    finally:
        s.close()


def value_of(vm, name):
    got = vm.export('{__name__="%s"}' % name)
    return sum(sum(s["values"]) for s in got)


def test_dual_stack_udp(d):
    vm, m = start(d, dogstatsd_non_local_traffic="true")
    assert "listening on udp :::%d" % m.statsd_port in m.proc.output(), m.proc.output()[-1500:]
    send(socket.AF_INET, "127.0.0.1", m.statsd_port, b"edges.v4:3|c")
    send(socket.AF_INET6, "::1", m.statsd_port, b"edges.v6:5|c")
    m.wait_received(2)
    # counters ship as per-second rates of the window: positive when it arrived
    wait_until(lambda: value_of(vm, "edges.v4") > 0, 20, "the IPv4 counter in VictoriaMetrics")
    wait_until(lambda: value_of(vm, "edges.v6") > 0, 20, "the IPv6 counter in VictoriaMetrics")


def test_local_only_by_default(d):
    """Without non-local traffic the intake stays on 127.0.0.1: ::1 is not served."""
    vm, m = start(d)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::1", m.statsd_port))  # free on ::1: meterd did not take it
    finally:
        s.close()


def uds_send(path, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, path)
    finally:
        s.close()


def test_uds_mode_default_and_configured(d):
    path = os.path.join(d, "dsd.socket")
    vm, m = start(d, dogstatsd_socket=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o722, oct(os.stat(path).st_mode)
    uds_send(path, b"edges.uds:1|c")
    m.wait_received(1)
    m.stop()
    vm.stop()
    d2 = os.path.join(d, "second")
    os.makedirs(d2)
    path2 = os.path.join(d2, "dsd.socket")
    vm, m = start(d2, dogstatsd_socket=path2, dogstatsd_socket_mode="0660")
    assert stat.S_IMODE(os.stat(path2).st_mode) == 0o660, oct(os.stat(path2).st_mode)


def test_uds_folder_missing_udp_carries_on(d):
    path = os.path.join(d, "not-mounted", "dsd.socket")
    vm, m = start(d, dogstatsd_socket=path)
    log = m.proc.output()
    assert "its folder does not exist; the unix socket is off, UDP carries on" in log, log[-1500:]
    assert path in log
    m.send("edges.udp.after:1|c")
    m.wait_received(1)
    wait_until(lambda: value_of(vm, "edges.udp.after") > 0, 20, "the UDP counter in VictoriaMetrics")


if __name__ == "__main__":
    sys.exit(run_tests([test_dual_stack_udp, test_local_only_by_default,
                        test_uds_mode_default_and_configured, test_uds_folder_missing_udp_carries_on]))

#!/usr/bin/env python3
"""End to end: meterd's host collectors -> real VictoriaMetrics, and SIGHUP.

The collectors read the real /proc of this machine, so the values cannot be
known in advance; each one is checked against an independent reading taken
here (MemTotal, os.getloadavg(), a UDP burst on loopback) with a tolerance
that covers the time between the two readings. The reload test rewrites
conf.d under a running meterd, sends SIGHUP and checks that the new config
takes over, that statsd traffic sent across the reload is neither lost nor
double counted, and that a broken conf.d is refused with its file:line:key
while the old collectors keep running.
"""
import math
import os
import signal
import socket
import sys
import threading
import time

from harness import Meterd, VictoriaMetrics, run_tests, wait_until

HOST = "e2e-host"
LO_ONLY = '    excluded_interface_re: "^([^l].*|l[^o].*|lo.+|l)$"\n'
FLUSH = 2  # short windows keep the test short; counters ship as sum / FLUSH


def write_conf(confd, name, text):
    """Write <confd>/<name>.d/conf.yaml (atomically, so a reload never sees half a file)."""
    folder = os.path.join(confd, name + ".d")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "conf.yaml")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    return path


def instance_conf(interval, tags=(), extra=""):
    tag_list = "[%s]" % ", ".join(tags)
    return ("init_config:\n\ninstances:\n"
            "  - min_collection_interval: %d\n"
            "    tags: %s\n%s" % (interval, tag_list, extra))


def start(d, confd, **settings):
    """VictoriaMetrics plus meterd whose conf.d is `confd`.

    confd_path is in meterd.yaml as well as in --set; a SIGHUP reads both
    again, the file and the same --set values as at start.
    """
    vm = VictoriaMetrics(d)
    base = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": "e2e-secret-key-1234",
            "flush_interval": FLUSH, "confd_path": confd}
    base.update(settings)
    text = "confd_path: %s\nhostname: %s\n" % (confd, HOST)
    return vm, Meterd(d, settings=base, config_text=text)


def points(vm, match):
    """[(labels, ts_seconds, value)] for every sample of series matching `match`."""
    out = []
    for s in vm.export(match):
        for v, t in zip(s["values"], s["timestamps"]):
            out.append((s["metric"], t / 1000.0, v))
    return out


def wait_points(vm, match, what, pred=lambda p: True, timeout=25):
    """Wait until at least one point of `match` satisfies pred; return those points."""
    return wait_until(lambda: [p for p in points(vm, match) if pred(p)], timeout, what,
                      interval=0.2)


def collector(m, name):
    got = [c for c in m.status()["collectors"] if c["name"] == name]
    assert len(got) == 1, "expected one %s instance, got %r" % (name, got)
    return got[0]


def meminfo_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no MemTotal in /proc/meminfo")


def loopback_burst(nbytes=256 * 1024):
    """Send nbytes of UDP over loopback to a socket of our own and read them back."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    chunk = b"x" * 1024
    got = 0
    try:
        for _ in range(nbytes // len(chunk)):
            tx.sendto(chunk, rx.getsockname())
            got += len(rx.recv(2048))  # one in, one out: the receive buffer never overflows
    finally:
        tx.close()
        rx.close()
    return got


def test_host_metrics_to_vm(d):
    confd = os.path.join(d, "confd")
    for name in ("cpu", "memory", "load"):
        write_conf(confd, name, instance_conf(1))
    # Only lo: the VictoriaMetrics under test may drop the Datadog "device" field
    # (1.79 does; it became the device label later), which would fold every
    # interface into one series. The regex matches every name but "lo".
    # The protocol counters (test_datadog_checks.py) are off: only lo's 8 series and CurrEstab.
    write_conf(confd, "network", instance_conf(1, extra=LO_ONLY + "    collect_rate_metrics: false\n"))
    # Collectors that run by default without a file are turned off: only the four above ship.
    for name in ("disk", "io", "uptime", "processes", "file_handle", "self", "container"):
        write_conf(confd, name, "init_config:\ninstances:\n  - enabled: false\n")
    vm, m = start(d, confd)
    st = m.status()["collectors"]
    running = sorted(c["name"] for c in st if c["enabled"])
    assert running == ["cpu", "load", "memory", "network"], st
    for c in st:
        if c["enabled"]:
            assert c["interval"] == 1 and c["source"].startswith(confd), c
    host = '{__name__="%s",host="' + HOST + '"}'

    mem = wait_points(vm, host % "system.mem.total", "system.mem.total")
    ref = meminfo_mib()
    for labels, _, v in mem:
        assert abs(v - ref) <= 1, "system.mem.total %r MiB, /proc/meminfo says %r MiB" % (v, ref)
        assert labels.get("host") == HOST, labels

    # load.1 moves slowly: compare the newest point with a reading taken right after it.
    load = wait_points(vm, host % "system.load.1", "system.load.1")
    newest = max(load, key=lambda p: p[1])[2]
    ref = os.getloadavg()[0]
    assert abs(newest - ref) <= 0.5 * ref + 0.5, "system.load.1 %r vs getloadavg %r" % (newest, ref)

    # cpu percentages are rates: they appear from the second run on.
    cpu = wait_points(vm, host % "system.cpu.user", "system.cpu.user")
    for _, ts, v in cpu:
        assert 0 <= v <= 100, "system.cpu.user %r at %r" % (v, ts)
    idle = {ts: v for _, ts, v in points(vm, host % "system.cpu.idle")}
    for _, ts, v in cpu:
        if ts in idle:
            assert v + idle[ts] <= 100.5, "cpu.user %r + cpu.idle %r > 100 at %r" % (v, idle[ts], ts)

    # Traffic on lo after a network run: a later window must show lo receiving bytes.
    wait_until(lambda: collector(m, "network")["runs"] >= 1, 10, "a first network run")
    t_send = time.time()
    sent = loopback_burst()
    assert sent > 0
    window = int(t_send) // FLUSH * FLUSH
    lo = '{__name__="system.net.bytes_rcvd",host="%s"}' % HOST
    wait_points(vm, lo, "system.net.bytes_rcvd of lo > 0 after the burst",
                pred=lambda p: p[1] >= window and p[2] > 0)
    rcvd = points(vm, lo)
    # device:lo ships as the Datadog "device" field: a label where VM keeps it.
    assert all(p[0].get("device", "lo") == "lo" for p in rcvd), rcvd
    # What lo sends it receives, and both come from one read of net/dev.
    sent_pts = {ts: v for _, ts, v in points(vm, '{__name__="system.net.bytes_sent",host="%s"}' % HOST)}
    for _, ts, v in rcvd:
        assert v >= 0 and (ts not in sent_pts or sent_pts[ts] == v), (ts, v, sent_pts.get(ts))
    assert any(ts in sent_pts for _, ts, _ in rcvd), "no bytes_sent beside bytes_rcvd"
    net = collector(m, "network")
    # 8 series per interface, from the second run on: only lo passed the regex; plus
    # system.net.tcp.current_established, a gauge.
    assert net["errors"] == 0 and net["last_samples"] == 9, net
    for name in ("cpu", "memory", "load"):
        c = collector(m, name)
        assert c["runs"] >= 1 and c["errors"] == 0, c
    assert "e2e-secret-key" not in m.proc.output()


class Sender(threading.Thread):
    """Sends `n` statsd counter datagrams, paced, from its own thread."""

    def __init__(self, port, n, burst=1):
        super().__init__(daemon=True)
        self.port, self.n, self.burst = port, n, burst
        self.sent = 0
        self.error = None

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i in range(self.n):
                s.sendto(b"reload.c:1|c", ("127.0.0.1", self.port))
                self.sent += 1
                if (i + 1) % self.burst == 0:
                    time.sleep(0.002)  # pacing, not waiting: spreads the traffic over the reload
        except Exception as e:
            self.error = e
        finally:
            s.close()


def test_sighup_reload(d):
    confd = os.path.join(d, "confd")
    conf = write_conf(confd, "uptime", instance_conf(1, ["phase:one"]))
    for name in ("cpu", "memory", "load", "network", "disk", "io", "processes", "file_handle", "self"):
        write_conf(confd, name, "init_config:\ninstances:\n  - enabled: false\n")
    vm, m = start(d, confd)
    up = '{__name__="system.uptime",host="%s",phase="%s"}'
    wait_points(vm, up % (HOST, "one"), "system.uptime{phase=one}")
    assert collector(m, "uptime")["interval"] == 1

    n = 2000
    sender = Sender(m.statsd_port, n)
    sender.start()
    m.wait_received(n // 4)  # the reload lands while datagrams are in flight

    write_conf(confd, "uptime", instance_conf(2, ["phase:two"]))
    t_reload = time.time()
    sent_before = sender.sent
    m.proc.signal(signal.SIGHUP)
    wait_until(lambda: m.status()["reloads"] == 1, 10, "status reloads == 1")
    sent_after = sender.sent
    assert m.status()["reload_errors"] == 0
    c = collector(m, "uptime")
    assert c["interval"] == 2 and c["source"] == conf, c
    wait_points(vm, up % (HOST, "two"), "system.uptime{phase=two}")

    sender.join(30)
    assert not sender.is_alive() and sender.error is None, sender.error
    # The reload happened with datagrams sent both before and after it.
    assert sender.sent == n and 0 < sent_before <= sent_after < n, (sender.sent, sent_before,
                                                                    sent_after)
    m.wait_received(n)
    ds = m.status()["dogstatsd"]
    assert ds["packets"] == n, "status packets %r, sent %d" % (ds["packets"], n)
    assert ds["kernel_drops"] == 0 and ds["ring_full_drops"] == 0, ds

    def vm_total():
        pts = points(vm, '{__name__="reload.c",host="%s"}' % HOST)
        return sum(v * FLUSH for _, _, v in pts)
    total = wait_until(lambda: vm_total() >= n - 0.5 and vm_total(), 20,
                       "sum of reload.c at VM to reach %d" % n, interval=0.3)
    assert math.isclose(total, n), "reload.c total %r at VM, sent %d" % (total, n)

    # phase=one stops at the reload: no window that starts after it holds one.
    late = [p for p in points(vm, up % (HOST, "one")) if p[1] > t_reload + 1]
    assert not late, "phase=one after the reload: %r" % late

    # A conf.d with a bad value on a known key is refused; the running collectors stay.
    # (An unknown key is only a warning, as in the Datadog agent.)
    bad = instance_conf(1, ["phase:three"], extra="    bogus_key: 1\n    enabled: maybe\n")
    write_conf(confd, "uptime", bad)
    bad_line = bad.splitlines().index("    enabled: maybe") + 1
    m.proc.signal(signal.SIGHUP)
    wait_until(lambda: m.status()["reload_errors"] == 1, 10, "status reload_errors == 1")
    t_bad = time.time()
    assert m.proc.alive() and m.status()["reloads"] == 1
    want = "%s:%d: enabled: expected true or false" % (conf, bad_line)
    wait_until(lambda: want in m.proc.output(), 5, "log line %r" % want)
    c = collector(m, "uptime")
    assert c["interval"] == 2, c
    wait_points(vm, up % (HOST, "two"), "system.uptime{phase=two} after a refused reload",
                pred=lambda p: p[1] >= int(t_bad) // FLUSH * FLUSH + FLUSH)

    # Invalid YAML is refused the same way, with the file and line of the problem.
    write_conf(confd, "uptime", "init_config:\ninstances:\n  - tags: [phase:four\n")
    m.proc.signal(signal.SIGHUP)
    wait_until(lambda: m.status()["reload_errors"] == 2, 10, "status reload_errors == 2")
    t_bad = time.time()
    want = "%s:" % conf
    out = wait_until(lambda: [l for l in m.proc.output().splitlines()
                              if "reload rejected" in l and want in l and "enabled: expected" not in l],
                     5, "a second 'reload rejected' log line naming %s" % conf)
    assert any(want + str(k) in out[0] for k in range(1, 5)), out
    wait_points(vm, up % (HOST, "two"), "system.uptime{phase=two} after a second refused reload",
                pred=lambda p: p[1] >= int(t_bad) // FLUSH * FLUSH + FLUSH)
    for phase in ("three", "four"):
        assert not points(vm, up % (HOST, phase)), "phase=%s reached VM" % phase
    assert m.proc.alive() and m.status()["reloads"] == 1
    # Later windows added nothing to the counter: nothing was counted twice.
    assert math.isclose(vm_total(), n), "reload.c total %r at VM, sent %d" % (vm_total(), n)
    assert "e2e-secret-key" not in m.proc.output()


if __name__ == "__main__":
    sys.exit(run_tests([test_host_metrics_to_vm, test_sighup_reload]))

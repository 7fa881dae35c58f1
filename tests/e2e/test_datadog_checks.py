#!/usr/bin/env python3
"""End to end: meterd with what a Datadog user already has, shipping to a real VictoriaMetrics.

- The Datadog agent's unchanged default check files (tests/fixtures/datadog-confd,
  sources in its SOURCES.md) start meterd: every collector runs from them, the
  agent-only keys are logged as ignored, DogStatsD works beside them.
- The network check's protocol counters agree with /proc/net/snmp read here:
  traffic of a known size is made between two collector runs, and the counts
  meterd shipped must cover it and stay within what the kernel counted from
  before meterd started to after it stopped (the machine is shared, so other
  traffic only widens the bound).
- Connection states: listeners opened here show in system.net.tcp4/tcp6.listening.
- The infrastructure list: the host metadata document reaches /intake/ (host
  name, host tags, CPU and memory facts that match /proc read here) and every
  window carries datadog.agent.running, at a recording stand-in for the intake.
"""
import os
import shutil
import socket
import sys
import time

import json

from capture_server import CaptureServer
from harness import Meterd, VictoriaMetrics, run_tests, wait_until

HOST = "e2e-ddchecks"
FLUSH = 2
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DD_CONFD = os.path.join(ROOT, "tests", "fixtures", "datadog-confd")
COLLECTORS = ("cpu", "memory", "load", "disk", "io", "network", "uptime", "processes",
              "file_handle", "self")


def write_conf(confd, name, text):
    folder = os.path.join(confd, name + ".d")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "conf.yaml"), "w") as f:
        f.write(text)


def only_collector(confd, name, text):
    """conf.d with `name` configured by `text` and every other collector off."""
    write_conf(confd, name, text)
    for other in COLLECTORS:
        if other != name:
            write_conf(confd, other, "instances:\n  - enabled: false\n")


def start(d, confd):
    vm = VictoriaMetrics(d)
    settings = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": "e2e-ddchecks-key-5678",
                "flush_interval": FLUSH, "confd_path": confd}
    return vm, Meterd(d, settings=settings)


def snmp():
    """{"Udp.NoPorts": n, ...} from /proc/net/snmp, read here."""
    out = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[0::2], lines[1::2]):
        group = head.split(":")[0]
        for k, v in zip(head.split()[1:], vals.split()[1:]):
            out[group + "." + k] = int(v)
    return out


def series_sum(vm, name):
    total = 0.0
    for s in vm.export('{__name__="%s",host="%s"}' % (name, HOST)):
        total += sum(s["values"])
    return total


def collector(m, name):
    got = [c for c in m.status()["collectors"] if c["name"] == name]
    assert len(got) == 1, got
    return got[0]


def test_datadog_default_check_files(d):
    confd = os.path.join(d, "conf.d")
    shutil.copytree(DD_CONFD, confd)
    vm, m = start(d, confd)
    st = {c["name"]: c for c in m.status()["collectors"]}
    for name in ("cpu", "memory", "disk", "io", "network", "file_handle"):
        assert st[name]["source"].endswith("/%s.d/conf.yaml.default" % name), st[name]
        assert st[name]["enabled"], st[name]
    wait_until(lambda: all(collector(m, n)["runs"] >= 2 for n in ("network", "file_handle", "disk")),
               20, "two runs of network, file_handle and disk")
    for name in ("cpu", "memory", "disk", "io", "network", "file_handle"):
        c = collector(m, name)
        assert c["errors"] == 0, c
    log = m.proc.output()
    assert "file_handle.d/conf.yaml.default:1: loader: a key of the Datadog agent's check loader, ignored" in log, log[-2000:]
    # DogStatsD runs beside the checks
    m.send("dd.defaults.ok:1|c")
    wait_until(lambda: vm.export('{__name__="dd.defaults.ok"}'), 20, "the statsd counter in VictoriaMetrics")
    wait_until(lambda: vm.export('{__name__="system.fs.file_handles.allocated",host="%s"}' % HOST), 20,
               "file_handle metrics in VictoriaMetrics")
    wait_until(lambda: vm.export('{__name__="system.net.tcp.retrans_segs",host="%s"}' % HOST), 20,
               "the network check's protocol rates in VictoriaMetrics")
    assert "e2e-ddchecks-key" not in m.proc.output()


def closed_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_traffic(k):
    """k datagrams to a closed port (NoPorts, OutDatagrams) and k to our own socket (InDatagrams)."""
    closed = closed_udp_port()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(k):
            tx.sendto(b"x", ("127.0.0.1", closed))
            tx.sendto(b"y", rx.getsockname())
            rx.recv(16)
    finally:
        tx.close()
        rx.close()


def test_protocol_counts_agree_with_proc_net_snmp(d):
    confd = os.path.join(d, "conf.d")
    only_collector(confd, "network", "instances:\n  - min_collection_interval: 1\n"
                   "    excluded_interface_re: .*\n    collect_rate_metrics: false\n"
                   "    collect_count_metrics: true\n")
    before = snmp()
    vm, m = start(d, confd)
    wait_until(lambda: collector(m, "network")["runs"] >= 1, 10, "a first network run")
    k = 400
    udp_traffic(k)
    sent_ms = time.time() * 1000
    # a run that started after the traffic, so its delta includes it
    wait_until(lambda: collector(m, "network")["last_run_unix_ms"] > sent_ms, 10,
               "a network run after the traffic")
    wait_until(lambda: series_sum(vm, "system.net.udp.no_ports.count") >= k, 20,
               "system.net.udp.no_ports.count covering the %d datagrams" % k)
    m.stop()
    after = snmp()
    pairs = {
        "system.net.udp.no_ports.count": ("Udp.NoPorts", k),
        "system.net.udp.in_datagrams.count": ("Udp.InDatagrams", k),
        "system.net.udp.out_datagrams.count": ("Udp.OutDatagrams", 2 * k),
        "system.net.tcp.in_segs.count": ("Tcp.InSegs", 0),
        "system.net.tcp.out_segs.count": ("Tcp.OutSegs", 0),
        "system.net.tcp.retrans_segs.count": ("Tcp.RetransSegs", 0),
        "system.net.tcp.active_opens.count": ("Tcp.ActiveOpens", 0),
        "system.net.udp.in_errors.count": ("Udp.InErrors", 0),
    }
    for metric, (field, least) in pairs.items():
        got = series_sum(vm, metric)
        kernel = after[field] - before[field]
        assert least <= got <= kernel, "%s: meterd shipped %r, made here %r, kernel counted %r (%s)" % (
            metric, got, least, kernel, field)
    # rates were turned off: no series without .count
    assert not vm.export('{__name__="system.net.udp.no_ports",host="%s"}' % HOST)
    # CurrEstab is a gauge, always sent
    assert vm.export('{__name__="system.net.tcp.current_established",host="%s"}' % HOST)


def test_connection_states(d):
    confd = os.path.join(d, "conf.d")
    only_collector(confd, "network", "instances:\n  - min_collection_interval: 1\n"
                   "    excluded_interface_re: .*\n    collect_rate_metrics: false\n"
                   "    collect_connection_state: true\n")
    listeners = []
    try:
        for fam, addr in ((socket.AF_INET, "127.0.0.1"),) * 3 + ((socket.AF_INET6, "::1"),) * 3:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((addr, 0))
            s.listen(1)
            listeners.append(s)
        vm, m = start(d, confd)
        for proto in ("tcp4", "tcp6"):
            name = "system.net.%s.listening" % proto
            pts = wait_until(lambda: [v for s in vm.export('{__name__="%s",host="%s"}' % (name, HOST))
                                      for v in s["values"]], 20, name)
            assert min(pts) >= 3, (name, pts)
        for name in ("system.net.tcp4.established", "system.net.udp4.connections",
                     "system.net.udp6.connections", "system.net.tcp4.time_wait"):
            wait_until(lambda: vm.export('{__name__="%s",host="%s"}' % (name, HOST)), 20, name)
        assert collector(m, "network")["errors"] == 0
    finally:
        for s in listeners:
            s.close()


def test_host_metadata_and_agent_running(d):
    confd = os.path.join(d, "conf.d")
    only_collector(confd, "uptime", "instances:\n  - min_collection_interval: 1\n")
    with CaptureServer() as cap:
        m = Meterd(d, settings={"dd_url": cap.url, "hostname": HOST, "api_key": "e2e-meta-key-9012",
                                "flush_interval": FLUSH, "confd_path": confd,
                                "tags": "env:e2e team:metrics"})
        meta = wait_until(lambda: [r for r in cap.requests("/intake/") if "internalHostname" in (r.get("json") or {})
                                   and "events" not in r["json"]], 20, "the host metadata on /intake/")
        doc = meta[0]["json"]
        assert doc["internalHostname"] == HOST and doc["os"] == "linux", doc
        assert doc["host-tags"]["system"] == ["env:e2e", "team:metrics"], doc["host-tags"]
        with open("/proc/cpuinfo") as f:
            cpus = sum(1 for line in f if line.startswith("processor"))
        with open("/proc/meminfo") as f:
            mem = [line.split()[1] for line in f if line.startswith("MemTotal:")][0]
        gohai = json.loads(doc["gohai"])
        assert gohai["cpu"]["cpu_logical_processors"] == str(cpus), gohai["cpu"]
        assert 1 <= int(gohai["cpu"]["cpu_cores"]) <= cpus, gohai["cpu"]
        assert gohai["memory"]["total"] == mem + "kB", gohai["memory"]
        assert gohai["platform"]["kernel_release"] == os.uname().release, gohai["platform"]
        assert doc["systemStats"]["cpuCores"] == cpus, doc["systemStats"]
        assert meta[0]["headers"].get("dd-api-key") == "e2e-meta-key-9012"
        assert "e2e-meta-key-9012" not in json.dumps(doc)

        def running():
            out = []
            for r in cap.requests("/api/v1/series"):
                out += [s for s in (r.get("json") or {}).get("series", []) if s["metric"] == "datadog.agent.running"]
            return out
        pts = wait_until(lambda: len(running()) >= 2 and running(), 20, "datadog.agent.running in two windows")
        for s in pts:
            assert s["host"] == HOST and s["points"][0][1] == 1 and s["type"] == "gauge", s
        assert len({s["points"][0][0] for s in pts}) == len(pts), "one datadog.agent.running a window"
        # the document goes out once, then every 30 minutes
        assert len([r for r in cap.requests("/intake/") if "gohai" in (r.get("json") or {})]) == 1
        assert "e2e-meta-key" not in m.proc.output()


if __name__ == "__main__":
    sys.exit(run_tests([test_datadog_default_check_files, test_protocol_counts_agree_with_proc_net_snmp,
                        test_connection_states, test_host_metadata_and_agent_running]))

#!/usr/bin/env python3
"""End to end: real meterd -> real VictoriaMetrics (Datadog /api/v1/series).

Datagrams go over real UDP; meterd aggregates them into 10 s windows and
ships zlib-compressed JSON; the series are read back from VictoriaMetrics'
/api/v1/export and compared exactly: names, values, window-start timestamps,
host and tags.
"""
import math
import os
import signal
import socket
import stat
import sys
import time

from harness import Meterd, VictoriaMetrics, avoid_window_edge, meterd_bin, run_tests, wait_until

HOST = "e2e-host"


def series_at(vm, match, ts):
    """{frozenset(labels): [values at ts]} for series matching `match`."""
    out = {}
    for s in vm.export(match):
        labels = dict(s["metric"])
        vals = [v for v, t in zip(s["values"], s["timestamps"]) if t == ts * 1000]
        if vals:
            out[frozenset(labels.items())] = vals
    return out


def expect_series(vm, name, labels, ts, value, timeout=25):
    """Wait until `name`{labels} has a point at ts, then check it is exactly `value`."""
    want = dict(labels, __name__=name)
    key = frozenset(want.items())

    def present():
        return series_at(vm, '{__name__="%s"}' % name, ts)
    got = wait_until(lambda: key in present() and present(), timeout,
                     "%s%s at %d in VictoriaMetrics" % (name, labels, ts))
    vals = got[key]
    assert len(vals) == 1, "%s: expected one point at %d, got %r" % (name, ts, vals)
    assert math.isclose(vals[0], value, rel_tol=1e-12), "%s: got %r want %r" % (name, vals[0], value)
    others = [k for k in got if k != key]
    assert not others, "%s: unexpected label sets %r" % (name, others)


def start(d, **settings):
    vm = VictoriaMetrics(d)
    base = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": "e2e-secret-key-1234"}
    base.update(settings)
    return vm, Meterd(d, settings=base)


def test_counter_gauge_timer_exact_readback(d):
    vm, m = start(d)
    w = avoid_window_edge()
    m.send("page.views:1|c|#env:dev\npage.views:2|c|#env:dev\nthis line is malformed",
           "temp.room:21.5|g|#room:a,floor:2",
           "req.latency:10|ms\nreq.latency:20|ms\nreq.latency:30|ms|@0.5",
           "queue.size:7|h|#q:z")
    m.wait_received(4)
    expect_series(vm, "page.views", {"env": "dev", "host": HOST}, w, 0.3)
    expect_series(vm, "temp.room", {"room": "a", "floor": "2", "host": HOST}, w, 21.5)
    # timer: samples 10, 20, 30 (weight 2, sum counts 30/0.5): count=4, sum=90
    lat = {"host": HOST}
    expect_series(vm, "req.latency.max", lat, w, 30)
    expect_series(vm, "req.latency.median", lat, w, 20)
    expect_series(vm, "req.latency.avg", lat, w, 90 / 4)
    expect_series(vm, "req.latency.count", lat, w, 4 / 10)
    expect_series(vm, "req.latency.95percentile", lat, w, 30)
    expect_series(vm, "queue.size.max", {"q": "z", "host": HOST}, w, 7)
    st = m.status()
    assert st["dogstatsd"]["parse_errors"].get("no_value_separator", 0) + \
        st["dogstatsd"]["parse_errors"].get("no_type_separator", 0) == 1, st["dogstatsd"]
    assert st["dogstatsd"]["metrics"] == 7, st["dogstatsd"]
    assert "e2e-secret-key" not in m.proc.output()


def test_every_type_packed_sampled_timestamped_host_override(d):
    vm, m = start(d, tags="region:eu")
    w = avoid_window_edge()
    ts = int(time.time()) - 3600  # an explicit |T point, one hour back
    m.send("p.count:1:2:3|c|@0.5|#k:v",              # packed + sampled: (1+2+3)/0.5 = 12
           "p.set:alice|s\np.set:bob|s\np.set:alice|s",
           "p.hist:1:2:3:4|h",
           "p.dist:10|d\np.dist:20|d\np.dist:30|d|@0.5",
           "p.ts.gauge:42|g|T%d" % ts,
           "p.ts.count:50|c|T%d" % ts,
           "p.host:5|g|#host:other-host,k:v",
           "p.nohost:6|g|#host:")
    m.wait_received(8)
    g = {"host": HOST, "region": "eu"}
    expect_series(vm, "p.count", dict(g, k="v"), w, 12 / 10)
    expect_series(vm, "p.set", g, w, 2)
    expect_series(vm, "p.hist.max", g, w, 4)
    expect_series(vm, "p.hist.median", g, w, 2)       # lower middle of an even count
    expect_series(vm, "p.hist.avg", g, w, 2.5)
    expect_series(vm, "p.hist.count", g, w, 0.4)
    # distributions as series (VictoriaMetrics 1.79 has no sketches endpoint):
    # 10, 20 and 30 counted twice (rate 0.5) -> count 4, sum 90, max 30, min 10
    expect_series(vm, "p.dist.avg", g, w, 90 / 4)
    expect_series(vm, "p.dist.count", g, w, 4 / 10)
    expect_series(vm, "p.dist.max", g, w, 30)
    expect_series(vm, "p.dist.min", g, w, 10)
    # |T bypasses aggregation: its own timestamp, gauge as is, count as rate /10
    expect_series(vm, "p.ts.gauge", g, ts, 42)
    expect_series(vm, "p.ts.count", g, ts, 5)
    # host: tag overrides the host; an empty host: leaves no host label
    expect_series(vm, "p.host", {"host": "other-host", "k": "v", "region": "eu"}, w, 5)
    expect_series(vm, "p.nohost", {"region": "eu"}, w, 6)


def test_unix_socket_intake(d):
    path = os.path.join(d, "dsd.sock")
    vm, m = start(d, dogstatsd_socket=path, dogstatsd_socket_mode="0620")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o620, oct(os.stat(path).st_mode)
    w = avoid_window_edge()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"uds.count:3|c|#via:uds\nuds.gauge:1.5|g", path)
    s.close()
    m.wait_received(1)
    expect_series(vm, "uds.count", {"via": "uds", "host": HOST}, w, 0.3)
    expect_series(vm, "uds.gauge", {"host": HOST}, w, 1.5)
    m.stop()
    assert not os.path.exists(path), "socket file left behind"


def test_second_agent_on_same_socket_refused(d):
    path = os.path.join(d, "dsd.sock")
    vm, m = start(d, dogstatsd_socket=path)
    import subprocess
    r = subprocess.run([meterd_bin(), "run", "--set", "dogstatsd_port=0", "--set", "status_port=0",
                        "--set", "dogstatsd_socket=" + path, "--set", "confd_path=" + d],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "in use" in r.stderr, (r.returncode, r.stderr[-300:])
    assert stat.S_ISSOCK(os.stat(path).st_mode), "the first agent's socket was removed"
    w = avoid_window_edge()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"uds.owner:7|c", path)
    s.close()
    m.wait_received(1)
    expect_series(vm, "uds.owner", {"host": HOST}, w, 0.7)


def test_stale_socket_file_replaced(d):
    path = os.path.join(d, "dsd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.close()  # the file stays, nobody is bound: what a crashed agent leaves
    vm, m = start(d, dogstatsd_socket=path)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.connect(path)
    c.close()


def test_second_agent_on_same_port_refused(d):
    vm, m = start(d)
    import subprocess
    r = subprocess.run([meterd_bin(), "run", "--set", "dogstatsd_port=%d" % m.statsd_port,
                        "--set", "status_port=0", "--set", "confd_path=" + d],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "in use" in r.stderr, (r.returncode, r.stderr[-300:])


def test_sigterm_flushes_open_window(d):
    vm, m = start(d)
    w = avoid_window_edge(margin=3)
    m.send("shutdown.counter:5|c|#phase:last", "shutdown.gauge:-2.25|g")
    m.wait_received(2)
    m.proc.signal(signal.SIGTERM)
    rc = m.proc.p.wait(20)
    assert rc == 0, "exit code %r" % rc
    expect_series(vm, "shutdown.counter", {"phase": "last", "host": HOST}, w, 0.5, timeout=5)
    expect_series(vm, "shutdown.gauge", {"host": HOST}, w, -2.25, timeout=5)


def test_health_and_status_endpoints(d):
    vm, m = start(d)
    st = m.status()
    assert st["hostname"] == HOST
    assert st["sinks"] == ["datadog"]
    assert "e2e-secret-key" not in str(st)


if __name__ == "__main__":
    sys.exit(run_tests([test_counter_gauge_timer_exact_readback,
                        test_every_type_packed_sampled_timestamped_host_override,
                        test_unix_socket_intake, test_second_agent_on_same_port_refused,
                        test_second_agent_on_same_socket_refused, test_stale_socket_file_replaced,
                        test_sigterm_flushes_open_window,
                        test_health_and_status_endpoints]))

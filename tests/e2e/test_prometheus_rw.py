#!/usr/bin/env python3
"""End to end: meterd's prometheus_rw sink into real receivers, exact read-back.

Statsd datagrams go over real UDP to meterd, which ships remote write 1.0
(snappy protobuf) to a real VictoriaMetrics (/api/v1/write, behind its own
basic auth) and to a real Prometheus (--web.enable-remote-write-receiver);
series are read back from each and compared exactly: sanitised names,
labels, values and window timestamps. A wrong password is refused by
VictoriaMetrics and counted as rejected, not retried.
"""
import base64
import json
import math
import os
import sys
import urllib.parse
import urllib.request

from harness import (Meterd, Proc, VictoriaMetrics, avoid_window_edge, free_port, http_get, run_tests,
                     wait_until)

HOST = "e2e-host"


def send_known(m):
    m.send("rw.gauge:4.5|g|#env:test,Weird-Key:v/1,bare",
           "rw.count:3|c|#env:test",
           "rw-dash.9x:-0.25|g")
    m.wait_received(1)


EXPECT = [  # (labels, value) per series, the window timestamp checked separately
    ({"__name__": "rw_gauge", "env": "test", "Weird_Key": "v/1", "bare": "true", "host": HOST}, 4.5),
    ({"__name__": "rw_count", "env": "test", "host": HOST}, 0.3),
    ({"__name__": "rw_dash_9x", "host": HOST}, -0.25),
]


class AuthVM(VictoriaMetrics):
    """VictoriaMetrics with its own basic auth on every endpoint."""

    def __init__(self, workdir, user, password):
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.user, self.password = user, password
        super().__init__(workdir)

    def restart(self):
        self.argv = self.argv[:6] + ["-httpAuth.username=" + self.user,
                                     "-httpAuth.password=" + self.password]
        self.proc = Proc(self.argv, self.log_path)
        wait_until(lambda: self._get("/health").strip() == "OK", 20, "VictoriaMetrics /health")

    def _get(self, path, data=None):
        req = urllib.request.Request(self.url + path, data=data, headers={"Authorization": self.auth})
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def export(self, match):
        self._get("/internal/force_flush")
        text = self._get("/api/v1/export", urllib.parse.urlencode({"match[]": match}).encode())
        return [json.loads(l) for l in text.splitlines() if l.strip()]


def test_victoriametrics_round_trip_with_basic_auth(d):
    vm = AuthVM(d, "rwuser", "rw-secret-pass")
    m = Meterd(d, {"sinks": "prometheus_rw", "prometheus_remote_write_url": vm.url + "/api/v1/write",
                   "prometheus_remote_write_username": "rwuser",
                   "prometheus_remote_write_password": "rw-secret-pass", "hostname": HOST})
    w = avoid_window_edge()
    send_known(m)
    for labels, value in EXPECT:
        sel = "{%s}" % ",".join('%s="%s"' % kv for kv in labels.items())
        got = wait_until(lambda: vm.export(sel), 25, "%s in VictoriaMetrics" % sel)
        assert len(got) == 1 and got[0]["metric"] == labels, got
        assert got[0]["timestamps"] == [w * 1000], got
        assert math.isclose(got[0]["values"][0], value, rel_tol=1e-12), got
    assert "rw-secret-pass" not in m.proc.output()
    assert "rw-secret-pass" not in json.dumps(m.status())


def test_wrong_password_rejected_and_counted(d):
    vm = AuthVM(d, "rwuser", "right")
    m = Meterd(d, {"sinks": "prometheus_rw", "prometheus_remote_write_url": vm.url + "/api/v1/write",
                   "prometheus_remote_write_username": "rwuser",
                   "prometheus_remote_write_password": "wrong-pass-123", "hostname": HOST,
                   "flush_interval": 1})
    m.send("rw.gauge:1|g")
    st = wait_until(lambda: (lambda f: f if f["dropped"]["rejected"] >= 1 else None)(
        m.status()["forwarder"]), 15, "a rejected payload")
    assert st["retries"] == 0, st
    assert st["last_status"] == 401, st
    assert "wrong-pass-123" not in m.proc.output()


def prometheus(d):
    port = free_port()
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 15s}\nscrape_configs: []\n")
    Proc(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "prom"),
          "--web.listen-address=127.0.0.1:%d" % port, "--web.enable-remote-write-receiver"],
         os.path.join(d, "prometheus.log"))
    url = "http://127.0.0.1:%d" % port
    wait_until(lambda: http_get(url + "/-/ready")[0] == 200, 30, "Prometheus /-/ready")
    return url


def test_prometheus_round_trip(d):
    url = prometheus(d)
    m = Meterd(d, {"sinks": "prometheus_rw", "prometheus_remote_write_url": url + "/api/v1/write",
                   "hostname": HOST})
    w = avoid_window_edge()
    send_known(m)

    def query(q):
        body = http_get(url + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": w + 60}))[1]
        return json.loads(body)["data"]["result"]
    for labels, value in EXPECT:
        sel = "{%s}[5m]" % ",".join('%s="%s"' % kv for kv in labels.items())
        got = wait_until(lambda: query(sel), 25, "%s in Prometheus" % sel)
        assert len(got) == 1 and got[0]["metric"] == labels, got
        assert len(got[0]["values"]) == 1, got
        ts, v = got[0]["values"][0]
        assert ts == w, (ts, w)
        assert math.isclose(float(v), value, rel_tol=1e-12), got
    # nothing out of order or rejected on the receiver's side
    metrics = http_get(url + "/metrics")[1]
    assert 'prometheus_tsdb_out_of_order_samples_total{type="float"} 0' in metrics


if __name__ == "__main__":
    sys.exit(run_tests([test_victoriametrics_round_trip_with_basic_auth,
                        test_wrong_password_rejected_and_counted,
                        test_prometheus_round_trip]))

#!/usr/bin/env python3
"""End to end: the last window's series on GET /metrics (openmetrics_expose_series).

Statsd datagrams go over real UDP to meterd; its /metrics text is parsed
exactly (sanitised names and labels as the prometheus_rw sink writes them,
one TYPE line per family, counters as the window's per-second rate, the
window start as timestamp, meterd's own counters first and # EOF last), and
a real Prometheus (Debian's) scrapes it with its strict OpenMetrics parser
and answers a query with the same values at the window's timestamp.
"""
import json
import os
import sys
import time
import urllib.parse

from harness import Meterd, Proc, free_port, http_get, run_tests, wait_until

HOST = "e2e-expose"
IV = 2  # flush_interval: counters show as count / IV

# One datagram, so every line lands in the same window.
DATAGRAM = "\n".join([
    "exp.req.count:3|c|#env:prod,Route:/a",
    "exp.req.count:5|c|#env:prod,Route:/b",
    'exp-gauge.9x:7.25|g|#quote:say"hi",bare',
    "9lives:-1|g",
    "exp.lat:10|h|#env:prod",
    "exp.lat:30|h|#env:prod",
])

# metric name -> {labels text: value}, for the families the datagram makes
EXPECT = {
    "exp_req_count": {'{Route="/a",env="prod",host="%s"}' % HOST: 1.5,
                      '{Route="/b",env="prod",host="%s"}' % HOST: 2.5},
    "exp_gauge_9x": {'{bare="true",host="%s",quote="say\\"hi\\""}' % HOST: 7.25},
    "_9lives": {'{host="%s"}' % HOST: -1.0},
    "exp_lat_max": {'{env="prod",host="%s"}' % HOST: 30.0},
    "exp_lat_avg": {'{env="prod",host="%s"}' % HOST: 20.0},
    "exp_lat_count": {'{env="prod",host="%s"}' % HOST: 1.0},
}


def start(d, **kw):
    s = {"sinks": "console", "hostname": HOST, "flush_interval": IV,
         "openmetrics_expose_series": "true"}
    s.update(kw)
    return Meterd(d, s)


def send_in_one_window(m):
    """Send the datagram well inside a window; returns that window's start."""
    left = IV - time.time() % IV
    if left < 0.5:
        time.sleep(left + 0.05)
    w = int(time.time()) // IV * IV
    m.send(DATAGRAM)
    m.wait_received(1)
    return w


def parse(text):
    """(families in order, {name: {labels: (value, ts)}}, lines) of the series part."""
    lines = text.splitlines()
    assert lines[-1] == "# EOF", lines[-3:]
    fams, samples, seen = [], {}, set()
    for l in lines[:-1]:
        if l.startswith("# TYPE "):
            name, typ = l[7:].rsplit(" ", 1)
            assert name not in seen, "family %s twice" % name
            seen.add(name)
            fams.append((name, typ))
            continue
        if l.startswith("#") or not fams or fams[-1][1] != "gauge" or fams[-1][0].startswith("meterd_"):
            continue
        key, value, ts = l.rsplit(" ", 2)
        name = key.split("{", 1)[0]
        assert name == fams[-1][0], "sample %s outside its family %s" % (l, fams[-1][0])
        labels = key[len(name):]
        assert labels not in samples.setdefault(name, {}), "duplicate sample " + l
        samples[name][labels] = (float(value), int(ts))
    return fams, samples


def test_metrics_text_exact(d):
    m = start(d)
    w = send_in_one_window(m)
    text = wait_until(lambda: (lambda t: "exp_req_count" in t and t)(
        http_get(m.status_url + "/metrics")[1]), 15, "the window on /metrics")
    fams, samples = parse(text)
    names = [n for n, _ in fams]
    # the agent's own counters come first, the series after them
    first_series = names.index(min((n for n in EXPECT), key=names.index))
    assert all(n.startswith("meterd_") for n in names[:first_series]), names
    assert not any(n.startswith("meterd_") for n, t in fams if t == "gauge" and n != "meterd_aggregator_contexts"
                   and n in samples), "meterd.* series exposed twice"
    for name, want in EXPECT.items():
        assert (name, "gauge") in fams, (name, names)
        got = {k: v for k, (v, _) in samples[name].items()}
        assert got == want, (name, got, want)
        assert {ts for _, ts in samples[name].values()} == {w}, (name, samples[name], w)
    # series names stay sorted, so each family is one group
    series_names = [n for n in names[first_series:]]
    assert series_names == sorted(series_names), series_names
    m.stop()


def test_off_by_default(d):
    m = start(d, openmetrics_expose_series="false")
    send_in_one_window(m)
    wait_until(lambda: m.status()["aggregator"]["frames"] >= 1, 10, "a flush")
    text = http_get(m.status_url + "/metrics")[1]
    assert "exp_req_count" not in text and text.endswith("# EOF\n"), text[-300:]
    m.stop()


def test_prometheus_scrapes_it(d):
    m = start(d)
    port = free_port()
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 1s}\nscrape_configs:\n"
                "  - job_name: meterd\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                % m.status_port)
    Proc(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "prom"),
          "--web.listen-address=127.0.0.1:%d" % port], os.path.join(d, "prometheus.log"))
    url = "http://127.0.0.1:%d" % port
    wait_until(lambda: http_get(url + "/-/ready")[0] == 200, 30, "Prometheus /-/ready")

    def query(q, at=None):
        args = {"query": q, "time": at or time.time() + 60}
        body = http_get(url + "/api/v1/query?" + urllib.parse.urlencode(args))[1]
        return json.loads(body)["data"]["result"]
    # Prometheus starts scraping a few seconds after it is ready (target discovery)
    wait_until(lambda: query("up"), 30, "Prometheus' first scrape of meterd")
    w = send_in_one_window(m)
    # at w + 1: this window's sample only, not the zeros of the windows after it
    got = wait_until(lambda: query('exp_req_count{Route="/a"}[5m]', w + 1), 30, "the scraped series")
    assert len(got) == 1 and got[0]["values"] == [[w, "1.5"]], got
    assert got[0]["metric"] == {"__name__": "exp_req_count", "Route": "/a", "env": "prod",
                                "host": HOST, "instance": "127.0.0.1:%d" % m.status_port,
                                "job": "meterd"}, got
    got = query('exp_gauge_9x[5m]', w + 1)
    assert len(got) == 1 and got[0]["values"] == [[w, "7.25"]] and \
        got[0]["metric"]["quote"] == 'say"hi"', got
    # the scrape itself succeeded: up is 1, no sample rejected
    up = query("up[5m]")
    assert up and all(v == "1" for _, v in up[0]["values"]), up
    metrics = http_get(url + "/metrics")[1]
    for l in metrics.splitlines():
        if l.startswith("prometheus_target_scrapes_sample_duplicate_timestamp_total") or \
                l.startswith("prometheus_target_scrapes_sample_out_of_order_total"):
            assert l.endswith(" 0"), l
    m.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_metrics_text_exact, test_off_by_default, test_prometheus_scrapes_it]))

#!/usr/bin/env python3
"""End to end: Datadog /api/v2/series (zstd or deflate, metadata.origin as the
agent sets it), and 413 splits of every protobuf payload, with either compressor.

No real Datadog intake is reachable from here and VictoriaMetrics 1.79 has
no /api/v2/series (it answers 400), nor does any backend here answer 413
(VictoriaMetrics answers 400 above its limit). So these tests use the
recording double of capture_server.py, documented as a stand-in: it decodes
each protobuf body with the real protobuf runtime against the upstream
field numbers (pb_payloads.py: protoc + python3-protobuf), and, for the
split tests, answers 413 to any body larger than a set size, as Datadog's
intake does above its limits (v2 series, sketches, remote write, and the
JSON events envelope and service checks). Each split test also sends one series too
large to fit that size alone: it must be dropped and counted as too_big,
and every other point must arrive exactly once.
"""
import os
import random
import signal
import sys

import pb_payloads
from capture_server import CaptureServer
from harness import Meterd, run_tests, shipping_agent, spool_paths, wait_until

HOST = "e2e-v2-host"
KEY = "e2e-v2-key-0123456789abcdef"


def agent(d, cap, **settings):
    return shipping_agent(d, cap.url, HOST, KEY, **settings)


def v2_series(cap):
    """(series, request) of every accepted /api/v2/series request."""
    return [(s, r) for r in cap.requests("/api/v2/series") if r["status"] == 202 and r["decoded"]
            for s in r["decoded"].series]


def by_name(series):
    out = {}
    for s, _ in series:
        out.setdefault(s.metric, []).append(s)
    return out


def resources(s):
    return [(r.type, r.name) for r in s.resources]


def test_v2_series_exact(d):
    with CaptureServer(decode=pb_payloads.decode) as cap:
        m = agent(d, cap, **{"use_v2_api.series": "true", "tags": "team:core"})
        m.send(b"v2.gauge:4.5|g|#role:db,env:test\nv2.count:3|c|#env:test\nv2.count:2|c|#env:test",
               b"v2.disk.free:7.25|g|#device:sda1,env:test",
               b"bad\xffname:1|g|#t:\xc3")
        want = {"v2.gauge", "v2.count", "v2.disk.free", "bad\ufffdname", "datadog.agent.running"}
        got = wait_until(lambda: (lambda b: b if want <= set(b) else None)(by_name(v2_series(cap))),
                         20, "the series at /api/v2/series")
        r = cap.requests("/api/v2/series")[0]
        assert r["headers"]["content-type"] == "application/x-protobuf", r["headers"]
        assert r["headers"]["content-encoding"] == "deflate", r["headers"]
        assert r["headers"]["dd-api-key"] == KEY
        assert not cap.requests("/api/v1/series"), "v1 and v2 both used"

        g = got["v2.gauge"][0]
        assert pb_payloads.metric_type_name(g.type) == "GAUGE", g
        assert list(g.tags) == ["env:test", "role:db", "team:core"], g.tags
        assert resources(g) == [("host", HOST)], g
        assert len(g.points) == 1 and g.points[0].value == 4.5, g
        assert g.interval == 1, g
        ts = g.points[0].timestamp
        assert ts > 1.7e9, g

        c = [s for s in got["v2.count"] if s.points[0].value != 0][0]  # later windows: zero-filled
        assert pb_payloads.metric_type_name(c.type) == "RATE", c
        assert c.points[0].value == 5.0 and c.interval == 1, c  # 5 in a 1 s window
        assert list(c.tags) == ["env:test", "team:core"], c.tags

        disk = got["v2.disk.free"][0]  # device: a resource, as the Datadog agent sends it
        assert resources(disk) == [("host", HOST), ("device", "sda1")], disk
        assert list(disk.tags) == ["env:test", "team:core"] and disk.points[0].value == 7.25, disk

        bad = got["bad\ufffdname"][0]  # invalid UTF-8 replaced, as in the JSON payloads
        assert list(bad.tags) == ["t:\ufffd", "team:core"], bad.tags

        run = got["datadog.agent.running"][0]
        assert resources(run) == [("host", HOST)] and run.points[0].value == 1, run
        assert [t for t in run.tags if t.startswith("version:")], run.tags

        # metadata.origin as the agent sets it: product 10 (agent), DogStatsD 10/0,
        # the agent's own series in the integration category (11) as Internal (212).
        assert origin(g) == (10, 10, 0) and origin(disk) == (10, 10, 0), (g.metadata, disk.metadata)
        assert g.HasField("metadata") and g.metadata.HasField("origin"), g
        assert origin(run) == (10, 11, 212), run.metadata


def origin(s):
    o = s.metadata.origin
    return (o.origin_product, o.origin_category, o.origin_service)


def test_v2_series_zstd(d):
    """serializer_compressor_kind: zstd: Content-Encoding: zstd, one zstd frame the double decodes
    (python3-zstandard or the zstd CLI), holding the same MetricPayload."""
    with CaptureServer(decode=pb_payloads.decode) as cap:
        m = agent(d, cap, **{"use_v2_api.series": "true", "serializer_compressor_kind": "zstd",
                             "serializer_zstd_compressor_level": "3"})
        m.send(b"zs.gauge:4.5|g|#env:test", b"zs.count:2|c")
        got = wait_until(lambda: (lambda b: b if {"zs.gauge", "zs.count"} <= set(b) else None)(
            by_name(v2_series(cap))), 20, "the zstd series at /api/v2/series")
        for r in cap.requests():
            assert r["headers"].get("content-encoding") == "zstd", (r["path"], r["headers"])
            assert r["status"] == 202 and not r.get("error"), r
        g = got["zs.gauge"][0]
        assert list(g.tags) == ["env:test"] and g.points[0].value == 4.5, g
        assert origin(g) == (10, 10, 0), g.metadata
        assert m.status()["forwarder"]["dropped"]["rejected"] == 0


def test_zstd_spooled_replays_as_zstd(d):
    """A zstd payload kept in the spool at exit goes out in the next run with its own
    Content-Encoding: zstd (the spool keeps the payload's headers), and decodes."""
    with CaptureServer() as probe:  # a loopback port that nothing answers once closed
        port = probe.port
    url = "http://127.0.0.1:%d" % port
    settings = {"use_v2_api.series": "true", "serializer_compressor_kind": "zstd"}
    m = shipping_agent(d, url, HOST, KEY, **settings)
    m.send(b"spz.gauge:7|g")
    m.wait_received(1)
    wait_until(lambda: m.status()["forwarder"]["payloads_in"] >= 1, 20, "a payload for the intake")
    m.proc.signal(signal.SIGTERM)
    assert m.proc.p.wait(20) == 0
    assert spool_paths(os.path.join(d, "transactions_to_retry")), "nothing spooled at exit"
    with CaptureServer(port=port, decode=pb_payloads.decode) as cap:
        shipping_agent(d, url, HOST, KEY, **settings)
        got = wait_until(lambda: by_name(v2_series(cap)).get("spz.gauge"), 30, "the spooled series")
        assert got[0].points[0].value == 7, got
        for r in cap.requests("/api/v2/series"):
            assert r["headers"]["content-encoding"] == "zstd" and not r["error"], r


def test_v2_default_follows_the_intake(d):
    """auto: a dd_url that is not a Datadog site (this double, VictoriaMetrics) gets v1 JSON."""
    with CaptureServer(decode=pb_payloads.decode) as cap:
        m = agent(d, cap)
        m.send("v1.gauge:2|g")
        got = cap.wait_for("/api/v1/series", 1, 20)
        assert any(s["metric"] == "v1.gauge" for r in got if r["json"] for s in r["json"]["series"])
        assert not cap.requests("/api/v2/series")
        assert m.status()["forwarder"]["dropped"]["rejected"] == 0


def lines(names, fmt, per=25):
    """Datagrams of `per` statsd lines each."""
    return ["\n".join(fmt % n for n in names[i:i + per]).encode() for i in range(0, len(names), per)]


def rand_names(prefix, n, seed):
    rnd = random.Random(seed)  # hard to compress, so payloads pass the double's size
    return ["%s.%03d.%016x" % (prefix, i, rnd.getrandbits(64)) for i in range(n)]


def big_tags(seed, n=200):
    """~3.2 KB of randomness: no compressor brings one series with them under 3000 bytes."""
    rnd = random.Random(seed)
    return ",".join("k%03d:%032x" % (i, rnd.getrandbits(128)) for i in range(n))


def fwd_ok(m, items):
    """The forwarder's numbers once the oversize item is counted and nothing waits."""
    f = m.status()["forwarder"]
    if f["dropped"]["too_big"] < 1 or f["items_sent"] < items or f["queue_payloads"] or f["inflight"]:
        return None
    return f


def items(r):
    """The item names of a decoded request body, "huge" for the oversize one."""
    d = r["decoded"]
    names = ([s.metric for s in d.series] if hasattr(d, "series") else
             [s.metric for s in d.sketches] if hasattr(d, "sketches") else
             [l.value for t in d.timeseries for l in t.labels if l.name == "__name__"])
    return ["huge" if n.startswith("huge") else n for n in names]


def check_split(m, cap, path, counted, sent_names):
    f = wait_until(lambda: fwd_ok(m, len(sent_names)), 40, "every payload sent or dropped")
    assert f["splits"] >= 2, f
    assert f["dropped"]["too_big"] == 1 and f["items_dropped"] == 1, f
    assert f["dropped"]["rejected"] == 0, f
    assert f["ledger"]["balanced"], f["ledger"]
    reqs = cap.requests(path)
    # The last 413 for the oversize series was for it alone: then it was dropped.
    alone = [r for r in reqs if r["status"] == 413 and items(r) == ["huge"]]
    assert alone, [(r["status"], r["raw_len"], len(items(r))) for r in reqs]
    assert all(r["raw_len"] <= cap.max_body for r in reqs if r["status"] == 202)
    seen = counted()
    for n in sent_names:
        assert seen.get(n) == 1, (n, seen.get(n))  # each point exactly once
    assert not [n for n in seen if n.startswith("huge.")], "the oversize series arrived"


def v2_series_split(d, kind):
    names = rand_names("v2s", 300, 1)
    with CaptureServer(max_body=3000, decode=pb_payloads.decode) as cap:
        m = agent(d, cap, **{"use_v2_api.series": "true", "serializer_compressor_kind": kind})
        vals = {n: i + 0.5 for i, n in enumerate(names)}
        m.send(*["\n".join("%s:%r|g" % (n, vals[n]) for n in names[i:i + 25]).encode()
                 for i in range(0, len(names), 25)], b"huge.v2:1|g|#" + big_tags(2).encode())

        def counted():
            seen = {}
            for s, _ in v2_series(cap):
                if s.metric.startswith("v2s.") or s.metric.startswith("huge."):
                    assert s.points[0].value == vals.get(s.metric, 1), s
                    key = (s.metric, s.points[0].timestamp)
                    seen[key] = seen.get(key, 0) + 1
            out = {}
            for (n, _), c in seen.items():
                assert c == 1, (n, c)
                out[n] = out.get(n, 0) + 1
            return out

        wait_until(lambda: len(counted()) >= len(names), 40, "every series at the double")
        check_split(m, cap, "/api/v2/series", counted, names)
        want = "zstd" if kind == "zstd" else "deflate"
        assert all(r["headers"]["content-encoding"] == want for r in cap.requests()), kind


def test_413_v2_series_split(d):
    v2_series_split(d, "zlib")


def test_413_v2_series_split_zstd(d):
    """The forwarder's cut of a zstd body: unzstd, cut, zstd each half again."""
    v2_series_split(d, "zstd")


def test_413_sketches_split(d):
    names = rand_names("sk", 200, 3)
    with CaptureServer(max_body=2500, decode=pb_payloads.decode) as cap:
        m = agent(d, cap, distribution_output="sketch", serializer_compressor_kind="zstd")
        m.send(*lines(names, "%s:1|d"), *lines(names, "%s:3|d"), b"huge.sk:1|d|#" + big_tags(4).encode())

        def counted():
            seen = {}
            for r in cap.requests("/api/beta/sketches"):
                if r["status"] != 202 or not r["decoded"]:
                    continue
                for sk in r["decoded"].sketches:
                    for ds in sk.dogsketches:
                        key = (sk.metric, ds.ts)
                        seen[key] = seen.get(key, 0) + 1
                        if sk.metric.startswith("sk."):
                            assert sk.host == HOST, sk
                            assert ds.min >= 1 and ds.max <= 3 and ds.cnt >= 1, ds
            out = {}
            for (n, _), c in seen.items():
                assert c == 1, (n, c)
                out[n] = out.get(n, 0) + 1
            return out

        wait_until(lambda: len([n for n in counted() if n.startswith("sk.")]) >= len(names), 40,
                   "every sketch at the double")
        # Both values of a name in one window, or split over two: 2 samples in all.
        total = {}
        for r in cap.requests("/api/beta/sketches"):
            for sk in (r["decoded"].sketches if r["status"] == 202 and r["decoded"] else []):
                total[sk.metric] = total.get(sk.metric, 0) + sum(ds.cnt for ds in sk.dogsketches)
        assert all(total[n] == 2 for n in names), [(n, total.get(n)) for n in names if total.get(n) != 2]
        check_split(m, cap, "/api/beta/sketches", lambda: {n: 1 for n in counted()}, names)


def test_413_remote_write_split(d):
    names = [n.replace(".", "_") for n in rand_names("rw", 300, 5)]
    with CaptureServer(max_body=3000, decode=pb_payloads.decode) as cap:
        m = Meterd(d, {"prometheus_remote_write_url": cap.url + "/api/v1/write", "hostname": HOST,
                       "flush_interval": 1, "forwarder_backoff_base": 1})
        vals = {n: i * 0.25 for i, n in enumerate(names)}
        m.send(*["\n".join("%s:%r|g" % (n, vals[n]) for n in names[i:i + 25]).encode()
                 for i in range(0, len(names), 25)], b"huge_rw:1|g|#" + big_tags(6).encode())

        def counted():
            seen = {}
            for r in cap.requests("/api/v1/write"):
                if r["status"] != 202 or not r["decoded"]:
                    continue
                assert r["headers"]["content-encoding"] == "snappy"
                for ts in r["decoded"].timeseries:
                    labels = {l.name: l.value for l in ts.labels}
                    name = labels["__name__"]
                    if name.startswith("rw_"):
                        assert labels["host"] == HOST and ts.samples[0].value == vals[name], (labels, ts)
                    # By every label: host series of one name differ by device.
                    key = (name, tuple(sorted(labels.items())), ts.samples[0].timestamp)
                    seen[key] = seen.get(key, 0) + 1
            out = {}
            for (n, _, _), c in seen.items():
                assert c == 1, (n, c)
                out[n.replace("huge_rw", "huge.rw")] = out.get(n, 0) + 1
            return out

        wait_until(lambda: len([n for n in counted() if n.startswith("rw_")]) >= len(names), 40,
                   "every series at the double")
        check_split(m, cap, "/api/v1/write", counted, names)


def test_413_events_and_checks_split(d):
    """JSON kinds too: the events envelope is cut across its groups, service checks in two."""
    rnd = random.Random(7)
    titles = ["ev.%03d" % i for i in range(60)]
    checks = ["sc.%03d" % i for i in range(60)]
    with CaptureServer(max_body=1500, decode=pb_payloads.decode) as cap:
        m = agent(d, cap)
        evs = []
        for i, t in enumerate(titles):
            text = "%032x" % rnd.getrandbits(128)
            src = "|s:src%d" % (i % 3) if i % 4 else ""  # several groups, and "api"
            evs.append(("_e{%d,%d}:%s|%s%s" % (len(t), len(text), t, text, src)).encode())
        huge = "%x" % rnd.getrandbits(4 * 4000)  # one event alone over the double's size
        evs.append(("_e{7,%d}:huge.ev|%s" % (len(huge), huge)).encode())
        m.send(*evs, *["_sc|%s|0|m:%032x" % (c, rnd.getrandbits(128)) for c in checks])

        def seen_once(path, pick):
            seen = {}
            for r in cap.requests(path):
                if r["status"] == 202 and r["json"] is not None:
                    for name in pick(r["json"]):
                        seen[name] = seen.get(name, 0) + 1
            return seen

        def ev_titles(doc):
            return [e["msg_title"] for group in doc.get("events", {}).values() for e in group]

        def sc_names(doc):
            return [c["check"] for c in doc] if isinstance(doc, list) else []

        wait_until(lambda: set(titles) <= set(seen_once("/intake/", ev_titles)) and
                   set(checks) <= set(seen_once("/api/v1/check_run", sc_names)), 40,
                   "every event and service check at the double")
        f = wait_until(lambda: (lambda f: f if f["dropped"]["too_big"] >= 1 and not f["queue_payloads"]
                                and not f["inflight"] else None)(m.status()["forwarder"]), 40,
                       "the oversize event counted")
        ev, sc = seen_once("/intake/", ev_titles), seen_once("/api/v1/check_run", sc_names)
        assert all(ev[t] == 1 for t in titles), ev
        assert all(sc[c] == 1 for c in checks), sc
        assert "huge.ev" not in ev
        assert f["splits"] >= 2 and f["dropped"]["too_big"] == 1 and f["items_dropped"] == 1, f
        assert all(r["raw_len"] <= 1500 for r in cap.requests() if r["status"] == 202)


if __name__ == "__main__":
    sys.exit(run_tests([test_v2_series_exact, test_v2_series_zstd, test_zstd_spooled_replays_as_zstd,
                        test_v2_default_follows_the_intake,
                        test_413_v2_series_split, test_413_v2_series_split_zstd, test_413_sketches_split,
                        test_413_remote_write_split, test_413_events_and_checks_split]))

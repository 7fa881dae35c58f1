#!/usr/bin/env python3
"""End to end with a real client: hot-shots (Node.js) -> meterd -> backends.

Other e2e tests hand-write datagrams; this one installs the npm package
hot-shots (pinned in tests/e2e/hotshots/package.json) and lets it produce the
wire format, so meterd is checked against what a Node.js application really
sends: every metric type, per-call tags, a client-wide globalTags list
(including a bare tag), sample rates, a service check and an event.

Series are read back from a real VictoriaMetrics and compared exactly (names,
values, window-start timestamps, host, tags). VictoriaMetrics 1.79 discards
service checks and events, so for those meterd is pointed at the recording
stand-in in capture_server.py and the JSON it posts is compared field by field.
hot-shots samples on the client side; send.js pins Math.random so every
sampled call is sent, which keeps the expected aggregates exact.

A failed npm install is a test failure, not a skip: the npm registry is
reachable wherever this runs (developers and CI alike).
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by the imports below

from capture_server import CaptureServer
from harness import ROOT, Meterd, VictoriaMetrics, avoid_window_edge, run_tests, wait_until
from test_vm import expect_series

HOST = "e2e-host"
API_KEY = "e2e-secret-key-1234"
HS_DIR = os.path.join(ROOT, "tests", "e2e", "hotshots")
GLOBAL_TAGS = ["team:obs", "canary"]
# How VictoriaMetrics labels GLOBAL_TAGS (a bare tag gets the value "no_label_value").
GLOBAL_LABELS = {"team": "obs", "canary": "no_label_value", "host": HOST}

_install = {}  # cached result of ensure_hotshots(): {"error": str or None}


def pinned_version():
    with open(os.path.join(HS_DIR, "package.json")) as f:
        return json.load(f)["dependencies"]["hot-shots"]


def installed_version():
    try:
        with open(os.path.join(HS_DIR, "node_modules", "hot-shots", "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def ensure_hotshots():
    """Install the pinned hot-shots into tests/e2e/hotshots/node_modules once; raise if that fails."""
    if "error" not in _install:
        _install["error"] = _install_hotshots()
    if _install["error"]:
        raise AssertionError(_install["error"])


def _install_hotshots():
    want = pinned_version()
    if installed_version() == want:
        return None
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            return "%s not found on PATH: install Debian's nodejs and npm packages" % tool
    # --omit=optional: hot-shots' only optional dependency (unix-dgram, for UDS)
    # is a native addon whose build would need node headers from outside.
    argv = ["npm", "ci" if os.path.exists(os.path.join(HS_DIR, "package-lock.json")) else "install",
            "--no-audit", "--no-fund", "--omit=optional", "--prefix", HS_DIR]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "npm install of hot-shots@%s timed out after 300 s" % want
    if p.returncode != 0:
        return "npm install of hot-shots@%s failed (exit %d): %s" % (
            want, p.returncode, (p.stderr or p.stdout)[-2000:])
    got = installed_version()
    if got != want:
        return "npm install finished but node_modules has hot-shots %r, want %r" % (got, want)
    return None


def hotshots(port, calls, options=None):
    """Replay `calls` through a real hot-shots client aimed at meterd's UDP port."""
    ensure_hotshots()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_"))}
    env["NODE_DEBUG"] = "hot-shots"  # the client's own log of what it sent, shown on failure
    opts = {"globalTags": GLOBAL_TAGS}
    opts.update(options or {})
    argv = ["node", os.path.join(HS_DIR, "send.js"), str(port), json.dumps(opts), json.dumps(calls)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    if p.returncode != 0 or not res or res["errors"] or res["calls"] != len(calls):
        raise AssertionError("send.js failed (exit %d): stdout=%r stderr=%s"
                             % (p.returncode, p.stdout, p.stderr[-3000:]))
    return res["calls"]


def send_in_one_window(m, calls, margin=3, tries=2):
    """Send `calls` so they all land in one 10 s window; returns its start.

    A burst crossing a window edge would split the aggregates; if the machine
    was slow enough for that, the burst is sent once more in a fresh window
    (the earlier window's points sit at another timestamp and are not read).
    Bursts with events or checks pass tries=1: a resend would duplicate them.
    """
    sent = 0
    for _ in range(tries):
        w = avoid_window_edge(margin=margin)
        sent += hotshots(m.statsd_port, calls)
        m.wait_received(sent)
        if int(time.time()) // 10 * 10 == w:
            return w
    raise AssertionError("the burst crossed a 10 s window edge %d time(s) (machine too slow?)" % tries)


# ---------------------------------------------------------------------------
# metrics -> real VictoriaMetrics


METRIC_CALLS = [
    # counter: 2 @0.5 counts 4, +1, -1 -> 4 per 10 s window -> rate 0.4
    ["increment", "hs.requests", 2, 0.5, ["route:home"]],
    ["increment", "hs.requests", 1, 1, ["route:home"]],
    ["decrement", "hs.requests", 1, 1, ["route:home"]],
    # gauge: last value wins; a signed value is absolute in DogStatsD
    ["gauge", "hs.temp", 20.5, 1, {"room": "a"}],
    ["gauge", "hs.temp", -3.25, 1, {"room": "a"}],
    # timer: 10, 20, 30 @0.5 -> weights 1,1,2: count 4, sum 10+20+60 = 90
    ["timing", "hs.latency", 10, 1, ["op:get"]],
    ["timing", "hs.latency", 20, 1, ["op:get"]],
    ["timing", "hs.latency", 30, 0.5, ["op:get"]],
    # histogram: 3, 5, 7, 9 @0.5 -> weights 1,1,1,2: count 5, sum 3+5+7+18 = 33
    ["histogram", "hs.size", 3, 1, ["q:z"]],
    ["histogram", "hs.size", 5, 1, ["q:z"]],
    ["histogram", "hs.size", 7, 1, ["q:z"]],
    ["histogram", "hs.size", 9, 0.5, ["q:z"]],
    # set: distinct members; the sample rate does not apply to sets
    ["set", "hs.users", "alice", 1, []],
    ["set", "hs.users", "bob", 1, []],
    ["set", "hs.users", "alice", 1, []],
    ["set", "hs.users", "carol", 0.5, []],
    # distribution: 10..40, 50 @0.5 counted twice -> n 6, sum 200
    ["distribution", "hs.dist", 10, 1, ["region:eu"]],
    ["distribution", "hs.dist", 20, 1, ["region:eu"]],
    ["distribution", "hs.dist", 30, 1, ["region:eu"]],
    ["distribution", "hs.dist", 40, 1, ["region:eu"]],
    ["distribution", "hs.dist", 50, 0.5, ["region:eu"]],
]


def labels(**extra):
    out = dict(GLOBAL_LABELS)
    out.update(extra)
    return out


# (name, labels, value): every series the burst must produce, and nothing else.
# Histogram aggregates follow the reference formulas (protocol reference §3):
# median = first sample whose cumulative weight > (count-1)//2, p95 = first
# sample whose cumulative weight > (95*count-1)//100, avg = sum/count,
# .count is a rate (count/10). Distributions shipped as series use the same
# formulas with the aggregates avg count max min median 95percentile.
EXPECTED_SERIES = [
    ("hs.requests", labels(route="home"), 0.4),
    ("hs.temp", labels(room="a"), -3.25),
    ("hs.latency.max", labels(op="get"), 30),
    ("hs.latency.median", labels(op="get"), 20),  # cum weights 1,2,4 > 1
    ("hs.latency.avg", labels(op="get"), 90 / 4),
    ("hs.latency.count", labels(op="get"), 4 / 10),
    ("hs.latency.95percentile", labels(op="get"), 30),  # > (380-1)//100 = 3
    ("hs.size.max", labels(q="z"), 9),
    ("hs.size.median", labels(q="z"), 7),  # cum weights 1,2,3,5 > 2
    ("hs.size.avg", labels(q="z"), 33 / 5),
    ("hs.size.count", labels(q="z"), 5 / 10),
    ("hs.size.95percentile", labels(q="z"), 9),  # > (475-1)//100 = 4
    ("hs.users", labels(), 3),
    ("hs.dist.avg", labels(region="eu"), 200 / 6),
    ("hs.dist.count", labels(region="eu"), 6 / 10),
    ("hs.dist.max", labels(region="eu"), 50),
    ("hs.dist.min", labels(region="eu"), 10),
    ("hs.dist.median", labels(region="eu"), 30),  # cum weights 1,2,3,4,6 > 2
    ("hs.dist.95percentile", labels(region="eu"), 50),  # > (570-1)//100 = 5
]


def test_hotshots_every_metric_type_reaches_victoriametrics(d):
    ensure_hotshots()
    vm = VictoriaMetrics(d)
    m = Meterd(d, settings={"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": API_KEY})
    w = send_in_one_window(m, METRIC_CALLS)
    for name, lab, value in EXPECTED_SERIES:
        expect_series(vm, name, lab, w, value)
    # Nothing else under hs.*: no stray aggregates (e.g. .sum), no split contexts.
    names = sorted({s["metric"]["__name__"] for s in vm.export('{__name__=~"hs\\\\..*"}')
                    if w * 1000 in s["timestamps"]})
    want = sorted({n for n, _, _ in EXPECTED_SERIES})
    assert names == want, "series at %d: got %r want %r" % (w, names, want)
    st = m.status()["dogstatsd"]
    # One metric per hot-shots datagram (more than one burst if a window edge forced a resend).
    assert st["metrics"] == st["packets"] and st["packets"] % len(METRIC_CALLS) == 0, st
    assert not any(st.get("parse_errors", {}).values()), st
    assert API_KEY not in m.proc.output()


# ---------------------------------------------------------------------------
# service checks and events -> capture server (VictoriaMetrics drops them)


def _items(reqs, pick):
    out = []
    for r in reqs:
        assert r["error"] is None, "%s: %s" % (r["path"], r["error"])
        out.extend(pick(r["json"]))
    return out


def _check_envelope(r):
    h = r["headers"]
    assert r["method"] == "POST", r["method"]
    assert h.get("content-encoding") == "deflate", (r["path"], h)
    assert h.get("content-type") == "application/json", (r["path"], h)
    assert h.get("dd-api-key") == API_KEY, (r["path"], "DD-API-KEY header missing or wrong")


def _sorted_tags(item):
    item = dict(item)
    item["tags"] = sorted(item["tags"] or [])
    return item


def assert_eq(what, got, want):
    assert got == want, "%s:\n  got  %r\n  want %r" % (what, got, want)


def _ts_between(item, lo, hi):
    assert lo <= item["timestamp"] <= hi, "timestamp %r not in [%d, %d]" % (item["timestamp"], lo, hi)
    return dict(item, timestamp="now")


def test_hotshots_service_checks_and_events_reach_intake(d):
    ensure_hotshots()
    cap = CaptureServer()
    try:
        _checks_and_events(d, cap)
    finally:
        cap.stop()


def _checks_and_events(d, cap):
    m = Meterd(d, settings={"dd_url": cap.url, "hostname": HOST, "api_key": API_KEY})
    t_fixed = int(time.time()) - 120
    calls = [
        ["check", "hs.db.up", 1, {"message": "disk 91% full", "hostname": "db-7",
                                  "date_happened": t_fixed}, ["svc:db"]],
        ["check", "hs.web.up", 0, {}, []],
        ["event", "Deploy finished", "build 42\nall green",
         {"priority": "low", "alert_type": "success", "aggregation_key": "deploy-42",
          "source_type_name": "jenkins", "date_happened": t_fixed}, ["svc:web"]],
        ["event", "Plain event", "", {}, []],
        ["gauge", "hs.capture.gauge", 1.5, 1, ["k:v"]],
    ]
    t0 = int(time.time())
    w = send_in_one_window(m, calls, tries=1)
    t1 = int(time.time()) + 1

    check_reqs = cap.wait_for("/api/v1/check_run")
    # /intake/ also gets the host metadata document (no "events"): only the events here
    intake_reqs = wait_until(lambda: [r for r in cap.requests("/intake/") if "events" in (r.get("json") or {})],
                             25, "events on /intake/")
    for r in check_reqs + intake_reqs:
        _check_envelope(r)

    checks = {c["check"]: c for c in _items(check_reqs, lambda j: j)}
    gtags = sorted(GLOBAL_TAGS)
    assert set(checks) == {"hs.db.up", "hs.web.up"}, checks
    assert_eq("check_run hs.db.up", _sorted_tags(checks["hs.db.up"]), {
        "check": "hs.db.up", "host_name": "db-7", "timestamp": t_fixed, "status": 1,
        "message": "disk 91% full", "tags": sorted(GLOBAL_TAGS + ["svc:db"])})
    assert_eq("check_run hs.web.up", _ts_between(_sorted_tags(checks["hs.web.up"]), t0, t1), {
        "check": "hs.web.up", "host_name": HOST, "timestamp": "now", "status": 0,
        "message": "", "tags": gtags})

    for r in intake_reqs:
        assert r["json"]["internalHostname"] == HOST, r["json"]
        assert r["json"]["apiKey"] == "", "intake envelope must not carry the key"
    groups = {}
    for r in intake_reqs:
        for g, evs in r["json"]["events"].items():
            groups.setdefault(g, []).extend(evs)
    assert sorted(groups) == ["api", "jenkins"], groups
    assert len(groups["jenkins"]) == 1 and len(groups["api"]) == 1, groups
    assert_eq("intake event 'Deploy finished'", _sorted_tags(groups["jenkins"][0]), {
        "msg_title": "Deploy finished", "msg_text": "build 42\nall green", "timestamp": t_fixed,
        "priority": "low", "host": HOST, "tags": sorted(GLOBAL_TAGS + ["svc:web"]),
        "alert_type": "success", "aggregation_key": "deploy-42",
        "source_type_name": "jenkins"})
    # hot-shots sends the title as the text when the text is empty.
    assert_eq("intake event 'Plain event'", _ts_between(_sorted_tags(groups["api"][0]), t0, t1), {
        "msg_title": "Plain event", "msg_text": "Plain event", "timestamp": "now",
        "priority": "normal", "host": HOST, "tags": gtags, "alert_type": "info",
        "aggregation_key": "", "source_type_name": ""})

    # The same capture shows the series JSON meterd posts (VictoriaMetrics hides it).
    def gauge_items():
        reqs = cap.requests("/api/v1/series")
        return [s for s in _items(reqs, lambda j: j["series"]) if s["metric"] == "hs.capture.gauge"]
    got = wait_until(gauge_items, 25, "hs.capture.gauge in a /api/v1/series payload")
    assert len(got) == 1, "hs.capture.gauge items: %r" % got
    for r in cap.requests("/api/v1/series"):
        _check_envelope(r)
    assert_eq("series hs.capture.gauge", _sorted_tags(got[0]), {
        "metric": "hs.capture.gauge", "points": [[w, 1.5]], "type": "gauge", "interval": 10,
        "host": HOST, "tags": sorted(GLOBAL_TAGS + ["k:v"])})

    st = m.status()["dogstatsd"]
    assert not any(st.get("parse_errors", {}).values()), st
    assert API_KEY not in m.proc.output()


if __name__ == "__main__":
    sys.exit(run_tests([test_hotshots_every_metric_type_reaches_victoriametrics,
                        test_hotshots_service_checks_and_events_reach_intake]))

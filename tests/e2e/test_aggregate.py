#!/usr/bin/env python3
"""End to end: `meterd aggregate` prints exactly what the running daemon ships.

A generated set of datagrams (every metric type, packed values, sample
rates, tags in shuffled order with duplicates, host: tags, timestamped
values, several messages per datagram) is sent over real UDP to a running
meterd within one window; the daemon ships to a recording stand-in for the
Datadog intake. The same datagrams then go through `meterd aggregate` with
the same settings. Both lists of series items must be equal, item for item,
once the window's start (which differs between the two runs) is set aside.
"""
import json
import os
import random
import subprocess

from capture_server import CaptureServer
from harness import Meterd, avoid_window_edge, meterd_bin, run_tests, wait_until

FLUSH = 4
COLLECTORS = ("cpu", "disk", "file_handle", "io", "load", "memory", "network", "processes",
              "self", "uptime")


def datagrams(seed, now):
    rnd = random.Random(seed)
    tags = ["env:prod", "env:dev", "service:web", "region:eu", "bare", "a:b:c", "zone:", "k:v"]
    out = []
    for i in range(150):
        msgs = []
        for _ in range(rnd.randint(1, 4)):
            name = "agg.m%d" % rnd.randint(0, 40)
            typ = rnd.choice(["c", "g", "ms", "h", "s", "d"])
            if typ == "s":
                value = "u%d" % rnd.randint(0, 9)
            else:
                value = ":".join("%d.%d" % (rnd.randint(0, 500), rnd.randint(0, 9))
                                 for _ in range(rnd.choice([1, 1, 1, 2, 3])))
            msg = "%s:%s|%s" % (name, value, typ)
            if typ in ("c", "ms", "h", "d") and rnd.random() < 0.3:
                msg += "|@0.%d" % rnd.choice([1, 2, 5])
            t = [rnd.choice(tags) for _ in range(rnd.randint(0, 5))]
            if rnd.random() < 0.2:
                t.append(rnd.choice(["host:h1", "host:h2"]))
            if t:
                msg += "|#" + ",".join(t)
            if typ in ("c", "g") and rnd.random() < 0.05:
                msg += "|T%d" % (now - 60)
            msgs.append(msg)
        out.append("\n".join(msgs))
    return out


def shipped_items(cap):
    items = []
    for r in cap.requests("/api/v1/series"):
        items += r["json"]["series"]
    return [s for s in items if not s["metric"].startswith("meterd.")]


def normalise(items, window):
    """Items as canonical JSON, the window start replaced by "W"; sorted."""
    out = []
    for s in items:
        s = dict(s)
        ts, v = s["points"][0]
        s["points"] = [["W" if ts == window else ts, v]]
        out.append(json.dumps(s, sort_keys=True))
    return sorted(out)


def test_aggregate_prints_what_the_daemon_ships(d):
    settings = {"hostname": "agg-host", "api_key": "e2e-secret-key-1234",
                "flush_interval": FLUSH, "tags": "[global:1, env:prod]"}
    confd = os.path.join(d, "conf.d")
    os.makedirs(confd)
    for name in COLLECTORS:
        os.makedirs(os.path.join(confd, name + ".d"))
        with open(os.path.join(confd, name + ".d", "conf.yaml"), "w") as f:
            f.write("init_config:\ninstances:\n  - enabled: false\n")
    with CaptureServer() as cap:
        m = Meterd(d, settings=dict(settings, dd_url=cap.url))
        window = avoid_window_edge(FLUSH, margin=2)
        dgrams = datagrams(8, window)
        m.send(*dgrams)
        m.wait_received(len(dgrams))
        # The window is sealed FLUSH + 1 s after it started; a second flush brings whatever
        # might have spilled into the next window, which the comparison would then miss.
        wait_until(lambda: m.status()["aggregator"]["frames"] >= 1 and
                   any(s["points"][0][0] == window for s in shipped_items(cap)), 3 * FLUSH,
                   "the window's series at the capture server")
        frames = m.status()["aggregator"]["frames"]
        wait_until(lambda: m.status()["aggregator"]["frames"] > frames, 3 * FLUSH, "a later flush")
        st = m.status()["dogstatsd"]
        assert st["fast_key_mismatches"] == 0, st
        # A sealed window may still be on its way (encoded, in flight): the
        # stop waits for every send, so read what arrived after it.
        assert m.stop() == 0
        # Later windows hold the counters' zero fill; the timestamped values carry their own time.
        shipped = [s for s in shipped_items(cap) if s["points"][0][0] in (window, window - 60)]

    args = [meterd_bin(), "aggregate", "--set", "dd_url=" + cap.url, "--set", "confd_path=" + confd]
    for k, v in settings.items():
        args += ["--set", "%s=%s" % (k, v)]
    stdin = "".join(g.replace("\n", "\\n") + "\n" for g in dgrams)
    r = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    printed = [json.loads(l) for l in r.stdout.splitlines() if l.startswith('{"metric"')]
    agg_window = {s["points"][0][0] for s in printed} - {window - 60}
    assert len(agg_window) == 1, agg_window

    want, got = normalise(shipped, window), normalise(printed, agg_window.pop())
    assert len(want) > 200, len(want)
    missing = [s for s in want if s not in got]
    extra = [s for s in got if s not in want]
    assert want == got, "shipped but not printed: %s\nprinted but not shipped: %s" % (
        missing[:5], extra[:5])


if __name__ == "__main__":
    raise SystemExit(run_tests([test_aggregate_prints_what_the_daemon_ships]))

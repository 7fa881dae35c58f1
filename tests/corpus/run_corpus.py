#!/usr/bin/env python3
"""Run the DogStatsD protocol corpus against a meterd binary.

Why: dogstatsd_cases.json records how the reference Datadog Agent (and etsy
statsd) treat each input. This script feeds every parse case through
`meterd parse` and every aggregation case through `meterd aggregate`, and
compares the output with the recorded expectation, so a parser change that
drifts from the agent shows up as a named failing case.

usage: run_corpus.py PATH/TO/meterd [--cases FILE] [--only ID ...]
Prints `ok <id>` / `FAIL <id>: <why>` per case, then `N passed, N failed`.
Exit status 1 when any case failed. Python 3 standard library only.
"""
import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 20

# Fields the corpus records for the aggregator, not the parser.
AGGREGATOR_FIELDS = ("context_tags", "pipeline")
# Framing drops that the Agent counts apart from parse errors
# (UnterminatedMetricErrors), so they are not part of the corpus "rejected".
NOT_REJECTED = ("unterminated_line",)


class Mismatch(Exception):
    pass


def num_equal(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)


def compare(want, got, path="$"):
    """Structural equality with float tolerance; raises Mismatch with a path."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            raise Mismatch("%s: want object, got %r" % (path, got))
        wk = set(want) - set(AGGREGATOR_FIELDS)
        gk = set(got) - set(AGGREGATOR_FIELDS) - {"kind"} | ({"kind"} & wk)
        if wk != gk:
            raise Mismatch("%s: keys differ: want %s, got %s" % (path, sorted(wk), sorted(gk)))
        for k in sorted(wk):
            compare(want[k], got[k], "%s.%s" % (path, k))
    elif isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            raise Mismatch("%s: want %r, got %r" % (path, want, got))
        for i, (w, g) in enumerate(zip(want, got)):
            compare(w, g, "%s[%d]" % (path, i))
    elif isinstance(want, (int, float)) and not isinstance(want, bool):
        if not num_equal(want, got):
            raise Mismatch("%s: want %r, got %r" % (path, want, got))
    elif want != got:
        raise Mismatch("%s: want %r, got %r" % (path, want, got))


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT_S)
    if p.returncode != 0:
        err = " ".join(p.stderr.decode(errors="replace").split())
        raise Mismatch("exit %d: %s" % (p.returncode, err[:300]))
    out = []
    for line in p.stdout.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise Mismatch("not JSON: %r" % line)
    return out


def parse_args_for(case):
    cfg = case.get("config", {})
    transport = cfg.get("transport", "udp")
    args = ["--transport", transport]
    if "buffer_size" in cfg:
        args += ["--set", "dogstatsd_buffer_size=%d" % cfg["buffer_size"]]
    if "origin_detection_client" in cfg:
        args += ["--set", "dogstatsd_origin_detection_client=%s"
                 % str(cfg["origin_detection_client"]).lower()]
    if "no_aggregation_pipeline" in cfg:
        args += ["--set", "dogstatsd_no_aggregation_pipeline=%s"
                 % str(cfg["no_aggregation_pipeline"]).lower()]
    if cfg.get("eol_required"):
        args += ["--set", "dogstatsd_eol_required=%s" % transport]
    return args


def check_parse_output(expect, objs):
    by = {"metric": [], "event": [], "service_check": [], "error": []}
    for o in objs:
        kind = o.get("kind")
        if kind not in by:
            raise Mismatch("unknown kind in %r" % o)
        by[kind].append(o)
    if expect.get("error"):
        if len(objs) != 1 or not by["error"]:
            raise Mismatch("want one rejected message, got %r" % objs)
        return
    rejected = sum(1 for o in by["error"] if o.get("reason") not in NOT_REJECTED)
    if rejected != expect.get("rejected", 0):
        raise Mismatch("rejected: want %d, got %d (%r)"
                       % (expect.get("rejected", 0), rejected, by["error"]))
    if "metrics_count" in expect:
        if len(by["metric"]) != expect["metrics_count"]:
            raise Mismatch("metrics_count: want %d, got %d"
                           % (expect["metrics_count"], len(by["metric"])))
        if "first" in expect:
            compare(expect["first"], by["metric"][0], "$.first")
        if "last" in expect:
            compare(expect["last"], by["metric"][-1], "$.last")
    else:
        compare(expect.get("metrics", []), by["metric"], "$.metrics")
    compare(expect.get("events", []), by["event"], "$.events")
    compare(expect.get("service_checks", []), by["service_check"], "$.service_checks")


def run_parse_case(meterd, case):
    objs = run([meterd, "parse"] + parse_args_for(case) + ["--", case["input"]])
    try:
        check_parse_output(case["expect"], objs)
        return None
    except Mismatch as agent_err:
        # A quirk case may follow the corpus' recommended fix instead of the
        # agent; the recommendations that change the parse result say "reject".
        if case.get("tier") == "quirk" and "reject" in case.get("recommended", "").lower():
            try:
                check_parse_output({"error": True}, objs)
                return None
            except Mismatch:
                pass
        raise agent_err


def run_aggregate(meterd, inputs, sets=()):
    args = [meterd, "aggregate"]
    for s in sets:
        args += ["--set", s]
    data = "".join(i.replace("\n", "\\n") + "\n" for i in inputs).encode()
    # One series item per line, as the Datadog sink ships it; its
    # one point's value is what the cases call "value". The sink's own
    # heartbeat (datadog.agent.running, one per window) is not the protocol's.
    series = [o for o in run(args, stdin=data)
              if "metric" in o and o["metric"] != "datadog.agent.running"]
    for s in series:
        s["value"] = s["points"][0][1]
    return series


def run_aggregation_case(meterd, case):
    series = run_aggregate(meterd, case["inputs_same_bucket"])
    got = {}
    for s in series:
        got.setdefault(s.get("metric"), []).append(s)
    want_names = sorted(w["metric"] for w in case["expect_series"])
    if sorted(got) != want_names:
        raise Mismatch("series: want %s, got %s" % (want_names, sorted(got)))
    for w in case["expect_series"]:
        g = got[w["metric"]]
        if len(g) != 1:
            raise Mismatch("%s: want one series, got %d" % (w["metric"], len(g)))
        g = g[0]
        for k, v in w.items():
            if k not in g:
                raise Mismatch("%s: missing %s" % (w["metric"], k))
            try:
                compare(v, g[k], "%s.%s" % (w["metric"], k))
            except Mismatch as e:
                raise Mismatch(str(e))


def run_etsy_case(meterd, case):
    series = run_aggregate(meterd, case["inputs"], ["statsd_mode=etsy"])
    for name, value in case["expect"].items():
        # Exact name first; else a series whose name is the key without the
        # etsy namespace (stats.gauges.<key>), in case namespacing is applied
        # at the sink rather than in `meterd aggregate`.
        cand = [s for s in series if s.get("metric") == name]
        if not cand:
            cand = [s for s in series if name.endswith("." + str(s.get("metric")))]
        if not cand:
            raise Mismatch("no series %s in %r" % (name, series))
        compare(value, cand[0].get("value"), name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("meterd")
    ap.add_argument("--cases", default=os.path.join(HERE, "dogstatsd_cases.json"))
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args()
    with open(a.cases, encoding="utf-8") as f:
        corpus = json.load(f)
    jobs = [(c["id"], run_parse_case, c) for c in corpus["cases"]]
    jobs += [(c["id"], run_aggregation_case, c) for c in corpus.get("aggregation_cases", [])]
    jobs += [(c["id"], run_etsy_case, c) for c in corpus.get("etsy_aggregation_cases", [])]
    passed = failed = 0
    for cid, fn, case in jobs:
        if a.only is not None and cid not in a.only:
            continue
        try:
            fn(a.meterd, case)
            print("ok %s" % cid)
            passed += 1
        except (Mismatch, subprocess.TimeoutExpired, OSError) as e:
            print("FAIL %s: %s" % (cid, e))
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

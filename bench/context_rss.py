#!/usr/bin/env python3
"""RSS per context, and after a flood of names expires.

The figures behind the README's memory budget (dogstatsd_context_limit's
default and "memory back after a flood"): start meterd (console sink to
/dev/null, collectors off), send N unique names of one type mix with
bench/loadgen, and print VmRSS/VmHWM idle, after the sends and after two
flushes, and bytes per context. With `expire`, counters and contexts expire
after 5 s and the RSS once they are gone is printed too. Bounded: loadgen
stops at N or 100 s, every wait is capped.

  python3 bench/context_rss.py BUILD/meterd N MIX [expire]
  e.g. python3 bench/context_rss.py build/meterd 2000000 c=1 expire
  EXTRA=dogstatsd_context_limit=250000 ... (more --set keys, comma-separated;
  the default here is 0 = unlimited); GLIBC_TUNABLES=glibc.malloc.arena_max=1
  for the arena comparison.
"""
import json
import sys

from benchagent import Agent, extra_sets, wait


def main():
    binp, n, mix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    expire = len(sys.argv) > 4 and sys.argv[4] == "expire"
    sets = {"sinks": "console", "dogstatsd_context_limit": 0,
            "dogstatsd_pipeline_count": 2, "dogstatsd_so_rcvbuf": 33554432}
    if expire:
        sets.update({"dogstatsd_expiry_seconds": 5, "dogstatsd_context_expiry_seconds": 5})
    sets.update(extra_sets())
    with Agent(binp, "context-rss-", sets) as a:
        base = a.mem()
        a.flood(n, "flood.m", mix, tags="env:prod,service:web")
        wait(lambda: sum(a.status()["aggregator"][k] for k in
                         ("contexts_created", "context_limit_drops")) >= n * 0.999, 60)
        sent = a.mem()
        a.wait_frames(2, 30)
        flushed = a.mem()
        agg = a.status()["aggregator"]
        out = {"n": n, "mix": mix, "idle": base, "sent": sent, "flushed": flushed,
               "bytes_per_context": round((flushed["VmHWM"] - base["VmRSS"]) * 1048576 /
                                          max(1, agg["contexts_created"]))}
        if expire:
            wait(lambda: a.status()["aggregator"]["contexts"] <= 100, 90)
            a.wait_frames(2, 30)
            out["expired"] = a.mem()
        print(json.dumps(out))


if __name__ == "__main__":
    main()

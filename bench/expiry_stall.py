#!/usr/bin/env python3
"""Datagrams lost while a mass expiry gives memory back.

After N contexts expire at once the aggregator frees them and asks glibc
to give the pages back (malloc_trim). With 1-2M contexts that took 1-3 s;
if it runs on the thread that aggregates, the intake rings fill meanwhile.
This starts meterd (defaults but no context limit and contexts expiring
after 5 s, collectors off, console sink to /dev/null, debug log for the
trim's duration), floods N unique counters, and keeps a steady stream of
RATE datagrams/s (one metric each, 100 contexts) from before the flood
until well after the expiry. It prints the intake's received count and
the counters that would show a loss (kernel drops, ring-full drops, ring
waits), the steady stream's sent count, and the trims the log reports.
Bounded: each loadgen stops at its count or duration, every wait is capped.

  python3 bench/expiry_stall.py BUILD/meterd N RATE
  e.g. python3 bench/expiry_stall.py build/meterd 1000000 20000
"""
import json
import re
import subprocess
import sys
import time

from benchagent import Agent, extra_sets


def main():
    binp, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sets = {"sinks": "console", "dogstatsd_context_limit": 0,
            "dogstatsd_expiry_seconds": 5, "dogstatsd_context_expiry_seconds": 5,
            "log_level": "debug"}
    sets.update(extra_sets())
    with Agent(binp, "expiry-stall-", sets) as a:
        steady_s = 45
        steady = subprocess.Popen(
            a.loadgen("--count", rate * steady_s, "--contexts", 100, "--mix", "c=1",
                      "--per-datagram", 1, "--threads", 1, "--rate", rate,
                      "--prefix", "steady.m", "--duration", steady_s + 10),
            stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        a.flood(n, "flood.m")
        # Every 0.25 s while the stream lasts: when did the kernel drop datagrams?
        rows, t0 = [], time.time()
        while steady.poll() is None and time.time() - t0 < steady_s + 30:
            s = a.status()
            rows.append((round(time.time() - t0, 2), s["aggregator"]["contexts"],
                         s["dogstatsd"]["kernel_drops"], s["dogstatsd"]["ring_waits"]))
            time.sleep(0.25)
        out, _ = steady.communicate(timeout=30)
        timeline = [r for i, r in enumerate(rows)
                    if i and (r[2] != rows[i - 1][2] or abs(r[1] - rows[i - 1][1]) > 1000)]
        time.sleep(1)
        s = a.status()
        sent = json.loads(out.strip().splitlines()[-1])
        # the aggregator's debug lines on what a mass expiry cost, and where
        trims = re.findall(r"\| ([^|]*contexts[^|]* in [\d.]+ ms[^|\n]*)",
                           open(a.log_path).read())
        print(json.dumps({"n": n, "rate": rate, "steady_sent": sent, "received":
                          s["ledger"]["intake"]["received"], "loss": {k: s["dogstatsd"][k] for k in
                                   ("packets", "kernel_drops", "ring_full_drops", "ring_waits")},
                          "trims": trims, "timeline(t,contexts,kernel_drops,ring_waits)":
                          timeline}, default=str))


if __name__ == "__main__":
    main()

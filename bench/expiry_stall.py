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
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    binp, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lg = os.path.join(os.path.dirname(os.path.abspath(binp)), "bench", "loadgen")
    d = tempfile.mkdtemp(prefix="expiry-stall-")
    for c in os.listdir(os.path.join(ROOT, "conf.d")):
        if c.endswith(".d"):
            os.makedirs(os.path.join(d, "conf.d", c))
            with open(os.path.join(d, "conf.d", c, "conf.yaml"), "w") as f:
                f.write("instances:\n  - enabled: false\n")
    sp, st = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    sets = {"dogstatsd_port": sp, "status_port": st, "confd_path": os.path.join(d, "conf.d"),
            "run_path": d, "sinks": "console", "hostname": "h", "dogstatsd_context_limit": 0,
            "dogstatsd_expiry_seconds": 5, "dogstatsd_context_expiry_seconds": 5,
            "log_level": "debug"}
    for kv in filter(None, os.environ.get("EXTRA", "").split(",")):
        k, v = kv.split("=", 1)
        sets[k] = v
    argv = [binp, "run", "-c", "/dev/null"]
    for k, v in sets.items():
        argv += ["--set", "%s=%s" % (k, v)]
    logpath = os.path.join(d, "log")
    log = open(logpath, "w")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    def status():
        url = "http://127.0.0.1:%d/status" % st
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def wait(pred, limit):
        t = time.time()
        while time.time() - t < limit and not pred():
            time.sleep(0.2)

    try:
        for _ in range(200):
            try:
                status()
                break
            except OSError:
                time.sleep(0.1)
        steady_s = 45
        steady = subprocess.Popen(
            [lg, "--port", str(sp), "--count", str(rate * steady_s), "--contexts", "100",
             "--mix", "c=1", "--per-datagram", "1", "--threads", "1", "--rate", str(rate),
             "--prefix", "steady.m", "--duration", str(steady_s + 10)],
            stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        r = subprocess.run([lg, "--port", str(sp), "--count", str(n), "--contexts", str(n),
                            "--mix", "c=1", "--per-datagram", "20", "--threads", "1",
                            "--rate", "300000", "--prefix", "flood.m", "--duration", "100"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        # Every 0.25 s while the stream lasts: when did the kernel drop datagrams?
        rows, t0 = [], time.time()
        while steady.poll() is None and time.time() - t0 < steady_s + 30:
            s = status()
            rows.append((round(time.time() - t0, 2), s["aggregator"]["contexts"],
                         s["dogstatsd"]["kernel_drops"], s["dogstatsd"]["ring_waits"]))
            time.sleep(0.25)
        out, _ = steady.communicate(timeout=30)
        timeline = [r for i, r in enumerate(rows)
                    if i and (r[2] != rows[i - 1][2] or abs(r[1] - rows[i - 1][1]) > 1000)]
        time.sleep(1)
        s = status()
        sent = json.loads(out.strip().splitlines()[-1])
        # the aggregator's debug lines on what a mass expiry cost, and where
        trims = re.findall(r"\| ([^|]*contexts[^|]* in [\d.]+ ms[^|\n]*)", open(logpath).read())
        print(json.dumps({"n": n, "rate": rate, "steady_sent": sent, "received":
                          s["ledger"]["intake"]["received"], "loss": {k: s["dogstatsd"][k] for k in
                                   ("packets", "kernel_drops", "ring_full_drops", "ring_waits")},
                          "trims": trims, "timeline(t,contexts,kernel_drops,ring_waits)":
                          timeline}, default=str))
    finally:
        p.terminate()
        p.wait(60)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

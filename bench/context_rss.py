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
    binp, n, mix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    expire = len(sys.argv) > 4 and sys.argv[4] == "expire"
    lg = os.path.join(os.path.dirname(os.path.abspath(binp)), "bench", "loadgen")
    d = tempfile.mkdtemp(prefix="context-rss-")
    for c in os.listdir(os.path.join(ROOT, "conf.d")):
        if c.endswith(".d"):
            os.makedirs(os.path.join(d, "conf.d", c))
            with open(os.path.join(d, "conf.d", c, "conf.yaml"), "w") as f:
                f.write("instances:\n  - enabled: false\n")
    sp, st = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    sets = {"dogstatsd_port": sp, "status_port": st, "confd_path": os.path.join(d, "conf.d"),
            "run_path": d, "sinks": "console", "hostname": "h", "dogstatsd_context_limit": 0,
            "dogstatsd_pipeline_count": 2, "dogstatsd_so_rcvbuf": 33554432}
    if expire:
        sets.update({"dogstatsd_expiry_seconds": 5, "dogstatsd_context_expiry_seconds": 5})
    for kv in filter(None, os.environ.get("EXTRA", "").split(",")):
        k, v = kv.split("=", 1)
        sets[k] = v
    argv = [binp, "run", "-c", "/dev/null"]
    for k, v in sets.items():
        argv += ["--set", "%s=%s" % (k, v)]
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    def status():
        url = "http://127.0.0.1:%d/status" % st
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def mem():
        with open("/proc/%d/status" % p.pid) as f:
            t = f.read()
        return {k: round(int(re.search(r"^%s:\s+(\d+)" % k, t, re.M).group(1)) / 1024, 1)
                for k in ("VmRSS", "VmHWM")}

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
        base = mem()
        r = subprocess.run([lg, "--port", str(sp), "--count", str(n), "--contexts", str(n),
                            "--mix", mix, "--per-datagram", "20", "--threads", "1",
                            "--rate", "300000", "--tags", "env:prod,service:web",
                            "--prefix", "flood.m", "--duration", "100"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        wait(lambda: sum(status()["aggregator"][k] for k in
                         ("contexts_created", "context_limit_drops")) >= n * 0.999, 60)
        sent = mem()
        fr = status()["aggregator"]["frames"]
        wait(lambda: status()["aggregator"]["frames"] >= fr + 2, 30)
        flushed = mem()
        a = status()["aggregator"]
        out = {"n": n, "mix": mix, "idle": base, "sent": sent, "flushed": flushed,
               "bytes_per_context": round((flushed["VmHWM"] - base["VmRSS"]) * 1048576 /
                                          max(1, a["contexts_created"]))}
        if expire:
            wait(lambda: status()["aggregator"]["contexts"] <= 100, 90)
            fr = status()["aggregator"]["frames"]
            wait(lambda: status()["aggregator"]["frames"] >= fr + 2, 30)
            out["expired"] = mem()
        print(json.dumps(out))
    finally:
        p.terminate()
        p.wait(30)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

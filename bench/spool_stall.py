#!/usr/bin/env python3
"""How long the agent's loop stalls while the disk spool is busy.

The status server runs on the libuv loop, so a request to /health waits for
whatever the loop is doing: its latency is the loop's stall at that moment.
This starts meterd (METERD_BIN) with a backend that refuses connections, so
every window's payload is written to the spool (a real disk, under the
current folder: not a tmpfs, whose fsync costs nothing), sends counters with
unique names for DURATION seconds and asks /health back to back the whole
time. meterd runs with bench/loop_probe.c preloaded, which times every
loop iteration and every fsync by thread. It prints one JSON line, once with
the spool on and once with it off (the floor: scheduling noise on a shared
machine): /health latency percentiles, the loop's busiest iteration, fsyncs
made on the loop thread and elsewhere, and the spool writes done.

  METERD_BIN=build/meterd python3 bench/spool_stall.py [DURATION]
"""
import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Meterd, _LIVE, meterd_bin  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(meterd_bin())), "bench", "libloop_probe.so")


def run(duration, spool):
    with tempfile.TemporaryDirectory(prefix="spool-stall-", dir=os.getcwd()) as d:
        m = Meterd(d, {"dd_url": "http://127.0.0.1:9", "api_key": "bench-key-0123456789",
                       "hostname": "bench", "flush_interval": 1, "forwarder_backoff_base": 1,
                       "forwarder_retry_queue_payloads_max_size": 65536,
                       "forwarder_storage_max_size_in_bytes": 512 << 20 if spool else 0},
                  env={"LD_PRELOAD": PROBE, "LOOP_PROBE_OUT": os.path.join(d, "probe.json")})
        stop = threading.Event()

        def send():
            n = 0
            while not stop.is_set():
                m.send("\n".join("stall.%d.%d:1|c" % (n, i) for i in range(40)))
                n += 1
                time.sleep(0.005)

        t = threading.Thread(target=send)
        t.start()
        lat = []
        c = http.client.HTTPConnection("127.0.0.1", m.status_port, timeout=10)
        t_end = time.time() + duration
        while time.time() < t_end:
            t0 = time.perf_counter()
            c.request("GET", "/health")
            c.getresponse().read()
            lat.append((time.perf_counter() - t0) * 1000)
        stop.set()
        t.join()
        sp = m.status()["forwarder"].get("spool") or {}
        m.stop()
        _LIVE.remove(m.proc)
        probe = json.load(open(os.path.join(d, "probe.json")))
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)
    return {"requests": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "p999_ms": pick(0.999), "max_ms": round(lat[-1], 2),
            "over_2ms": sum(1 for x in lat if x > 2), "spool_written": sp.get("written", 0), "loop": probe}


if __name__ == "__main__":
    dur = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(json.dumps({"spool_on": run(dur, True), "spool_off": run(dur, False)}))

#!/usr/bin/env python3
"""How long the agent's loop stalls while it replays a large disk spool.

A restart after an outage finds up to forwarder_storage_max_size_in_bytes
(100 MiB by default) of payloads on disk and sends them oldest first. This
fills a real spool folder (on the current folder's disk, not a tmpfs) with
SIZE_MIB of files in the spool's own format (random, incompressible bodies
of 512 KiB, the size of a full Datadog series payload), drops the page cache
so every read goes to the disk, starts meterd (METERD_BIN) against a local
HTTP server that answers 202 to everything and asks /health back to back
until the spool is empty. The server is a stand-in for the intake: random
bodies would be refused by a real backend, and what is measured here is the
agent's loop, not the backend. meterd runs with bench/loop_probe.c
preloaded, which times every loop iteration. Prints one JSON line: /health
latency percentiles during the replay, the loop's busiest iteration and the
time to drain.

  METERD_BIN=build/meterd python3 bench/spool_replay.py [SIZE_MIB]
"""
import http.client
import json
import os
import struct
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Meterd, _LIVE, meterd_bin  # noqa: E402

from benchagent import accept_server  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(meterd_bin())), "bench", "libloop_probe.so")
BODY = 512 * 1024


def put_str(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def spool_file(url, body):
    """One file in the MDSPOOL1 layout (spool_codec.c); the API key stays a placeholder."""
    hdrs = ["DD-API-KEY: @@meterd-secret-0@@", "Content-Type: application/json",
            "Content-Encoding: deflate"]
    b = b"MDSPOOL1" + put_str("datadog") + put_str(url) + struct.pack("<I", len(hdrs))
    b += b"".join(put_str(h) for h in hdrs) + struct.pack("<QQ", 100, len(body)) + body
    return b + struct.pack("<I", zlib.crc32(b) & 0xffffffff)


def fill(folder, url, size_mib):
    n = size_mib * 1024 * 1024 // BODY
    for i in range(n):
        name = "%020d-datadog-100.spl" % ((i + 1) << 20)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(spool_file(url, os.urandom(BODY)))
    os.sync()
    return n


def run(size_mib):
    srv = accept_server()
    dd_url = "http://127.0.0.1:%d/datadog" % srv.server_address[1]
    settings = {"dd_url": dd_url, "api_key": "bench-key-0123456789", "hostname": "bench",
                "flush_interval": 10, "forwarder_backoff_base": 1}
    with tempfile.TemporaryDirectory(prefix="spool-replay-", dir=os.getcwd()) as d:
        m = Meterd(d, settings)  # creates the spool folder for this dd_url
        m.stop()
        _LIVE.remove(m.proc)
        base = os.path.join(d, "transactions_to_retry")
        folder = os.path.join(base, os.listdir(base)[0])
        files = fill(folder, dd_url + "/api/v1/series", size_mib)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        t0 = time.time()
        m = Meterd(d, settings, env={"LD_PRELOAD": PROBE,
                                     "LOOP_PROBE_OUT": os.path.join(d, "probe.json")})
        started = time.time() - t0
        lat = []
        c = http.client.HTTPConnection("127.0.0.1", m.status_port, timeout=30)
        deadline = time.time() + 300
        while time.time() < deadline:
            for _ in range(50):
                t1 = time.perf_counter()
                c.request("GET", "/health")
                c.getresponse().read()
                lat.append((time.perf_counter() - t1) * 1000)
            c.request("GET", "/status")
            sp = json.loads(c.getresponse().read())["forwarder"]["spool"]
            if sp["files"] == 0:
                break
        drain = time.time() - t0
        m.stop()
        _LIVE.remove(m.proc)
        probe = json.load(open(os.path.join(d, "probe.json")))
    srv.shutdown()
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)
    return {"files": files, "mib": size_mib, "replayed": sp["replayed"], "left": sp["files"],
            "start_s": round(started, 2), "drain_s": round(drain, 2), "requests": len(lat),
            "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(lat[-1], 2),
            "loop": probe}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))

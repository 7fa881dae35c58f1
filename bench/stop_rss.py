#!/usr/bin/env python3
"""Peak RSS through a normal flush and through SIGTERM, at N contexts.

The stop path seals every open window; it must take the window in parts
as a normal flush does, so that stopping never raises the agent's peak
memory. This starts meterd (no context limit, collectors off, SINK to
/dev/null: console by default, or datadog to a local server that answers
202), sends N unique counters with bench/loadgen, waits for two flushes
(the window with the samples, then the zero-filled one: both carry N
series), reads VmHWM, then sends SIGTERM while the counters are still
zero-filled (so the last seal carries N series too) and takes the
process's lifetime peak from wait4's ru_maxrss. Bounded: loadgen stops at
N or 100 s, every wait is capped.

  python3 bench/stop_rss.py BUILD/meterd N [SINK]
  e.g. python3 bench/stop_rss.py build/meterd 1000000
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Accept(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def main():
    binp, n = sys.argv[1], int(sys.argv[2])
    sink = sys.argv[3] if len(sys.argv) > 3 else "console"
    lg = os.path.join(os.path.dirname(os.path.abspath(binp)), "bench", "loadgen")
    d = tempfile.mkdtemp(prefix="stop-rss-")
    for c in os.listdir(os.path.join(ROOT, "conf.d")):
        if c.endswith(".d"):
            os.makedirs(os.path.join(d, "conf.d", c))
            with open(os.path.join(d, "conf.d", c, "conf.yaml"), "w") as f:
                f.write("instances:\n  - enabled: false\n")
    sp, st = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    sets = {"dogstatsd_port": sp, "status_port": st, "confd_path": os.path.join(d, "conf.d"),
            "run_path": d, "sinks": sink, "hostname": "h", "dogstatsd_context_limit": 0,
            "dogstatsd_pipeline_count": 2, "dogstatsd_so_rcvbuf": 33554432,
            "shutdown_timeout": 30}
    srv = None
    if sink == "datadog":
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accept)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        sets.update({"dd_url": "http://127.0.0.1:%d" % srv.server_address[1],
                     "api_key": "0" * 32, "forwarder_storage_max_size_in_bytes": 0})
    argv = [binp, "run", "-c", "/dev/null"]
    for k, v in sets.items():
        argv += ["--set", "%s=%s" % (k, v)]
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    def status():
        url = "http://127.0.0.1:%d/status" % st
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def hwm():
        with open("/proc/%d/status" % p.pid) as f:
            return round(int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1)) / 1024, 1)

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
        r = subprocess.run([lg, "--port", str(sp), "--count", str(n), "--contexts", str(n),
                            "--mix", "c=1", "--per-datagram", "20", "--threads", "1",
                            "--rate", "300000", "--tags", "env:prod,service:web",
                            "--prefix", "stop.m", "--duration", "100"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        wait(lambda: status()["aggregator"]["contexts_created"] >= n * 0.999, 60)
        fr = status()["aggregator"]["frames"]
        wait(lambda: status()["aggregator"]["frames"] >= fr + 2, 60)
        flushed = hwm()
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        _, rc, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(rc)
        print(json.dumps({"n": n, "sink": sink, "hwm_after_flushes_mib": flushed,
                          "peak_through_sigterm_mib": round(ru.ru_maxrss / 1024, 1),
                          "stop_seconds": round(time.time() - t0, 2), "exit": p.returncode}))
    finally:
        if p.returncode is None:
            p.terminate()
            p.wait(60)
        if srv:
            srv.shutdown()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

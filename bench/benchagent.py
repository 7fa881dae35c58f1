"""What the bench scripts share: a meterd to measure and a stand-in intake.

Each memory or stall figure comes from the same setup: meterd started as
`meterd run -c /dev/null --set ...` on kernel-picked loopback ports, with a
conf.d of its own in which every shipped collector is disabled (so only the
intake under test allocates), its stderr in a log under a temporary folder,
read through /status and /proc/PID/status (VmRSS, VmHWM), and flooded by
bench/loadgen. Written once here so that the scripts differ only in what
they measure. Every wait is bounded; the agent and its folder are gone when
the `with` block ends.
"""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
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


def wait(pred, limit):
    """Poll pred every 0.2 s for at most limit seconds (no error on timeout)."""
    t = time.time()
    while time.time() - t < limit and not pred():
        time.sleep(0.2)


def extra_sets():
    """EXTRA=key=value,key=value: more --set keys from the environment."""
    return dict(kv.split("=", 1) for kv in filter(None, os.environ.get("EXTRA", "").split(",")))


def collectors_off(d):
    """A conf.d under d with every shipped collector disabled; returns its path."""
    confd = os.path.join(d, "conf.d")
    for c in os.listdir(os.path.join(ROOT, "conf.d")):
        if c.endswith(".d"):
            os.makedirs(os.path.join(confd, c))
            with open(os.path.join(confd, c, "conf.yaml"), "w") as f:
                f.write("instances:\n  - enabled: false\n")
    return confd


class Agent:
    """meterd BINP with `sets` on top of ports, conf.d, run_path and hostname=h."""

    def __init__(self, binp, prefix, sets):
        self.binp = binp
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.sp, self.st = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        base = {"dogstatsd_port": self.sp, "status_port": self.st,
                "confd_path": collectors_off(self.dir), "run_path": self.dir, "hostname": "h"}
        base.update(sets)
        argv = [binp, "run", "-c", "/dev/null"]
        for k, v in base.items():
            argv += ["--set", "%s=%s" % (k, v)]
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log)

    def __enter__(self):
        for _ in range(200):
            try:
                self.status()
                break
            except OSError:
                time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        if self.proc.returncode is None:
            self.proc.terminate()
            self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def status(self):
        url = "http://127.0.0.1:%d/status" % self.st
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def mem(self):
        """VmRSS and VmHWM in MiB, one decimal."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            t = f.read()
        return {k: round(int(re.search(r"^%s:\s+(\d+)" % k, t, re.M).group(1)) / 1024, 1)
                for k in ("VmRSS", "VmHWM")}

    def loadgen(self, *args):
        lg = os.path.join(os.path.dirname(os.path.abspath(self.binp)), "bench", "loadgen")
        return [lg, "--port", str(self.sp)] + [str(a) for a in args]

    def flood(self, n, prefix, mix="c=1", tags=None):
        """n unique names of `mix`, 20 a datagram, at most 300k/s and 100 s."""
        args = ["--count", n, "--contexts", n, "--mix", mix, "--per-datagram", "20",
                "--threads", "1", "--rate", "300000"]
        args += ["--tags", tags] if tags else []
        args += ["--prefix", prefix, "--duration", "100"]
        r = subprocess.run(self.loadgen(*args), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr

    def wait_frames(self, more, limit):
        """Wait for `more` aggregator frames (flushes) after now."""
        fr = self.status()["aggregator"]["frames"]
        wait(lambda: self.status()["aggregator"]["frames"] >= fr + more, limit)


class Accept(http.server.BaseHTTPRequestHandler):
    """An intake stand-in: reads the body, answers 202 {} (202 to the forwarder's HEAD probe)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_HEAD(self):
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def accept_server():
    """Accept on a loopback port, served from a thread; srv.shutdown() ends it."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

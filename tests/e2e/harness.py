"""Shared pieces of meterd's end-to-end tests: real processes, real sockets.

Starts VictoriaMetrics and meterd on loopback with temporary directories and
free ports, waits for their readiness endpoints (bounded polls, no fixed
sleeps), sends real datagrams, reads series back, and stops every process it
started by PID. Each test file calls run_tests() which prints `ok NAME` /
`FAIL NAME: why` per test and a final `N passed, N failed` line.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MSEC = 1e-3


def meterd_bin():
    return os.environ.get("METERD_BIN", os.path.join(ROOT, "build", "meterd"))


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_tcp_port():
    """A port free for both UDP (statsd) and TCP, picked by the kernel."""
    for _ in range(50):
        p = free_port(socket.SOCK_DGRAM)
        try:
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", p))
            t.close()
            return p
        except OSError:
            continue
    raise RuntimeError("no free port")


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def http_post(url, data, timeout=5, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def avoid_window_edge(interval=10, margin=1.5):
    """Sleep past a window boundary if one is near, so a burst lands in one window."""
    t = time.time()
    left = interval - (t % interval)
    if left < margin:
        time.sleep(left + 0.05)
    return int(time.time()) // interval * interval


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns a truthy value; raise with `what` on timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # not ready yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


_LIVE = []  # every Proc started by the current test, stopped when it ends


class Proc:
    """A child process we started; stopped by PID only."""

    def __init__(self, argv, log_path, env=None):
        _LIVE.append(self)
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=15):
        if self.log.closed:
            return self.p.returncode
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(5)
        self.log.close()
        return self.p.returncode

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class VictoriaMetrics:
    def __init__(self, workdir):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        data = os.path.join(workdir, "vm-data")
        self.argv = ["victoria-metrics", "-storageDataPath=" + data,
                     "-httpListenAddr=127.0.0.1:%d" % self.port, "-retentionPeriod=100y",
                     "-search.latencyOffset=0s", "-loggerLevel=WARN"]
        self.log_path = os.path.join(workdir, "vm.log")
        self.restart()

    def restart(self):
        """Start (again, after stop(): SIGTERM keeps the data) on the same port and folder."""
        self.proc = Proc(self.argv, self.log_path)
        wait_until(lambda: http_get(self.url + "/health")[1].strip() == "OK", 20, "VictoriaMetrics /health")

    def export(self, match):
        """All samples of series matching `match`, as a list of dicts."""
        body = urllib.parse.urlencode({"match[]": match}).encode()
        http_get(self.url + "/internal/force_flush")
        _, text = http_post(self.url + "/api/v1/export", body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def windows(self, name):
        """{window timestamp (ms): [values]} of counter `name`; a window
        stored twice has two values (VictoriaMetrics keeps duplicates)."""
        out = {}
        for s in self.export('{__name__="%s"}' % name):
            for v, t in zip(s["values"], s["timestamps"]):
                out.setdefault(t, []).append(v)
        return out

    def total(self, name, interval=1):
        """Increments of counter `name` stored (counts ship as per-second
        rates of `interval`-second windows) and any window stored twice."""
        w = self.windows(name)
        dups = {t: v for t, v in w.items() if len(v) > 1}
        return round(sum(sum(v) for v in w.values()) * interval), dups

    def stop(self):
        return self.proc.stop()


class SilentBackend:
    """Accepts TCP connections on loopback (port 0: a free one), reads what
    arrives, never answers. A test double: a real backend cannot be made to
    hold a request on demand."""

    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns, self.requests = [], 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                pass
            else:
                c.settimeout(0.05)
                self.conns.append(c)
            for c in list(self.conns):
                try:
                    if c.recv(1 << 20).startswith(b"POST"):
                        self.requests += 1
                except (socket.timeout, OSError):
                    pass

    def close(self):
        self.done.set()
        self.t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def spool_paths(base):
    """Spool files under base (each backend's payloads in a subfolder of their own)."""
    return [os.path.join(r, f) for r, _, fs in os.walk(base) for f in fs if f.endswith(".spl")]


class Meterd:
    def __init__(self, workdir, settings=None, config_text=None, env=None, args=None):
        self.statsd_port = free_udp_tcp_port()
        self.status_port = free_port()
        self.workdir = workdir
        conf = os.path.join(workdir, "meterd.yaml")
        if config_text is None:
            config_text = ""
        with open(conf, "w") as f:
            f.write(config_text)
        self.config_path = conf
        argv = [meterd_bin(), "run", "-c", conf,
                "--set", "dogstatsd_port=%d" % self.statsd_port,
                "--set", "status_port=%d" % self.status_port]
        if not os.path.isdir(os.path.join(workdir, "conf.d")):
            os.makedirs(os.path.join(workdir, "conf.d"))
        if not any(k.startswith("confd_path=") for k in (settings or {})):
            argv += ["--set", "confd_path=" + os.path.join(workdir, "conf.d")]
        if "run_path" not in (settings or {}):  # each test its own disk spool
            argv += ["--set", "run_path=" + workdir]
        for k, v in (settings or {}).items():
            argv += ["--set", "%s=%s" % (k, v)]
        argv += args or []
        e = dict(os.environ)
        e.update(env or {})
        self.proc = Proc(argv, os.path.join(workdir, "meterd.log"), env=e)
        self.status_url = "http://127.0.0.1:%d" % self.status_port
        wait_until(lambda: self._healthy(), 20, "meterd /health")

    def _healthy(self):
        if not self.proc.alive():
            raise AssertionError("meterd exited: " + self.proc.output()[-2000:])
        return http_get(self.status_url + "/health")[0] == 200

    def status(self):
        return json.loads(http_get(self.status_url + "/status")[1])

    def send(self, *datagrams, host="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for d in datagrams:
            s.sendto(d.encode() if isinstance(d, str) else d, (host, self.statsd_port))
        s.close()

    def wait_received(self, packets, timeout=10):
        """meterd has read at least `packets` datagrams (its own counter)."""
        return wait_until(lambda: self.status()["dogstatsd"]["packets"] >= packets, timeout,
                          "meterd to receive %d packets" % packets)

    def stop(self):
        return self.proc.stop()


def shipping_agent(d, dd_url, host, api_key, **settings):
    """A Meterd that ships to dd_url every second and retries after 1 s; settings add or override."""
    base = {"dd_url": dd_url, "hostname": host, "api_key": api_key, "flush_interval": 1,
            "forwarder_backoff_base": 1}
    base.update(settings)
    return Meterd(d, base)


def intake_sum(i):
    """The right-hand side of the intake identity (samples), from its terms."""
    return (i["aggregated"] + i["in_transit"] + sum(i["rejected"].values()) +
            sum(i["dropped"].values()))


def fwd_sum(f):
    """The right-hand side of the forwarder identity (items), from its terms."""
    return (f["shipped"] + f["queued"] + f["inflight"] + f["on_disk"] +
            sum(f["dropped"].values()))


def ledger_adds_up(m):
    """Both identities of the delivery ledger hold, recomputed here from the
    terms and not only as the agent's own `balanced` flag; returns the ledger."""
    led = m.status()["ledger"]
    i, f = led["intake"], led["forwarder"]
    assert i["received"] == intake_sum(i) and i["balanced"], i
    assert f["handed"] + f["recovered"] == fwd_sum(f) and f["balanced"], f
    return led


def run_tests(tests):
    """Run test functions, each given a fresh temp dir; print results and a summary."""
    passed = failed = 0
    only = os.environ.get("E2E_ONLY")
    for t in tests:
        if only and only not in t.__name__:
            continue
        with tempfile.TemporaryDirectory(prefix="meterd-e2e-") as d:
            t0 = time.time()
            try:
                t(d)
                passed += 1
                print("ok %s (%.1fs)" % (t.__name__, time.time() - t0), flush=True)
            except Exception as e:
                for p in _LIVE:
                    if not p.log.closed:
                        p.log.flush()
                failed += 1
                print("FAIL %s: %s" % (t.__name__, e), flush=True)
                traceback.print_exc(file=sys.stdout)
                for log in ("meterd.log", "vm.log", "meterd2.log"):
                    p = os.path.join(d, log)
                    if os.path.exists(p):
                        print("--- %s (tail) ---" % log)
                        print(open(p, errors="replace").read()[-3000:])
            finally:
                while _LIVE:
                    _LIVE.pop().stop()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0

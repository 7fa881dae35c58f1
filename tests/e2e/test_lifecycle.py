#!/usr/bin/env python3
"""End to end: the daemon's lifecycle under signals, and `meterd health` over IPv6.

The backend here is a real TCP listener on loopback that accepts connections
and never answers, so the agent's shutdown drain has a request in flight for
as long as it is allowed to wait. That is the situation in which a SIGHUP or
a second SIGTERM arrives when a container runtime sends more than one signal.
"""
import os
import signal
import socket
import subprocess
import time

from harness import Meterd, Proc, SilentBackend, free_port, meterd_bin, run_tests, wait_until

FORWARDER_TIMEOUT = 12  # seconds: longer than the drain, so a request stays in flight
SHUTDOWN_TIMEOUT = 5  # seconds the drain waits for it


def start_stuck(d, backend):
    """meterd shipping to the silent backend, with one flush already handed to it."""
    m = Meterd(d, settings={"dd_url": backend.url, "api_key": "e2e-secret-key-1234",
                            "flush_interval": 1, "forwarder_timeout": FORWARDER_TIMEOUT,
                            "shutdown_timeout": SHUTDOWN_TIMEOUT,
                            "hostname": "e2e-lifecycle"})
    m.send("lifecycle.c:1|c")
    wait_until(lambda: m.status()["aggregator"]["frames"] >= 1, 10, "a flush")
    wait_until(lambda: backend.requests >= 1, 10, "the flush to reach the backend")
    return m


def wait_exit(m, timeout):
    t0 = time.time()
    try:
        m.proc.p.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("meterd still running %.1f s after the signals" % timeout)
    return time.time() - t0


def test_sighup_during_drain_is_ignored(d):
    backend = SilentBackend()
    try:
        m = start_stuck(d, backend)
        m.proc.signal(signal.SIGTERM)
        time.sleep(0.3)  # the scenario: a second signal shortly after the first
        m.proc.signal(signal.SIGHUP)
        # Without the SIGHUP the drain ends after SHUTDOWN_TIMEOUT.
        took = wait_exit(m, 15)
        assert took < SHUTDOWN_TIMEOUT + 3, "exit took %.1f s" % took
        out = m.proc.output()
        assert "SIGHUP ignored" in out, out[-2000:]
        assert "reloaded" not in out, out[-2000:]
        assert m.proc.p.returncode == 0, m.proc.p.returncode
    finally:
        backend.close()


def test_second_sigterm_exits_at_once(d):
    backend = SilentBackend()
    try:
        m = start_stuck(d, backend)
        m.proc.signal(signal.SIGTERM)
        time.sleep(0.3)  # the first one has started the drain
        assert m.proc.alive(), "exited before the drain deadline: the backend never answers"
        t0 = time.time()
        m.proc.signal(signal.SIGINT)
        wait_exit(m, 15)
        took = time.time() - t0
        # The drain alone would wait SHUTDOWN_TIMEOUT.
        assert took < 2.5, "second signal: exit took %.1f s" % took
        out = m.proc.output()
        assert "exiting without waiting" in out, out[-2000:]
        assert m.proc.p.returncode != 0, "a cut-short drain must not look like a clean exit"
    finally:
        backend.close()


def test_health_over_ipv6(d):
    if not socket.has_ipv6:
        raise AssertionError("this machine has no IPv6 loopback")
    port = free_port()
    statsd = free_port(socket.SOCK_DGRAM)
    os.makedirs(os.path.join(d, "conf.d"))
    sets = ["--set", "status_host=::1", "--set", "status_port=%d" % port,
            "--set", "confd_path=" + os.path.join(d, "conf.d")]
    Proc([meterd_bin(), "run", "--set", "dogstatsd_port=%d" % statsd] + sets,
         os.path.join(d, "meterd.log"))

    def health():
        r = subprocess.run([meterd_bin(), "health"] + sets, capture_output=True, text=True,
                           timeout=10)
        return r.returncode == 0 and r.stdout.strip() == "healthy"

    wait_until(health, 20, "`meterd health` over [::1] to say healthy")
    r = subprocess.run([meterd_bin(), "status", "--json"] + sets, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and '"dogstatsd"' in r.stdout, (r.returncode, r.stderr)


def test_reload_keeps_the_context_limit(d):
    """The context limit sizes the running aggregator: a SIGHUP that changes it
    keeps the running value and says so in one line."""
    conf = "dogstatsd_context_limit: 5\nlog_level: info\n"
    m = Meterd(d, config_text=conf)
    try:
        def drops():
            return m.status()["aggregator"]["context_limit_drops"]
        m.send(*["limit.a%d:1|c" % i for i in range(8)])
        wait_until(lambda: drops() == 3, 10, "3 drops past a limit of 5")
        with open(m.config_path, "w") as f:
            f.write(conf.replace(": 5", ": 1000"))
        m.proc.signal(signal.SIGHUP)
        wait_until(lambda: m.status()["reloads"] == 1, 10, "the SIGHUP reload")
        want = "the context limits change only on restart"
        wait_until(lambda: want in m.proc.output(), 5, "log line %r" % want)
        m.send(*["limit.b%d:1|c" % i for i in range(4)])
        wait_until(lambda: drops() == 7, 10, "4 more drops: the running limit is still 5")
    finally:
        m.stop()


if __name__ == "__main__":
    raise SystemExit(run_tests([test_sighup_during_drain_is_ignored,
                                test_second_sigterm_exits_at_once, test_health_over_ipv6,
                                test_reload_keeps_the_context_limit]))

#!/usr/bin/env python3
"""End to end: SIGTERM with a backend that holds every request, then delivery on restart.

The backend that holds requests is a test double (a TCP listener on loopback
that reads each request and never answers): a real backend cannot be made to
hang on demand, and one paused with SIGSTOP would still ingest the requests
already in its socket buffer when it resumes, which would deliver them twice.
The double listens on VictoriaMetrics' port; after meterd's exit it closes
and the real VictoriaMetrics starts on that port, so the restarted agent
finds the spool of the same backend URL and its delivery is read back
exactly.
"""
import os
import signal
import sys
import time

from harness import (SilentBackend, VictoriaMetrics, run_tests, shipping_agent, spool_paths,
                     wait_until)

HOST = "e2e-shutdown"
SHUTDOWN_TIMEOUT = 3


def agent(d, url, **kw):
    s = {"forwarder_timeout": 30, "shutdown_timeout": SHUTDOWN_TIMEOUT}
    s.update(kw)
    return shipping_agent(d, url + "/datadog", HOST, "e2e-shutdown-key-0123", **s)


def test_sigterm_backend_holding_requests(d):
    vm = VictoriaMetrics(d)
    vm.stop()  # its port is the double's until the restart
    hold = SilentBackend(vm.port)
    try:
        m = agent(d, vm.url)
        sent = 0
        t_end = time.time() + 2.5  # a few sealed windows, then the open one
        while time.time() < t_end:
            m.send("shut.count:1|c")
            sent += 1
            time.sleep(0.02)
        m.wait_received(sent)
        wait_until(lambda: hold.requests >= 1, 10, "a request held by the backend")
        t0 = time.time()
        m.proc.signal(signal.SIGTERM)
        rc = m.proc.p.wait(SHUTDOWN_TIMEOUT + 10)
        took = time.time() - t0
        assert rc == 0, rc
        # It waits for the held requests for shutdown_timeout, and not much longer.
        assert SHUTDOWN_TIMEOUT - 0.5 <= took <= SHUTDOWN_TIMEOUT + 2, "exit took %.1f s" % took
        out = m.proc.output()
        assert "kept in the spool for the next run" in out, out[-2000:]
        assert "dropped" not in out, out[-2000:]
        assert spool_paths(os.path.join(d, "transactions_to_retry")), "nothing spooled at exit"
    finally:
        hold.close()
    vm.restart()
    m = agent(d, vm.url)
    wait_until(lambda: vm.total("shut.count")[0] >= sent, 20, "the spooled counts")
    wait_until(lambda: m.status()["forwarder"]["spool"]["files"] == 0, 10, "the spool to empty")
    got, dups = vm.total("shut.count")
    assert got == sent and not dups, (got, sent, dups)
    led = m.status()["forwarder"]["ledger"]
    assert led["balanced"] and led["dropped"] == 0 and led["recovered"] > 0, led
    print("sigterm: %d counts, exit in %.1f s, all delivered once after the restart" % (sent, took))


if __name__ == "__main__":
    sys.exit(run_tests([test_sigterm_backend_holding_requests]))

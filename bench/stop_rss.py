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
import json
import os
import signal
import sys
import time

from benchagent import Agent, accept_server, wait


def main():
    binp, n = sys.argv[1], int(sys.argv[2])
    sink = sys.argv[3] if len(sys.argv) > 3 else "console"
    sets = {"sinks": sink, "dogstatsd_context_limit": 0,
            "dogstatsd_pipeline_count": 2, "dogstatsd_so_rcvbuf": 33554432,
            "shutdown_timeout": 30}
    srv = None
    if sink == "datadog":
        srv = accept_server()
        sets.update({"dd_url": "http://127.0.0.1:%d" % srv.server_address[1],
                     "api_key": "0" * 32, "forwarder_storage_max_size_in_bytes": 0})
    try:
        with Agent(binp, "stop-rss-", sets) as a:
            a.flood(n, "stop.m", tags="env:prod,service:web")
            wait(lambda: a.status()["aggregator"]["contexts_created"] >= n * 0.999, 60)
            a.wait_frames(2, 60)
            flushed = a.mem()["VmHWM"]
            p = a.proc
            t0 = time.time()
            p.send_signal(signal.SIGTERM)
            _, rc, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(rc)
            print(json.dumps({"n": n, "sink": sink, "hwm_after_flushes_mib": flushed,
                              "peak_through_sigterm_mib": round(ru.ru_maxrss / 1024, 1),
                              "stop_seconds": round(time.time() - t0, 2), "exit": p.returncode}))
    finally:
        if srv:
            srv.shutdown()


if __name__ == "__main__":
    main()

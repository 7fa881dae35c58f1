#!/usr/bin/env python3
"""A flood of unique statsd names never removes host metrics, and memory stays in budget.

Issue 13 measured it: 2M unique names through an agent with no default
context limit took 762 MB, and with a limit shared by statsd and the
collectors the host's own system.* series vanished from the backend. Here a
real meterd with its default limits (dogstatsd_context_limit 250000, the
collectors' own collector_context_limit) runs its host collectors and ships
to a real VictoriaMetrics while bench/loadgen sends 2M unique counter names
(bounded: count and duration). Checked:

- system.cpu.user, system.mem.used and system.net.bytes_rcvd have a point
  in every window from before the flood to after it, in the backend;
- a collector switched on (SIGHUP) while DogStatsD is at its limit still
  creates its contexts: system.load.1 arrives;
- exactly `limit` statsd contexts exist and exactly sent - limit samples are
  counted in context_limit_drops (nothing else sends statsd here, and
  counters live 300 s, so no slot frees up during the test), none in
  collector_context_limit_drops; meterd.aggregator.context_limit_drops
  reaches the backend with the same total;
- VmHWM stays under the budget the README states (RSS_BUDGET_MIB);
- the log holds exactly one line for the first hit and no per-minute line
  before a minute has passed (the per-minute cadence itself is unit-tested
  with a driven clock in tests/unit/test_aggregator_budget.c).

Readiness comes from /status counters and the backend's data, never sleeps.
"""
import os
import signal
import sys
import time

from harness import Meterd, VictoriaMetrics, ledger_adds_up, run_tests, wait_until
from test_load import all_read, intake, run_loadgen, vm_hwm_kib

HOST = "flood-host"
NAMES = 2_000_000
LIMIT = 250_000  # dogstatsd_context_limit's default (agent/config/config_keys.c)
RSS_BUDGET_MIB = 128  # README "Bounded by default"
FLOOD_RATE = int(os.environ.get("FLOOD_RATE", "200000"))
HOST_SERIES = ['system.cpu.user{host="%s"}' % HOST,
               'system.mem.used{host="%s"}' % HOST,
               'system.net.bytes_rcvd{host="%s"}' % HOST]


def write_conf(confd, name, interval, enabled=True):
    folder = os.path.join(confd, name + ".d")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "conf.yaml.tmp"), "w") as f:
        f.write("init_config:\n\ninstances:\n  - min_collection_interval: %d\n    enabled: %s\n"
                % (interval, "true" if enabled else "false"))
    os.replace(os.path.join(folder, "conf.yaml.tmp"), os.path.join(folder, "conf.yaml"))


def windows(vm, match):
    """Window starts (seconds) at which series `match` has a point."""
    return {t // 1000 for s in vm.export(match) for t in s["timestamps"]}


def test_flood_keeps_host_metrics(d):
    vm = VictoriaMetrics(d)
    confd = os.path.join(d, "conf.d")
    for name in ("cpu", "memory", "network"):
        write_conf(confd, name, 5)  # two samples a 10 s window: every window has one
    write_conf(confd, "load", 5, enabled=False)  # switched on during the flood
    m = Meterd(d, settings={"dd_url": vm.url + "/datadog", "hostname": HOST,
                            "api_key": "flood-secret-key-4321", "dogstatsd_pipeline_count": 2,
                            "dogstatsd_so_rcvbuf": 33554432})
    st = m.status()
    iv = st["flush_interval"]
    assert st["aggregator"]["contexts"] == st["aggregator"]["contexts_collector"], st["aggregator"]

    def host_windows():
        w = [windows(vm, s) for s in HOST_SERIES]
        return w if all(w) else None
    before = wait_until(host_windows, 3 * iv + 10, "a first window of host metrics", interval=0.5)
    w_first = max(min(w) for w in before)

    t0 = time.time()
    lg = run_loadgen(m.statsd_port, NAMES, NAMES, FLOOD_RATE, timeout=60)
    t_sent = time.time()

    def settled():
        s = m.status()
        a, i = s["aggregator"], intake(s)
        accepted = i["metrics"] - i["ring_full_drops"]
        statsd = a["contexts_created"] - a["contexts_collector"]
        return s if all_read(s, lg) and statsd + a["context_limit_drops"] >= accepted else None
    st = wait_until(settled, 30, "the aggregator to take all %d names" % NAMES, interval=0.2)
    i, a = intake(st), st["aggregator"]
    sent = lg["sent_metrics"]
    print("  flood: %d names in %.1fs (%.0f/s), settled %.1fs later; contexts %d (collector %d) "
          "context_limit_drops %d collector_context_limit_drops %d kernel_drops %d "
          "ring_full_drops %d" % (sent, lg["elapsed_s"], lg["rate"], time.time() - t_sent,
                                  a["contexts"], a["contexts_collector"], a["context_limit_drops"],
                                  a["collector_context_limit_drops"], i["kernel_drops"],
                                  i["ring_full_drops"]))
    assert i["kernel_drops"] == 0 and i["ring_full_drops"] == 0 and i["metrics"] == sent, \
        "not every name reached the aggregator (lower FLOOD_RATE): %r" % i
    assert a["contexts"] - a["contexts_collector"] == LIMIT, a
    assert a["context_limit_drops"] == sent - LIMIT, (a["context_limit_drops"], sent - LIMIT)
    assert a["collector_context_limit_drops"] == 0, a

    # New host series while DogStatsD's budget is full: the load collector.
    write_conf(confd, "load", 5)
    m.proc.signal(signal.SIGHUP)
    wait_until(lambda: m.status()["reloads"] >= 1 or None, 10, "the SIGHUP reload")
    wait_until(lambda: windows(vm, 'system.load.1{host="%s"}' % HOST), 2 * iv + 10,
                      "system.load.1 from the collector switched on during the flood", interval=1)
    a = m.status()["aggregator"]
    # system.load.1 reaching VictoriaMetrics is the proof that the collector got
    # its contexts; their count is no proof, as it also moves with the host's
    # interfaces and mounts coming and going.
    assert a["collector_context_limit_drops"] == 0, a
    assert a["context_limit_drops"] == sent - LIMIT, a

    # Host metrics in every window up to one wholly after the flood.
    w_last = (int(t_sent) // iv + 1) * iv

    def host_after():
        w = host_windows()
        return w if w and all(max(x) >= w_last for x in w) else None
    after = wait_until(host_after, 3 * iv + 20, "host metrics of the window after the flood",
                       interval=1)
    want = set(range(w_first, w_last + 1, iv))
    for series, got in zip(HOST_SERIES, after):
        missing = sorted(want - got)
        assert not missing, "%s: no point in windows %r (flood %d..%d)" % (
            series, missing, int(t0), int(t_sent))

    hwm = vm_hwm_kib(m.proc.pid) / 1024.0
    def shipped():
        t = sum(v for s in vm.export("meterd.aggregator.context_limit_drops") for v in s["values"])
        return t if t >= sent - LIMIT else None
    total = wait_until(shipped, 2 * iv + 10, "meterd.aggregator.context_limit_drops in the backend",
                       interval=1)
    log = m.proc.output()
    first = log.count("dogstatsd_context_limit reached: %d live DogStatsD contexts" % LIMIT)
    minutely = log.count("dogstatsd_context_limit (%d):" % LIMIT)
    elapsed = time.time() - t0
    print("  VmHWM %.1f MiB (budget %d); windows %d..%d all hold host metrics; telemetry total %d; "
          "log: %d first-hit line(s), %d per-minute line(s) in %.0fs" % (
              hwm, RSS_BUDGET_MIB, w_first, w_last, total, first, minutely, elapsed))
    assert total == sent - LIMIT, (total, sent - LIMIT)
    assert hwm < RSS_BUDGET_MIB, "VmHWM %.1f MiB over the %d MiB budget" % (hwm, RSS_BUDGET_MIB)
    assert first == 1, "%d first-hit lines" % first
    assert minutely <= int(elapsed // 60), "%d per-minute lines in %.0fs" % (minutely, elapsed)
    assert "collector_context_limit" not in log and "collector point dropped" not in log
    assert "flood-secret-key" not in log
    # The delivery ledger adds up, and names the same drops in its own terms.
    led = ledger_adds_up(m)
    assert led["intake"]["dropped"]["context_limit"] == sent - LIMIT, led["intake"]


if __name__ == "__main__":
    sys.exit(run_tests([test_flood_keeps_host_metrics]))

#!/usr/bin/env python3
"""End to end: the delivery ledger adds up, term by term, under an outage and a flood.

A real agent ships to a real VictoriaMetrics. In the outage, the backend is
stopped (SIGTERM, it keeps its data) while counters flow, then started again:
the intake half must say every sample was aggregated, the forwarder half that
every item handed over was shipped (none queued, spooled, dropped), and
VictoriaMetrics must hold every increment exactly once. The identity is also
checked at every poll during the outage, while items sit in memory and on disk.
In the flood, more unique names than a small dogstatsd_context_limit, malformed
lines of several reasons, a 70000-byte datagram on the unix socket, a line of
300 tags, a NaN and a blocklisted name arrive over UDP and UDS: every term of
the ledger must equal what was sent, where the names the context limit let in
are the ones VictoriaMetrics received. /metrics and `meterd status` must say
the same, and the agent's own meterd.ledger.* series must reach the backend.
"""
import os
import socket
import subprocess
import time
import urllib.request

from harness import (Meterd, VictoriaMetrics, fwd_sum, http_get, intake_sum, meterd_bin, run_tests,
                     wait_until)

HOST = "ledger-host"
PARSE_REASONS = ["no_type_separator", "no_value_separator", "empty_name", "empty_value",
                 "bad_type", "bad_value", "bad_sample_rate", "bad_timestamp", "bad_event_header",
                 "bad_event_length", "bad_service_check", "bad_service_check_status",
                 "truncated_datagram", "unterminated_line", "line_too_long"]
DROP_REASONS = ["blocked", "too_many_tags", "nonfinite", "context_limit", "timestamp_type",
                "no_memory", "ring_full", "reparse"]
FWD_DROPS = ["rejected", "too_big", "queue_full", "shutdown", "invalid", "unconfigured", "evicted",
             "corrupt"]


def start(d, vm, **settings):
    base = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": "ledger-secret-key-1234",
            "forwarder_backoff_base": 1, "flush_interval": 1}
    base.update(settings)
    return Meterd(d, base)


def ledger(m):
    return m.status()["ledger"]


def assert_balanced(led):
    i, f = led["intake"], led["forwarder"]
    assert sorted(i["rejected"]) == sorted(PARSE_REASONS), i["rejected"]
    assert sorted(i["dropped"]) == sorted(DROP_REASONS), i["dropped"]
    assert sorted(f["dropped"]) == sorted(FWD_DROPS), f["dropped"]
    assert i["received"] == intake_sum(i) and i["balanced"], i
    assert f["handed"] + f["recovered"] == fwd_sum(f) and f["balanced"], f


def settled(m):
    """The ledger once nothing is in transit, queued, in flight or on disk."""
    def ok():
        led = ledger(m)
        f = led["forwarder"]
        idle = (led["intake"]["in_transit"] == 0 and f["queued"] == 0 and f["inflight"] == 0 and
                f["on_disk"] == 0)
        return led if idle else None
    return wait_until(ok, 30, "the ledger to settle")


def counts(vm, match):
    """{name: sum of increments} over every series matching `match` (counts ship as rates)."""
    out = {}
    for s in vm.export(match):
        name = s["metric"]["__name__"]
        out[name] = out.get(name, 0) + round(sum(s["values"]))  # flush_interval 1: rate == count
    return out


FILL = 10  # unique counters per datagram: payloads big enough to spill to the disk spool


def test_outage_ledger_adds_up(d):
    vm = VictoriaMetrics(d)
    # The smallest memory queue: the outage's payloads go to the spool too.
    m = start(d, vm, forwarder_retry_queue_payloads_max_size=65536)
    sent = 0
    seen_queued = seen_on_disk = False

    def flow(seconds, check):
        nonlocal sent, seen_queued, seen_on_disk
        t_end = time.time() + seconds
        while time.time() < t_end:
            fill = "".join("\nledger.fill:1|c|#id:%s" % os.urandom(12).hex() for _ in range(FILL))
            m.send("ledger.out:1|c" + fill)
            sent += 1
            if sent % 10 == 0 and check:
                led = ledger(m)
                assert_balanced(led)  # at every moment, not only when idle
                f = led["forwarder"]
                seen_queued |= f["queued"] + f["inflight"] > 0
                seen_on_disk |= f["on_disk"] > 0
            time.sleep(0.02)

    flow(3, False)
    vm.stop()
    flow(8, True)
    m.wait_received(sent)
    assert seen_queued and seen_on_disk, "queued %s, on disk %s" % (seen_queued, seen_on_disk)
    vm.restart()
    wait_until(lambda: counts(vm, '{__name__="ledger.out"}').get("ledger.out", 0) >= sent, 30,
               "every increment after the restart")
    led = settled(m)
    assert_balanced(led)
    i, f = led["intake"], led["forwarder"]
    assert i["received"] == sent * (1 + FILL) and i["aggregated"] == sent * (1 + FILL), i
    assert all(v == 0 for v in i["rejected"].values()), i
    assert all(v == 0 for v in i["dropped"].values()), i
    assert i["datagrams"]["received"] == sent and i["datagrams"]["kernel_drops"] == 0, i
    assert f["recovered"] == 0 and f["shipped"] == f["handed"] > 0, f
    assert all(v == 0 for v in f["dropped"].values()), f
    got = counts(vm, '{__name__="ledger.out"}')["ledger.out"]
    assert got == sent, (got, sent)
    # The agent's own series: the ledger's received count reaches the backend too.
    wait_until(lambda: counts(vm, '{__name__="meterd.ledger.received"}').get(
        "meterd.ledger.received", 0) == sent * (1 + FILL), 20, "meterd.ledger.received")
    m.stop()


def uds_send(path, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.connect(path)
    s.send(payload)
    s.close()


def metrics_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    raise AssertionError("no %s in /metrics" % name)


def test_flood_every_term_exact(d):
    vm = VictoriaMetrics(d)
    sock = os.path.join(d, "dsd.sock")
    limit = 200
    m = start(d, vm, dogstatsd_socket=sock, dogstatsd_context_limit=limit,
              statsd_metric_blocklist="ledger.blocked")
    unique = 600  # names past the limit (the host's own series have a budget of their own)
    tags300 = ",".join("t%d:v" % i for i in range(300))
    udp = []
    for i in range(0, unique, 20):
        udp.append("\n".join("ledger.u%d:1|c" % k for k in range(i, i + 20)))
    udp += ["bad\nbad\nbad",                  # no_type_separator x3
            "x:1|q\ny:1|zz",                  # bad_type x2
            ":1|c",                           # empty_name
            "z:abc|c",                        # bad_value
            "r:1|c|@x",                       # bad_sample_rate
            "ledger.tags:1|c|#" + tags300,    # too_many_tags
            "ledger.nan:nan|g",               # nonfinite
            "ledger.blocked:1|c\nledger.blocked:1:2|c",  # blocked x3 (packed counts each)
            "ledger.big:1|c|#" + "b" * 9000]  # longer than dogstatsd_buffer_size: truncated
    m.send(*udp)
    uds_send(sock, b"ledger.uds:1|c|#" + b"a" * (70000 - 16))  # 70000 bytes: truncated
    uds_send(sock, ("ledger.tags:1|c|#" + tags300).encode())    # too_many_tags
    uds_send(sock, b"ledger.h:1|h|T%d" % int(time.time()))      # |T on a histogram
    datagrams = len(udp) + 3
    m.wait_received(datagrams)
    parsed = unique + 2 + 3 + 1 + 1  # names, tags x2, blocked x3 (packed), nan, |T histogram
    want_rejected = dict.fromkeys(PARSE_REASONS, 0)
    want_rejected.update(no_type_separator=3, bad_type=2, empty_name=1, bad_value=1,
                         bad_sample_rate=1, truncated_datagram=2)
    received = parsed + sum(want_rejected.values())
    wait_until(lambda: (lambda i: i["received"] == received and i["in_transit"] == 0)(
        ledger(m)["intake"]), 10, "%d samples through the rings" % received)
    aggregated = ledger(m)["intake"]["aggregated"]
    # The names the context limit let in are the ones that reach the backend.
    names = '{__name__=~"ledger[.]u[0-9]+"}'
    wait_until(lambda: len(counts(vm, names)) >= aggregated, 30, "%d names at the backend" % aggregated)
    led = settled(m)
    admitted = counts(vm, names)
    assert len(admitted) == aggregated and all(v == 1 for v in admitted.values()), admitted
    assert aggregated == limit, aggregated
    # ledger.tags, ledger.nan, ledger.blocked and ledger.h are dropped before
    # the context table, and the truncated lines never parse: every name past
    # the limit is one of the flood's.
    want_dropped = dict.fromkeys(DROP_REASONS, 0)
    want_dropped.update(blocked=3, too_many_tags=2, nonfinite=1, timestamp_type=1,
                        context_limit=unique - aggregated)
    i = led["intake"]
    assert i["rejected"] == want_rejected, i["rejected"]
    assert i["dropped"] == want_dropped, i["dropped"]
    assert i["aggregated"] == aggregated and i["received"] == received, i
    assert i["in_transit"] == 0 and i["balanced"], i
    assert i["datagrams"]["received"] == datagrams and i["datagrams"]["kernel_drops"] == 0, i
    assert_balanced(led)
    f = led["forwarder"]
    assert f["shipped"] == f["handed"] and all(v == 0 for v in f["dropped"].values()), f
    # The agent's own series carry the drops to the backend, by reason.
    tel = '{__name__="meterd.ledger.dropped"}'
    wait_until(lambda: {s["metric"].get("reason"): round(sum(s["values"])) for s in vm.export(tel)}
               == {r: v for r, v in want_dropped.items() if v}, 20, "meterd.ledger.dropped by reason")
    # /metrics says the same.
    text = http_get(m.status_url + "/metrics")[1]
    assert metrics_value(text, "meterd_ledger_received_total") == i["received"]
    assert metrics_value(text, "meterd_ledger_aggregated_total") == i["aggregated"]
    for r, v in want_dropped.items():
        assert metrics_value(text, 'meterd_ledger_dropped_total{reason="%s"}' % r) == v, r
    for r, v in want_rejected.items():
        assert metrics_value(text, 'meterd_ledger_rejected_total{reason="%s"}' % r) == v, r
    assert metrics_value(text, 'meterd_ledger_balanced{half="intake"}') == 1
    # `meterd status` prints the table and says both halves add up.
    out = subprocess.run([meterd_bin(), "status", "--set", "status_port=%d" % m.status_port],
                         capture_output=True, text=True, timeout=20).stdout
    assert "Delivery ledger" in out and out.count("Adds up: yes") == 2, out[-3000:]
    assert "context_limit" in out and "truncated_datagram" in out, out[-3000:]
    assert "ledger-secret-key-1234" not in out and "ledger-secret-key-1234" not in text
    m.stop()


if __name__ == "__main__":
    raise SystemExit(run_tests([test_outage_ledger_adds_up, test_flood_every_term_exact]))

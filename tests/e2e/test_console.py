#!/usr/bin/env python3
"""End to end: the console sink's headers on a real agent.

A window of 20,000 series reaches the sinks in parts (the aggregator hands
a big seal over 8192 series at a time). Its console output must state
exact counts: a header per part with the number of series lines under it,
and after the last part the window's total, equal to those lines; no
`series=N+` guesses. The last window, sealed by SIGTERM, comes in parts
too, its total printed last. A small window keeps its one header.
"""
import re

from harness import Meterd, avoid_window_edge, run_tests, wait_until

N = 20000
INTERVAL = 10
HEADER = re.compile(r"^=== (\S+) interval=(\d+)s(?: part=(\d+))? series=(\d+) "
                    r"sketches=\d+ events=\d+ checks=\d+$")
TOTAL = re.compile(r"^=== (\S+) interval=(\d+)s series=(\d+) in (\d+) parts$")


def datagrams(names, limit=8000):
    """Lines packed into datagrams under the agent's 8 KiB buffer."""
    out, cur = [], ""
    for n in names:
        line = n + ":1|c"
        if cur and len(cur) + 1 + len(line) > limit:
            out.append(cur)
            cur = ""
        cur = cur + "\n" + line if cur else line
    if cur:
        out.append(cur)
    return out


def windows(text):
    """{window start: {"parts": [(part, count, lines)], "total": (series, parts), "single": ...}}"""
    wins, cur = {}, None
    for line in text.splitlines():
        m, t = HEADER.match(line), TOTAL.match(line)
        if m:
            w = wins.setdefault(m.group(1), {"parts": [], "total": None, "single": []})
            cur = [int(m.group(3) or 0), int(m.group(4)), 0]
            (w["parts"] if m.group(3) else w["single"]).append(cur)
        elif t:
            wins.setdefault(t.group(1), {"parts": [], "total": None, "single": []})["total"] = \
                (int(t.group(3)), int(t.group(4)))
            cur = None
        elif cur is not None and re.match(r"^\d{4}-\d\d-\d\dT", line):
            cur[2] += 1
    return wins


def test_big_window_exact_counts(d):
    m = Meterd(d, settings={"sinks": "console", "flush_interval": INTERVAL})
    # All of it in one window: start right after a window boundary (sending takes well under 1 s).
    avoid_window_edge(INTERVAL, margin=4)
    names = ["e2e.console.c%d" % i for i in range(N)]
    dgrams = datagrams(names)
    m.send(*dgrams)
    m.wait_received(len(dgrams))

    def total_line():
        text = m.proc.output()
        return text if any(w["total"] for w in windows(text).values()) else None
    text = wait_until(total_line, 3 * INTERVAL, "a window in parts with its total")
    wins = windows(text)
    big = [(k, w) for k, w in wins.items() if w["total"]]
    assert len(big) == 1, wins
    start, w = big[0]
    series, nparts = w["total"]
    assert nparts == len(w["parts"]) >= 2, w
    assert [p[0] for p in w["parts"]] == list(range(1, nparts + 1)), w
    for part, count, lines in w["parts"]:
        assert count == lines, (part, count, lines)
    assert series == sum(p[2] for p in w["parts"]), w
    got = [l for l in text.splitlines() if l.startswith(start + " e2e.console.c")]
    assert len(got) == N and series >= N, (len(got), series)
    assert "+" not in "".join(l for l in text.splitlines() if l.startswith("=== ")), text[:2000]


def test_last_window_at_shutdown_in_parts_with_its_total(d):
    """SIGTERM with a big window open: the stop seals it in parts, as a flush
    does (not whole), and its total is the last thing printed."""
    m = Meterd(d, settings={"sinks": "console", "flush_interval": 60})
    # All of it in the open window, sealed only by the stop.
    avoid_window_edge(60, margin=10)
    names = ["e2e.console.stop%d" % i for i in range(N)]
    dgrams = datagrams(names)
    m.send(*dgrams)
    m.wait_received(len(dgrams))
    assert m.stop() == 0
    with open(m.proc.log_path, errors="replace") as f:
        text = f.read()
    # The stop's frame is the last total printed. It is named by the oldest
    # window it holds: a stop right after a window boundary seals that window
    # and the new one together, each series keeping its own timestamp.
    lines = text.splitlines()
    start = [TOTAL.match(l).group(1) for l in lines if TOTAL.match(l)][-1]
    w = windows(text)[start]
    assert w["total"] and w["single"] == [], w
    series, nparts = w["total"]
    assert nparts == len(w["parts"]) >= 2, w
    for part, count, lines_under in w["parts"]:
        assert count == lines_under, (part, count, lines_under)
    assert series == sum(p[2] for p in w["parts"]) >= N, w
    first = next(i for i, l in enumerate(lines) if HEADER.match(l) and l.startswith("=== " + start))
    got = [i for i, l in enumerate(lines) if " e2e.console.stop" in l]
    assert len(got) == N and min(got) > first, (len(got), first, got[:1])
    shown = [l for l in text.splitlines()
             if l.startswith("=== ") or re.match(r"^\d{4}-\d\d-\d\dT", l)]
    assert TOTAL.match(shown[-1]) and shown[-1].startswith("=== " + start), shown[-3:]


def test_small_window_one_header(d):
    m = Meterd(d, settings={"sinks": "console", "flush_interval": 2})
    m.send("e2e.console.small:1|c\ne2e.console.small2:2|g")
    m.wait_received(1)

    def small():
        text = m.proc.output()
        return text if "e2e.console.small2" in text else None
    text = wait_until(small, 10, "the small window on the console")
    wins = windows(text)
    start = next(l.split(" ")[0] for l in text.splitlines() if " e2e.console.small2" in l)
    w = wins[start]
    assert w["parts"] == [] and w["total"] is None and len(w["single"]) == 1, w
    _, count, lines = w["single"][0]
    assert count == lines >= 2, w["single"]


if __name__ == "__main__":
    raise SystemExit(run_tests([test_big_window_exact_counts,
                                test_last_window_at_shutdown_in_parts_with_its_total,
                                test_small_window_one_header]))

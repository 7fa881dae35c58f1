#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (tests/fuzz/corpus/) from the protocol corpus.

Each seed is one mode byte (the options fuzz_parse.c reads from it) and one
datagram: every input of tests/corpus/dogstatsd_cases.json (aggregation cases
contribute each of their datagrams), under the mode its case's config implies,
plus a few long and packed lines the cases do not have. Run it again after
the protocol corpus changes; the seeds are committed.
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "corpus", "dogstatsd_cases.json")
OUT = os.path.join(HERE, "corpus")


def mode_of(case):
    cfg = case.get("config") or {}
    m = 2  # no_aggregation_pipeline (timestamps accepted), as the agent's default
    if cfg.get("dogstatsd_origin_detection_client"):
        m |= 1
    if case.get("etsy") or cfg.get("statsd_mode") == "etsy":
        m |= 4
    return m


def inputs(case):
    inp = case["input"]
    if isinstance(inp, list):
        return [i.replace("\\n", "\n") for i in inp]
    return [inp]


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = []
    with open(CASES) as f:
        for case in json.load(f)["cases"]:
            for dgram in inputs(case):
                m = mode_of(case)
                seeds.append(bytes([m]) + dgram.encode())
                seeds.append(bytes([m | 32]) + dgram.encode())  # the intake's lazy tags
    tags = ",".join("tag%d:value%d" % (i, i) for i in range(40))
    seeds += [
        b"\x22" + ("a" * 61 + ":1|c").encode(),
        b"\x22" + ("m:1|c|#" + tags).encode(),
        b"\x22" + ("m:" + ":".join(["1.5"] * 300) + "|h|@0.5|#env:prod").encode(),
        b"\x2a" + b"m:1|c\nn:2|g\n" * 50,
    ]
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(s)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()

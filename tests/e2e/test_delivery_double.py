#!/usr/bin/env python3
"""End to end: meterd against a local HTTP double, for answers no real backend gives.

VictoriaMetrics and Prometheus never answer 403, never take longer than a
timeout on purpose, do not serve TLS with a self-signed certificate here,
and VictoriaMetrics 1.79 accepts invalid UTF-8 in JSON. This double (a
Python HTTP(S) server on loopback, documented as a stand-in) does: it
inflates and parses every body with a strict UTF-8 JSON parser (400 on
failure, as a strict intake does), and answers from a per-test script.
"""
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import ledger_adds_up, run_tests, shipping_agent, wait_until

HOST = "e2e-host"
KEY = "e2e-double-key-abcdef123456"


class Double:
    """Records parsed series; script(n) gives (status, delay_s) for request n."""

    def __init__(self, script=lambda n: (202, 0), certdir=None):
        self.script = script
        self.requests = []  # (status answered, parsed JSON or None, raw body)
        self.lock = threading.Lock()
        me = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with me.lock:
                    n = len(me.requests)
                status, delay = me.script(n)
                time.sleep(delay)
                doc = None
                try:
                    body = zlib.decompress(raw) if self.headers.get("Content-Encoding") == "deflate" else raw
                    doc = json.loads(body.decode("utf-8", errors="strict"))
                except (ValueError, zlib.error):
                    status = 400  # a strict intake refuses the whole payload
                with me.lock:
                    me.requests.append((status, doc, raw))
                out = b'{"status":"ok"}' if status < 300 else b'{"errors":["refused"]}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent gave up (timeout): what a slow backend sees too

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        scheme = "http"
        if certdir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(certdir, "cert.pem"), os.path.join(certdir, "key.pem"))
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.srv.server_address[1])
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def series(self):
        with self.lock:
            return [s for st, doc, _ in self.requests if st < 300 and doc for s in doc.get("series", [])]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def agent(d, double, **settings):
    return shipping_agent(d, double.url, HOST, KEY, **settings)


def fwd(m):
    return m.status()["forwarder"]


def test_strict_utf8_json_accepts_every_payload(d):
    dbl = Double()
    try:
        m = agent(d, dbl)
        m.send(b"bad\xff\xfename:1|g|#t:\xc3", b"good.name:2|g")
        got = wait_until(lambda: {s["metric"] for s in dbl.series()} >= {"good.name", "bad\ufffd\ufffdname"},
                         15, "both series at the strict double")
        assert all(st < 300 for st, _, _ in dbl.requests), [r[0] for r in dbl.requests]
        bad = [s for s in dbl.series() if s["metric"].startswith("bad")][0]
        assert bad["tags"] == ["t:\ufffd"], bad
        led = ledger_adds_up(m)  # replaced, not dropped: nothing rejected, nothing dropped
        assert not any(led["intake"]["rejected"].values()), led["intake"]
        assert not any(led["forwarder"]["dropped"].values()), led["forwarder"]
    finally:
        dbl.close()


def test_403_dropped_counted_not_retried(d):
    dbl = Double(lambda n: (403, 0))
    try:
        m = agent(d, dbl)
        m.send("x.gauge:1|g")
        f = wait_until(lambda: (lambda f: f if f["dropped"]["rejected"] >= 1 else None)(fwd(m)), 15,
                       "a rejected payload")
        assert f["retries"] == 0 and f["last_status"] == 403, f
        out = m.proc.output()
        assert "HTTP 403" in out and KEY not in out
        led = ledger_adds_up(m)
        assert led["forwarder"]["dropped"]["rejected"] >= 1, led["forwarder"]
    finally:
        dbl.close()


def test_500_then_200_delivered(d):
    dbl = Double(lambda n: (500, 0) if n < 2 else (202, 0))
    try:
        m = agent(d, dbl)
        m.send("r.gauge:7|g")
        wait_until(lambda: any(s["metric"] == "r.gauge" for s in dbl.series()), 20, "the retried payload")
        assert fwd(m)["retries"] >= 2
        led = ledger_adds_up(m)
        assert not any(led["forwarder"]["dropped"].values()), led["forwarder"]
    finally:
        dbl.close()


def test_answer_slower_than_timeout_retried(d):
    dbl = Double(lambda n: (202, 3) if n == 0 else (202, 0))
    try:
        m = agent(d, dbl, forwarder_timeout=1)
        m.send("slow.gauge:3|g")
        wait_until(lambda: fwd(m)["errors"] >= 1, 15, "a timed-out request")
        wait_until(lambda: fwd(m)["payloads_sent"] >= 1, 20, "the payload after the timeout")
        led = ledger_adds_up(m)
        assert not any(led["forwarder"]["dropped"].values()), led["forwarder"]
    finally:
        dbl.close()


def test_self_signed_tls_refused_unless_configured(d):
    certs = os.path.join(d, "certs")
    os.makedirs(certs)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", os.path.join(certs, "key.pem"), "-out", os.path.join(certs, "cert.pem")],
                   check=True, capture_output=True)
    dbl = Double(certdir=certs)
    try:
        m = agent(d, dbl)
        m.send("tls.gauge:1|g")
        f = wait_until(lambda: (lambda f: f if f["errors"] >= 1 else None)(fwd(m)), 15, "a TLS failure")
        assert f["payloads_sent"] == 0 and not dbl.requests, (f, dbl.requests)
        assert "SSL" in m.proc.output() or "certificate" in m.proc.output()
        ledger_adds_up(m)  # the refused payload is still held (queued or on disk), not lost
        m.stop()
        os.makedirs(os.path.join(d, "second"))
        m2 = agent(os.path.join(d, "second"), dbl, skip_ssl_validation="true")
        m2.send("tls.gauge:2|g")
        wait_until(lambda: any(s["metric"] == "tls.gauge" for s in dbl.series()), 15,
                   "delivery once verification is off")
    finally:
        dbl.close()


if __name__ == "__main__":
    sys.exit(run_tests([test_strict_utf8_json_accepts_every_payload,
                        test_403_dropped_counted_not_retried,
                        test_500_then_200_delivered,
                        test_answer_slower_than_timeout_retried,
                        test_self_signed_tls_refused_unless_configured]))

#!/usr/bin/env python3
"""A recording stand-in for Datadog's intake, for meterd's end-to-end tests.

VictoriaMetrics 1.79 (the real backend the other e2e tests read series back
from) accepts /datadog/api/v1/check_run and /datadog/intake but throws the
service checks and events away, so those payloads cannot be checked there.
This server takes their place: it listens on a free loopback port, records
every request (method, path, headers, body inflated when Content-Encoding is
deflate, gzip or zstd, parsed JSON when it parses) and answers 202 like the intake.
A body that says it is compressed but does not inflate is recorded with
`error` set and answered 400, as a real receiver would refuse it.

For the 413 tests it can also answer 413 to every body larger than
`max_body` bytes (as sent, compressed), as Datadog's intake does above its
limits and no real backend here does (VictoriaMetrics answers 400); such
requests are recorded with status 413. `decode(path, body)`, when given,
turns an inflated body into `rec["decoded"]` (the protobuf payloads:
MetricPayload, SketchPayload, WriteRequest; see pb_payloads.py). Snappy
bodies (remote write) are inflated by the small block decoder below.

In-process use (tests): `with CaptureServer() as cap:` then point dd_url at
cap.url and read cap.requests() / cap.wait_for(path, n, timeout).
Standalone use: `python3 capture_server.py [PORT]` prints the URL, and
GET /_captured returns everything recorded so far as a JSON list.
"""
import gzip
import http.server
import json
import socketserver
import subprocess
import sys
import threading
import time
import zlib


def snappy_block(raw):
    """Decode one snappy block (the format remote write uses); raises ValueError if corrupt."""
    n, shift, i = 0, 0, 0
    while True:  # the uncompressed length, a varint
        b = raw[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    out = bytearray()
    while i < len(raw):
        tag = raw[i]
        i += 1
        kind = tag & 3
        if kind == 0:  # literal
            ln = tag >> 2
            if ln >= 60:
                extra = ln - 59
                ln = int.from_bytes(raw[i:i + extra], "little")
                i += extra
            ln += 1
            out += raw[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln, off = 4 + ((tag >> 2) & 7), ((tag >> 5) << 8) | raw[i]
            i += 1
        elif kind == 2:
            ln, off = (tag >> 2) + 1, int.from_bytes(raw[i:i + 2], "little")
            i += 2
        else:
            ln, off = (tag >> 2) + 1, int.from_bytes(raw[i:i + 4], "little")
            i += 4
        if off == 0 or off > len(out):
            raise ValueError("snappy: bad copy offset")
        for _ in range(ln):  # copies may overlap their own output
            out.append(out[-off])
    if len(out) != n:
        raise ValueError("snappy: %d bytes, header said %d" % (len(out), n))
    return bytes(out)


def zstd_frame(raw):
    """Decode one zstd frame (what the Datadog agent sends by default); raises ValueError if corrupt.

    python3-zstandard (Debian) when this python can load it, else the zstd CLI.
    A streamed frame has no content size in its header, so both decode it as a
    stream rather than with a one-shot call that needs the size."""
    try:
        try:
            import zstandard
        except ImportError:  # a python3 of its own (pyenv ...): use Debian's python3-zstandard
            sys.path.append("/usr/lib/python3/dist-packages")
            import zstandard
    except ImportError:
        r = subprocess.run(["zstd", "-dcq"], input=raw, capture_output=True)
        if r.returncode != 0:
            raise ValueError("zstd: %s" % r.stderr.decode(errors="replace").strip())
        return r.stdout
    try:
        d = zstandard.ZstdDecompressor().decompressobj()
        out = d.decompress(raw)
    except zstandard.ZstdError as e:
        raise ValueError("zstd: %s" % e)
    if not d.eof or d.unused_data:
        raise ValueError("zstd: not exactly one whole frame")
    return out


def _inflate(encoding, raw):
    enc = (encoding or "").strip().lower()
    if enc == "zstd":
        return zstd_frame(raw)
    if enc == "deflate":
        return zlib.decompress(raw)  # zlib stream (RFC 1950), what the Datadog agent sends
    if enc == "gzip":
        return gzip.decompress(raw)
    if enc == "snappy":
        return snappy_block(raw)
    return raw


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def _reply(self, code, body=b'{"status":"ok"}', ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            for _ in range(1 << 20):  # bounded: a chunk per iteration
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _record(self):
        raw = self._read_body()
        cap = self.server.capture
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "raw_len": len(raw), "body": None, "json": None, "decoded": None, "error": None,
               "status": 202, "time": time.time()}
        if cap.max_body is not None and len(raw) > cap.max_body:
            rec["status"] = 413  # still decoded below, so a test can see what was refused
        try:
            body = _inflate(self.headers.get("Content-Encoding"), raw)
            rec["body"] = body.decode("utf-8", errors="replace")
            try:
                rec["json"] = json.loads(rec["body"]) if rec["body"] else None
            except ValueError:
                pass
            if cap.decode:
                rec["decoded"] = cap.decode(self.path, body)
        except (zlib.error, OSError, EOFError, ValueError, IndexError) as e:
            rec["error"] = "cannot read %s body: %s" % (self.headers.get("Content-Encoding"), e)
        if rec["error"]:
            rec["status"] = 400
        cap._add(rec)
        if rec["status"] == 413:
            self._reply(413, b'{"errors":["Payload too large"]}')
        else:
            self._reply(rec["status"])

    def do_GET(self):
        if self.path == "/_captured":
            body = json.dumps(self.server.capture.requests()).encode()
            self._reply(200, body)
            return
        self._record()

    do_POST = do_PUT = _record


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class CaptureServer:
    """Threaded HTTP server on 127.0.0.1 that records requests; stop() or use as a context."""

    def __init__(self, port=0, max_body=None, decode=None):
        self.max_body = max_body
        self.decode = decode
        self._lock = threading.Lock()
        self._reqs = []
        self._srv = _Server(("127.0.0.1", port), _Handler)
        self._srv.capture = self
        self.port = self._srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="capture-server", daemon=True)
        self._thread.start()

    def _add(self, rec):
        with self._lock:
            self._reqs.append(rec)

    def requests(self, path=None):
        """Copies of the recorded requests, optionally only those whose path starts with `path`."""
        with self._lock:
            return [dict(r) for r in self._reqs if path is None or r["path"].startswith(path)]

    def wait_for(self, path, count=1, timeout=25, interval=0.05):
        """Block until at least `count` requests to `path` arrived; raise AssertionError on timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.requests(path)
            if len(got) >= count:
                return got
            time.sleep(interval)
        seen = sorted({r["path"] for r in self.requests()})
        raise AssertionError("timed out after %.1fs waiting for %d request(s) to %s (paths seen: %r)"
                             % (timeout, count, path, seen))

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    cap = CaptureServer(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(cap.url, flush=True)
    try:
        cap._thread.join()
    except KeyboardInterrupt:
        cap.stop()

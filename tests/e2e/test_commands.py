#!/usr/bin/env python3
"""End to end: the operator's commands against a real running meterd and a real backend.

- `meterd status` is a readable report in the Datadog agent's layout (sections,
  checks with their last run), `--json` the raw document.
- `meterd config` prints the effective config with the API key redacted and the
  checks that would run.
- `meterd diagnose` passes against VictoriaMetrics with meterd holding its
  ports, fails on an unreachable backend and on a backend that rejects the key.
- `meterd flare` writes a .tar.gz with config, status, logs and versions; no
  member holds the API key or URL credentials, even from a log file that does.
- --help of each command.
Nothing any command prints holds the API key.
"""
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading

from harness import Meterd, VictoriaMetrics, free_port, meterd_bin, run_tests, wait_until

HOST = "e2e-commands"
KEY = "e2ecmdsKEY0123456789abcdef"


def start(d, **settings):
    vm = VictoriaMetrics(d)
    base = {"dd_url": vm.url + "/datadog", "hostname": HOST, "api_key": KEY, "flush_interval": 2}
    base.update(settings)
    m = Meterd(d, settings=base)
    m.settings = base
    return vm, m


def cli(m, *args, extra_sets=()):
    """Run `meterd ARGS` against meterd m's config (same file and --set as it runs with)."""
    argv = [meterd_bin()] + list(args) + ["-c", m.config_path,
                                          "--set", "status_port=%d" % m.status_port,
                                          "--set", "dogstatsd_port=%d" % m.statsd_port]
    for k, v in m.settings.items():
        argv += ["--set", "%s=%s" % (k, v)]
    for kv in extra_sets:
        argv += ["--set", kv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert KEY not in p.stdout and KEY not in p.stderr, "the API key was printed by %r" % (args,)
    return p


def test_status_readable(d):
    vm, m = start(d)
    m.send("cmds.ping:1|c")
    m.wait_received(1)
    wait_until(lambda: any(c["runs"] >= 1 for c in m.status()["collectors"] if c["name"] == "cpu"), 20,
               "a cpu run")
    p = cli(m, "status")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for want in ("meterd (v", "Hostname: " + HOST, "Collector", "Running Checks", "cpu (instance 0)",
                 "Instance ID: cpu:0 [OK]", "Last Execution Date: 20", "Forwarder", "Transactions",
                 "DogStatsD", "Packets: 1 ", "Aggregator"):
        assert want in out, "%r missing from:\n%s" % (want, out)
    assert "{" not in out, out
    p = cli(m, "status", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["hostname"] == HOST


def test_config_redacted(d):
    vm, m = start(d)
    p = cli(m, "config")
    assert p.returncode == 0, p.stderr
    assert "api_key: \"" in p.stdout and KEY[-4:] in p.stdout, p.stdout[:2000]
    assert "checks:" in p.stdout and "- name: cpu" in p.stdout, p.stdout[-2000:]


class Reject(http.server.BaseHTTPRequestHandler):
    """A backend that refuses every API key (a real HTTP server on loopback)."""

    def do_GET(self):
        body = b'{"errors":["Forbidden"]}'
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_diagnose(d):
    vm, m = start(d)
    p = cli(m, "diagnose")
    assert p.returncode == 0, p.stdout + p.stderr
    for want in ("[OK  ] config", "[OK  ] conf.d", "[OK  ] datadog backend", "[OK  ] api key",
                 "is held by the running meterd", "All checks passed."):
        assert want in p.stdout, "%r missing from:\n%s" % (want, p.stdout)
    # nothing listening: the backend check fails
    dead = free_port()
    p = cli(m, "diagnose", extra_sets=["dd_url=http://u:pw@127.0.0.1:%d" % dead])
    assert p.returncode == 1 and "[FAIL] datadog backend" in p.stdout, p.stdout
    assert "u:pw" not in p.stdout, p.stdout
    # a backend that answers 403: the key is rejected
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Reject)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        p = cli(m, "diagnose", extra_sets=["dd_url=http://127.0.0.1:%d" % srv.server_address[1]])
    finally:
        srv.shutdown()
        srv.server_close()
    assert p.returncode == 1 and "[FAIL] api key" in p.stdout and "rejected" in p.stdout, p.stdout


def test_flare_has_no_secret(d):
    vm, m = start(d)
    wait_until(lambda: m.status()["collectors"], 10, "status")
    # a log file that does hold secrets (a crash dump, a shell trace): scrubbed on the way in
    leaky = os.path.join(d, "leaky.log")
    with open(leaky, "w") as f:
        f.write("DD_API_KEY=%s\napi_key: %s\nposting to https://bob:hunter2@proxy.example/ with %s\n"
                % (KEY, KEY, KEY))
    out = os.path.join(d, "flare.tar.gz")
    p = cli(m, "flare", "--log", m.proc.log_path, "--log", leaky, "-o", out)
    assert p.returncode == 0 and p.stdout.strip() == out, p.stdout + p.stderr
    with tarfile.open(out, "r:gz") as t:
        names = t.getnames()
        for want in ("config.yaml", "configcheck.txt", "status.json", "status.txt", "versions.txt",
                     "environment.txt", "logs/meterd.log", "logs/leaky.log"):
            assert "meterd-flare/" + want in names, (want, names)
        for member in t.getmembers():
            data = t.extractfile(member).read()
            assert KEY.encode() not in data, "the API key is in %s" % member.name
            assert b"hunter2" not in data, "URL credentials in %s" % member.name
        status = t.extractfile("meterd-flare/status.txt").read().decode()
        assert "Running Checks" in status, status
        versions = t.extractfile("meterd-flare/versions.txt").read().decode()
        assert versions.startswith("meterd ") and "libcurl" in versions, versions
        leaked = t.extractfile("meterd-flare/logs/leaky.log").read().decode()
        assert "api_key:" in leaked and "proxy.example" in leaked, leaked  # scrubbed, not dropped


def test_help(d):
    for cmd in ("config", "diagnose", "flare"):
        p = subprocess.run([meterd_bin(), cmd, "--help"], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0 and p.stdout.startswith("usage: meterd " + cmd), (cmd, p.stdout, p.stderr)
        p = subprocess.run([meterd_bin(), cmd, "--bogus"], capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (cmd, p.returncode, p.stderr)


if __name__ == "__main__":
    sys.exit(run_tests([test_status_readable, test_config_redacted, test_diagnose,
                        test_flare_has_no_secret, test_help]))

#!/usr/bin/env python3
"""End to end: health_port probes, the status server under idle connections,
and the host name from the ECS agent.

- /live and /ready answer on health_port, on all interfaces, and nothing else
  does there; the loopback status server keeps /status.
- A client holding many idle connections (more than the server's cap of 64)
  must not lock `meterd health` or /ready out: before the fix each idle
  connection held its slot for the 5 s request deadline and health checks
  failed, which would make an orchestrator restart a healthy agent.
- The ECS step of the host name resolver asks the ECS agent's introspection
  API. There is no ECS here, so a small HTTP server on loopback answers as
  the ECS agent does (a test double for what cannot be made real).
"""
import http.server
import json
import os
import socket
import subprocess
import threading
import time

from harness import Meterd, free_port, http_get, meterd_bin, run_tests, wait_until


def listening_addresses(port):
    """Local addresses with a TCP listener on `port`, from /proc/net/tcp{,6}."""
    out = set()
    for name, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(name) as f:
            next(f)
            for line in f:
                cols = line.split()
                addr, p = cols[1].split(":")
                if int(p, 16) == port and cols[3] == "0A":  # LISTEN
                    out.add(addr)
    return out


def test_ready_and_live_on_all_interfaces(d):
    health = free_port()
    m = Meterd(d, settings={"health_port": health})
    base = "http://127.0.0.1:%d" % health
    assert http_get(base + "/ready") == (200, "ok\n")
    assert http_get(base + "/live") == (200, "ok\n")
    try:
        http_get(base + "/status")
        raise AssertionError("/status must not be served on health_port")
    except Exception as e:
        assert "404" in str(e), e
    # All interfaces ("::" dual stack, or 0.0.0.0); the status server stays on loopback.
    assert listening_addresses(health) & {"0" * 32, "00000000"}, listening_addresses(health)
    assert listening_addresses(m.status_port) == {"0100007F"}, listening_addresses(m.status_port)
    # Over IPv6 too when the kernel has it.
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        assert http_get("http://[::1]:%d/ready" % health)[0] == 200


def test_idle_connections_do_not_lock_out_health(d):
    health = free_port()
    m = Meterd(d, settings={"health_port": health})
    idle = []
    try:
        for port in (m.status_port, health):
            for _ in range(100):  # more than the cap of 64 connections
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                idle.append(s)
        # Let the agent accept them all before probing.
        time.sleep(0.3)
        t0 = time.time()
        r = subprocess.run([meterd_bin(), "health", "--set", "status_port=%d" % m.status_port],
                           capture_output=True, text=True, timeout=10)
        took = time.time() - t0
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        assert took < 2.0, "meterd health took %.1fs behind idle connections" % took
        t0 = time.time()
        assert http_get("http://127.0.0.1:%d/ready" % health, timeout=3)[0] == 200
        assert time.time() - t0 < 2.0
        # The idle clients were the ones closed to make room.
        closed = 0
        for s in idle:
            s.settimeout(0.01)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except (socket.timeout, BlockingIOError):
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 2, closed
        # ... and counted.
        metrics = http_get(m.status_url + "/metrics", timeout=3)[1]
        ev = [l for l in metrics.splitlines() if l.startswith("meterd_status_idle_evictions_total ")]
        assert ev and int(ev[0].split()[1]) >= 30, ev
    finally:
        for s in idle:
            s.close()
    assert m.proc.alive()


class FakeEcsAgent(http.server.BaseHTTPRequestHandler):
    """Answers GET /v1/metadata as the ECS container agent's introspection API."""
    body = {}
    hang = False

    def do_GET(self):
        if self.hang:
            time.sleep(5)
            return
        data = json.dumps(self.body).encode()
        self.send_response(200 if self.path == "/v1/metadata" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def meterd_hostname(url, extra_env=None):
    env = dict(os.environ)
    env.pop("DD_HOSTNAME", None)
    env.update({"DOCKER_HOST": "unix:///nonexistent/docker.sock",
                "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc"})
    env.update(extra_env or {})
    t0 = time.time()
    r = subprocess.run([meterd_bin(), "hostname", "--set", "ecs_agent_url=" + url],
                       capture_output=True, text=True, env=env, timeout=10)
    return r, time.time() - t0


def test_hostname_from_ecs_agent(d):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeEcsAgent)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    arn = "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/4f2c6e0d9b1a"
    try:
        FakeEcsAgent.body = {"Cluster": "prod", "ContainerInstanceArn": arn,
                             "EC2InstanceId": "i-0123456789abcdef0"}
        r, _ = meterd_hostname(url)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[:2] == ["i-0123456789abcdef0", "source: ecs"], r.stdout
        # Older ECS agents give no instance id: the container instance id then.
        FakeEcsAgent.body = {"Cluster": "prod", "ContainerInstanceArn": arn}
        r, _ = meterd_hostname(url)
        assert r.stdout.splitlines()[:2] == ["4f2c6e0d9b1a", "source: ecs"], r.stdout
        # The kubelet node name comes first.
        r, _ = meterd_hostname(url, {"DD_KUBERNETES_KUBELET_NODENAME": "node-3"})
        assert r.stdout.splitlines()[:2] == ["node-3", "source: kubernetes_kubelet_nodename"]
        # An ECS agent that accepts but never answers costs a bounded time.
        FakeEcsAgent.hang = True
        r, took = meterd_hostname(url)
        assert "source: os" in r.stdout and "ecs: no answer" in r.stdout, r.stdout
        assert took < 3.0, "hostname took %.1fs with a hung ECS agent" % took
    finally:
        FakeEcsAgent.hang = False
        srv.shutdown()
        srv.server_close()


if __name__ == "__main__":
    raise SystemExit(run_tests([test_ready_and_live_on_all_interfaces,
                                test_idle_connections_do_not_lock_out_health,
                                test_hostname_from_ecs_agent]))

#!/usr/bin/env python3
"""End to end: the meterd image, deployed as the README says, under a real
(private) Docker Engine, shipping to a real VictoriaMetrics on loopback.

The image is built once per source tree (see deploy_docker.py) and shared by
every test here. The `docker run` line is read from the README's Deploy
section and run as written, with three changes a shared test machine needs:
the Docker socket is the private daemon's, the backend URL and API key are
the test's, and the statsd, status and health ports are free ones (the
container uses --network host, so the defaults could clash with other
agents on this machine). Each manifest test reads its manifest and runs its
container spec the same way (same env, mounts, probes), see test_manifests.
"""
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time

import deploy_manifests
from deploy_docker import Dockerd
from harness import ROOT, VictoriaMetrics, free_port, free_udp_tcp_port, http_get, run_tests, wait_until

DOCKER = None  # the private daemon, started once for the whole file
API_KEY = "0123456789abcdef0123456789abcdef"


def readme_docker_run():
    """The README's `docker run` line, as an argv."""
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"^docker run -d --name meterd .*?meterd:latest$", text, re.S | re.M)
    assert m, "README has no 'docker run -d --name meterd ... meterd:latest' line"
    return shlex.split(m.group(0).replace("\\\n", " "))


def localize(argv, vm, ports, extra=()):
    """The README line for this machine: private socket, test backend, free ports."""
    out = []
    for a in argv:
        if a.startswith("/var/run/docker.sock:"):
            a = DOCKER.sock + a[len("/var/run/docker.sock"):]
        elif a.startswith("DD_API_KEY="):
            a = "DD_API_KEY=" + API_KEY
        elif a.startswith("DD_DD_URL="):
            a = "DD_DD_URL=%s/datadog" % vm.url
        out.append(a)
    image = out.pop()
    for k, v in ports.items():
        out += ["-e", "%s=%s" % (k, v)]
    return out[1:] + list(extra) + [image]  # without the leading "docker"


def ports():
    return {"DD_DOGSTATSD_PORT": free_udp_tcp_port(), "METERD_STATUS_PORT": free_port(),
            "DD_HEALTH_PORT": free_port()}


def series(vm, name):
    return vm.export('{__name__="%s"}' % name)


def wait_series(vm, name, pred=lambda s: True, timeout=30):
    return wait_until(lambda: [s for s in series(vm, name) if pred(s)], timeout,
                      "series %s in VictoriaMetrics" % name, interval=0.5)


def health_status(name):
    st = DOCKER.inspect(name)["State"]
    return st.get("Health", {}).get("Status")


def test_readme_docker_run(d):
    vm = VictoriaMetrics(d)
    p = ports()
    dsd = os.path.join(d, "dsd")
    os.makedirs(dsd)
    DOCKER.run("run", "-d", "--name", "workload", "--network", "none", "local/busybox:1",
               "sh", "-c", "while :; do dd if=/dev/zero of=/dev/null bs=64k count=16 2>/dev/null; sleep 1; done")
    argv = readme_docker_run()
    assert "--pid" in argv and "--cgroupns" in argv and "/proc/:/host/proc/:ro" in argv, argv
    DOCKER.run(*localize(argv, vm, p, ["-v", dsd + ":/var/run/datadog"]))
    ready = "http://127.0.0.1:%d/ready" % p["DD_HEALTH_PORT"]
    wait_until(lambda: http_get(ready)[0] == 200, 30, "/ready on health_port")

    # The host's name, from the Docker Engine; the host's /proc.
    host = DOCKER.info_name()
    out = DOCKER.run("exec", "meterd", "meterd", "hostname").stdout.splitlines()
    assert out[:2] == [host, "source: docker"], out
    cfg = DOCKER.run("exec", "meterd", "meterd", "configcheck").stdout
    assert 'procfs_path: "/host/proc"' in cfg, cfg
    assert API_KEY not in cfg and API_KEY not in DOCKER.run("logs", "meterd").stderr

    # statsd over UDP and over the socket in the mounted Datadog folder.
    sock_path = os.path.join(dsd, "dsd.socket")
    wait_until(lambda: os.path.exists(sock_path), 10, "dsd.socket")
    assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o722
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"deploy.udp:3|c|#via:udp", ("127.0.0.1", p["DD_DOGSTATSD_PORT"]))
    x = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    x.sendto(b"deploy.uds:5|c|#via:uds", sock_path)
    u.close()
    x.close()
    on_host = lambda s: s["metric"].get("host") == host
    wait_series(vm, "deploy.udp", on_host)
    wait_series(vm, "deploy.uds", on_host)
    # Host metrics, read through /host/proc, carry the host's name.
    mem = wait_series(vm, "system.mem.total", on_host)
    with open("/proc/meminfo") as f:
        total_mib = int(f.readline().split()[1]) / 1024
    assert abs(mem[0]["values"][-1] - total_mib) < 1, (mem[0]["values"], total_mib)
    wait_series(vm, "system.load.1", on_host)
    wait_series(vm, "system.cpu.user", on_host, timeout=40)  # a rate: needs two runs
    # The busybox workload's own metrics, from its cgroups and named through the socket.
    workload = lambda s: on_host(s) and s["metric"].get("container_name") == "workload"
    mem = wait_series(vm, "container.memory.usage", workload, timeout=45)
    assert 0 < mem[0]["values"][-1] < 256 << 20, mem[0]["values"]
    wait_series(vm, "container.cpu.usage", workload, timeout=45)

    wait_until(lambda: health_status("meterd") == "healthy", 40, "docker health: healthy")

    # docker stop: SIGTERM through tini, and the open window still ships.
    wait_until(lambda: 1.5 < time.time() % 10 < 6, 11, "the start of a window")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"deploy.at_stop:7|c", ("127.0.0.1", p["DD_DOGSTATSD_PORT"]))
    u.close()
    t0 = time.time()
    DOCKER.run("stop", "-t", "20", "meterd")
    took = time.time() - t0
    st = DOCKER.inspect("meterd")["State"]
    assert st["ExitCode"] == 0, st
    assert took < 15, "docker stop took %.1fs" % took
    got = series(vm, "deploy.at_stop")
    assert got and abs(sum(got[0]["values"]) - 0.7) < 1e-9, got  # 7 in a 10 s window
    assert "final flush" in DOCKER.run("logs", "meterd").stderr


def test_container_id_is_never_the_host_name(d):
    """Without --network host the OS host name is the container's id: refused."""
    r = DOCKER.run("run", "--rm", "--network", "none", "meterd:latest", "meterd", "hostname",
                   check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    cid = r.stdout.splitlines()[0]
    assert re.fullmatch(r"[0-9a-f]{12}", cid), r.stdout
    assert "container's own id" in r.stdout and "no usable host name" in r.stderr
    r = DOCKER.run("run", "--rm", "--network", "none", "meterd:latest", "meterd", "run",
                   check=False, timeout=60)
    assert r.returncode == 1 and "cannot tell the host's name" in r.stderr, r.stderr[-500:]
    # With the Docker socket mounted, the engine's name.
    r = DOCKER.run("run", "--rm", "--network", "none", "-v", DOCKER.sock + ":/var/run/docker.sock:ro",
                   "meterd:latest", "meterd", "hostname")
    assert r.stdout.splitlines()[:2] == [DOCKER.info_name(), "source: docker"], r.stdout


def main():
    global DOCKER
    if os.geteuid() != 0:
        print("SKIP: needs root for dockerd\n0 passed, 1 failed")
        return 1
    DOCKER = Dockerd()
    try:
        t0 = time.time()
        DOCKER.meterd_image()
        DOCKER.busybox_image()
        print("image ready in %.0fs" % (time.time() - t0), flush=True)
        deploy_manifests.DOCKER = DOCKER
        tests = [test_readme_docker_run, test_container_id_is_never_the_host_name]
        tests += deploy_manifests.TESTS
        return run_tests(tests)
    finally:
        DOCKER.stop()


if __name__ == "__main__":
    sys.exit(main())

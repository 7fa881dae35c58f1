#!/usr/bin/env python3
"""End to end: container metrics from real containers under a private dockerd.

Every container here is real (tests/e2e/dockerd.py starts its own Docker
Engine and removes everything on exit), its cgroups are the kernel's, and
names, images and labels come from the real Docker Engine API over its unix
socket. Values are checked against what the test enforces or measures
itself: a CFS quota, a blkio throttle, 64 MiB written to the container's
/dev/shm, the cgroup's own cpuacct counter read here over the same window.
"""
import json
import os
import subprocess
import sys
import time

from dockerd import PrivateDocker, block_device_of
from harness import Meterd, VictoriaMetrics, meterd_bin, run_tests, wait_until

MiB = 1 << 20
_DOCKER = []


def docker():
    if not _DOCKER:
        _DOCKER.append(PrivateDocker())
    return _DOCKER[0]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def check(d, name, extra_conf="", delay=2.0):
    """`meterd check NAME --json`: the points of the second run, as dicts."""
    dk = docker()
    conf = os.path.join(d, "meterd.yaml")
    write(conf, "container_discovery_interval: 1\n"
                "docker_labels_as_tags:\n  team: team\n"
                "docker_env_as_tags:\n  APP_VERSION: version\n" + extra_conf)
    os.makedirs(os.path.join(d, "conf.d"), exist_ok=True)
    t0 = time.time()
    r = subprocess.run([meterd_bin(), "check", name, "--json", "-c", conf, "--confd",
                        os.path.join(d, "conf.d"), "--delay", str(delay)],
                       env=dict(os.environ, DOCKER_HOST=dk.host), capture_output=True, timeout=60)
    t1 = time.time()
    if r.returncode != 0:
        raise AssertionError("meterd check failed (%d): %s" % (r.returncode, r.stderr.decode()))
    pts = [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]
    return pts, t0, t1


def by_container(points, cid):
    out = {}
    for p in points:
        if "container_id:" + cid in p["tags"]:
            out[p["metric"]] = p
    return out


def cgroup_file(ctrl, cid, name):
    with open("/sys/fs/cgroup/%s/docker/%s/%s" % (ctrl, cid, name)) as f:
        return f.read()


def blkio_write_bytes(cid):
    total = 0
    for line in cgroup_file("blkio", cid, "blkio.throttle.io_service_bytes").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Write":
            total += int(parts[2])
    return total


def nr_throttled(cid):
    for line in cgroup_file("cpu", cid, "cpu.stat").splitlines():
        if line.startswith("nr_throttled "):
            return int(line.split()[1])
    raise AssertionError("no nr_throttled in cpu.stat")


def near(value, expected, rel, what):
    if not abs(value - expected) <= rel * expected:
        raise AssertionError("%s: %.4g not within %d%% of %.4g" % (what, value, rel * 100, expected))


def test_check_reports_real_containers(d):
    try:
        check_real_containers(d)
    finally:
        docker().docker("rm", "-f", "spin", "quota", "mem", "writer", "kids", "labeled", check=False)


def check_real_containers(d):
    dk = docker()
    vol = os.path.join(d, "vol")
    os.makedirs(vol)
    dev = block_device_of(vol)
    ids = {
        "spin": dk.run("spin", "while :; do :; done"),
        "quota": dk.run("quota", "while :; do :; done", "--cpus", "0.5"),
        "mem": dk.run("mem", "head -c 67108864 /dev/zero > /dev/shm/x; exec sleep 3600",
                      "--shm-size", "128m"),
        # 4 MiB/s enforced by the kernel; the rule also makes v1 blkio count at all
        "writer": dk.run("writer", "while :; do dd if=/dev/zero of=/data/f bs=1M count=16 "
                         "oflag=direct 2>/dev/null; done", "-v", vol + ":/data",
                         "--device-write-bps", dev + ":4mb"),
        "kids": dk.run("kids", "sleep 1000 & sleep 1000 & sleep 1000 & wait"),
        "labeled": dk.run("labeled", "exec sleep 3600", "--label", "team=core",
                          "--label", "io.kubernetes.pod.namespace=ns1", "-e", "APP_VERSION=1.2"),
    }
    # the shm write must be complete before measuring memory
    wait_until(lambda: int(cgroup_file("memory", ids["mem"], "memory.usage_in_bytes")) >= 64 * MiB,
               20, "64 MiB in the mem container")
    cpu0 = int(cgroup_file("cpuacct", ids["spin"], "cpuacct.usage"))
    w0 = blkio_write_bytes(ids["writer"])
    thr0 = nr_throttled(ids["quota"])
    pts, t0, t1 = check(d, "container", delay=3.0)
    cpu1 = int(cgroup_file("cpuacct", ids["spin"], "cpuacct.usage"))
    w1 = blkio_write_bytes(ids["writer"])
    thr1 = nr_throttled(ids["quota"])
    wall = t1 - t0

    spin = by_container(pts, ids["spin"])
    # Independent reading of the same counter over (almost) the same window.
    near(spin["container.cpu.usage"]["value"], (cpu1 - cpu0) / wall, 0.25, "spinner cpu ns/s")
    # One thread: at most one core. (How much of it it gets depends on the shared CPU.)
    assert 0 < spin["container.cpu.usage"]["value"] <= 1.05e9, spin["container.cpu.usage"]
    assert spin["container.cpu.user"]["type"] == "rate"
    tags = spin["container.cpu.usage"]["tags"]
    for t in ("container_name:spin", "image_name:local/busybox", "short_image:busybox",
              "image_tag:1", "docker_image:local/busybox:1"):
        assert t in tags, (t, tags)
    assert spin["container.uptime"]["value"] >= 0

    quota = by_container(pts, ids["quota"])
    assert quota["container.cpu.limit"]["value"] == 0.5e9, quota["container.cpu.limit"]
    assert quota["container.cpu.usage"]["value"] <= 0.55e9, quota["container.cpu.usage"]
    # Throttling depends on how much CPU the shared machine leaves it: compare
    # with the kernel's own count over the same window instead of a constant.
    thr = quota["container.cpu.throttled.periods"]["value"]
    assert abs(thr - (thr1 - thr0) / wall) <= 0.25 * (thr1 - thr0) / wall + 1, (thr, thr0, thr1, wall)

    mem = by_container(pts, ids["mem"])
    assert 64 * MiB <= mem["container.memory.usage"]["value"] <= 80 * MiB, mem["container.memory.usage"]
    assert mem["container.memory.cache"]["value"] >= 64 * MiB, mem["container.memory.cache"]

    writer = by_container(pts, ids["writer"])
    near(writer["container.io.write"]["value"], (w1 - w0) / wall, 0.3, "writer bytes/s")
    near(writer["container.io.write"]["value"], 4 * MiB, 0.3, "writer bytes/s against the 4 MiB/s throttle")
    assert writer["container.io.write.operations"]["value"] > 0

    kids = by_container(pts, ids["kids"])
    assert kids["container.pid.count"]["value"] == 4, kids["container.pid.count"]
    assert kids["container.pid.thread_count"]["value"] == 4, kids["container.pid.thread_count"]

    lab = by_container(pts, ids["labeled"])["container.memory.usage"]["tags"]
    for t in ("team:core", "kube_namespace:ns1", "version:1.2", "container_name:labeled"):
        assert t in lab, (t, lab)

    # Removed containers are forgotten: no series for them any more.
    dk.rm("spin", "quota", "mem", "writer", "kids", "labeled")
    pts, _, _ = check(d, "container", delay=1.0)
    for name, cid in ids.items():
        assert not by_container(pts, cid), "%s still reported after removal" % name


def test_filters_and_docker_names(d):
    try:
        filters_and_docker_names(d)
    finally:
        docker().docker("rm", "-f", "keep", "skipme", "stopped", check=False)


def filters_and_docker_names(d):
    dk = docker()
    keep = dk.run("keep", "exec sleep 3600")
    skip = dk.run("skipme", "exec sleep 3600")
    dk.run("stopped", "true")
    wait_until(lambda: not dk.inspect("stopped")["State"]["Running"], 20, "stopped container to exit")
    pts, _, _ = check(d, "docker", 'container_exclude: ["name:^skip"]\n', delay=1.0)
    assert by_container(pts, keep), "keep not reported"
    assert not by_container(pts, skip), "excluded container reported"
    k = by_container(pts, keep)
    assert "docker.mem.rss" in k and "docker.cpu.usage" in k and "docker.thread.count" in k, sorted(k)
    running = [p for p in pts if p["metric"] == "docker.containers.running"
               and "docker_image:local/busybox:1" in p["tags"]]
    stopped = [p for p in pts if p["metric"] == "docker.containers.stopped"
               and "docker_image:local/busybox:1" in p["tags"]]
    assert running and running[0]["value"] == 1, running  # keep (skipme is excluded)
    assert stopped and stopped[0]["value"] == 1, stopped
    dk.rm("keep", "skipme", "stopped")


def test_ecs_task_metadata(d):
    """ECS v4 metadata from a local HTTP double.

    A test double, because no ECS agent can run here: it serves the recorded
    task document of tests/fixtures/ecs/task_v4.json with its first
    container's DockerId replaced by a real container's id.
    """
    import http.server
    import threading
    dk = docker()
    cid = dk.run("ecsweb", "exec sleep 3600")
    try:
        fx = os.path.join(os.path.dirname(__file__), "..", "fixtures", "ecs", "task_v4.json")
        doc = json.load(open(fx))
        doc["Containers"][0]["DockerId"] = cid
        body = json.dumps(doc).encode()
        hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                code = 200 if self.path == "/v4/abc/task" else 404
                self.send_response(code)
                self.send_header("Content-Length", str(len(body) if code == 200 else 0))
                self.end_headers()
                if code == 200:
                    self.wfile.write(body)

            def log_message(self, *a):
                pass
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        os.environ["ECS_CONTAINER_METADATA_URI_V4"] = "http://127.0.0.1:%d/v4/abc" % srv.server_port
        try:
            pts, _, _ = check(d, "container", delay=1.0)
        finally:
            del os.environ["ECS_CONTAINER_METADATA_URI_V4"]
            srv.shutdown()
        assert "/v4/abc/task" in hits, hits
        tags = by_container(pts, cid)["container.memory.usage"]["tags"]
        for t in ("task_family:checkout", "task_version:42", "ecs_cluster_name:prod-web",
                  "ecs_container_name:web", "container_name:ecsweb"):
            assert t in tags, (t, tags)
    finally:
        dk.docker("rm", "-f", "ecsweb", check=False)


def build_sender(d):
    """tests/e2e/dsd_send.c, static, to run inside a busybox container."""
    out = os.path.join(d, "dsd_send")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dsd_send.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", out, src], check=True)
    return out


def test_origin_detection(d):
    try:
        origin_detection(d)
    finally:
        docker().docker("rm", "-f", "app", check=False)


def origin_detection(d):
    dk = docker()
    sender = build_sender(d)
    sockdir = os.path.join(d, "sock")
    os.makedirs(sockdir)
    cid = dk.run("app", "exec sleep 3600", "-v", sockdir + ":/sock", "-v", sender + ":/bin/dsd_send:ro")
    vm = VictoriaMetrics(d)
    m = Meterd(d, settings={"dd_url": vm.url + "/datadog", "api_key": "e2e-secret-key-1234",
                            "flush_interval": 1, "hostname": "e2e-origin",
                            "dogstatsd_socket": os.path.join(sockdir, "dsd.sock"),
                            "dogstatsd_origin_detection": "true",
                            "dogstatsd_tag_cardinality": "low",
                            "container_discovery_interval": 1},
               env={"DOCKER_HOST": dk.host})
    def series(name):
        return vm.export('{__name__="%s"}' % name)

    def send_until_named():
        # Inside the container: the kernel tells meterd the sender's pid. Sent
        # again until meterd has named the container (its first Docker listing
        # and discovery may come after the first datagram).
        dk.docker("exec", "app", "dsd_send", "unix", "/sock/dsd.sock",
                  "origin.uds.high:1|c|#src:uds|card:high", "origin.uds.low:1|c|#src:uds")
        return [s for s in series("origin.uds.high") if s["metric"].get("container_name")]
    high = wait_until(send_until_named, 20, "origin.uds.high with container_name",
                      interval=0.5)[0]["metric"]
    # From the host over UDP, naming the container with |c: (no pid there).
    m.send("origin.udp:1|c|#src:udp|c:ci-%s|card:high" % cid, "origin.none:1|c|#src:host")
    assert high.get("container_name") == "app" and high.get("container_id") == cid, high
    assert high.get("src") == "uds" and high.get("image_name") == "local/busybox", high
    low = wait_until(lambda: [s for s in series("origin.uds.low") if "image_name" in s["metric"]], 20,
                     "origin.uds.low with image tags", interval=0.3)[0]["metric"]
    assert low.get("image_name") == "local/busybox" and low.get("short_image") == "busybox", low
    assert "container_name" not in low and "container_id" not in low, low  # low cardinality
    udp = wait_until(lambda: series("origin.udp"), 20, "origin.udp", interval=0.3)[0]["metric"]
    assert udp.get("container_name") == "app" and udp.get("container_id") == cid, udp
    none = wait_until(lambda: series("origin.none"), 20, "origin.none", interval=0.3)[0]["metric"]
    assert "container_id" not in none and "image_name" not in none, none
    st = m.status()["dogstatsd"]["origin"]
    assert st["tagged"] >= 3, st
    m.stop()


def test_memory_limit_and_oom(d):
    """A 16 MiB limit and a subshell that reads 32 MiB into a variable: it hits
    the limit and the kernel OOM-kills it (it volunteers with oom_score_adj),
    the container lives on. container.memory.limit is the limit and
    oom_events counts the hits (memory.failcnt on v1, as upstream reports)."""
    dk = docker()
    try:
        cid = dk.run("oom", "(echo 1000 > /proc/self/oom_score_adj; x=$(yes | head -c 33554432)); "
                     "exec sleep 3600", "--memory", "16m")
        wait_until(lambda: int(cgroup_file("memory", cid, "memory.failcnt")) > 0, 20,
                   "the oom container to hit its limit")
        pts, _, _ = check(d, "container", delay=1.0)
        failcnt = int(cgroup_file("memory", cid, "memory.failcnt"))
        got = by_container(pts, cid)
        assert got["container.memory.limit"]["value"] == 16 * MiB, got["container.memory.limit"]
        oom = got["container.memory.oom_events"]["value"]
        assert 0 < oom <= failcnt, (oom, failcnt)
        assert got["container.memory.usage"]["value"] <= 16 * MiB
    finally:
        dk.docker("rm", "-f", "oom", check=False)


def test_kubernetes_pod_cgroup(d):
    """A Kubernetes-shaped cgroup (kubepods/burstable/pod<uid>/<id>) made here, real
    on this host's v1 controllers, with a real process in it: found, and tagged
    with the pod uid from its path. Removed again on every exit path."""
    import secrets
    import signal
    cid = secrets.token_hex(32)
    uid = "5b0d6a1e-9c2f-4e3a-8b7d-1f2e3d4c5b6a"
    rel = "kubepods/burstable/pod%s/%s" % (uid, cid)
    dirs = ["/sys/fs/cgroup/%s/%s" % (c, rel) for c in ("memory", "cpu", "cpuacct", "pids")]
    proc = None
    try:
        for x in dirs:
            os.makedirs(x)
        proc = subprocess.Popen(["sleep", "600"],
                                stdin=subprocess.DEVNULL)
        for x in dirs:
            with open(os.path.join(x, "cgroup.procs"), "w") as f:
                f.write(str(proc.pid))
        pts, _, _ = check(d, "container", delay=1.0)
        got = by_container(pts, cid)
        assert got, "pod container not discovered"
        tags = got["container.pid.count"]["tags"]
        assert "pod_uid:" + uid in tags, tags
        assert got["container.pid.count"]["value"] == 1, got["container.pid.count"]
        # (memory stays near 0: v1 does not move a process's pages with it)
        assert got["container.pid.thread_count"]["value"] == 1, got["container.pid.thread_count"]
    finally:
        if proc:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        for x in dirs:
            # the pod<uid> and kubepods parents too, deepest first, only if we made them empty
            for path in (x, os.path.dirname(x), os.path.dirname(os.path.dirname(x)),
                         os.path.dirname(os.path.dirname(os.path.dirname(x)))):
                try:
                    os.rmdir(path)
                except OSError:
                    break


def test_hostname_from_the_engine(d):
    """`meterd hostname` asks the Docker Engine (GET /info over its unix socket)."""
    dk = docker()
    name = dk.docker("info", "--format", "{{.Name}}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "METERD_"))}
    r = subprocess.run([meterd_bin(), "hostname"], env=dict(env, DOCKER_HOST=dk.host), cwd=d,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == [name, "source: docker"], (name, r.stdout)


def test_victoriametrics_read_back(d):
    try:
        victoriametrics_read_back(d)
    finally:
        docker().docker("rm", "-f", "shipped", "late", check=False)


def victoriametrics_read_back(d):
    dk = docker()
    cid = dk.run("shipped", "while :; do :; done", "--cpus", "0.25")
    vm = VictoriaMetrics(d)
    write(os.path.join(d, "conf.d", "container.d", "conf.yaml"),
          "init_config:\ninstances:\n  - min_collection_interval: 1\n")
    m = Meterd(d, settings={"dd_url": vm.url + "/datadog", "api_key": "e2e-secret-key-1234",
                            "flush_interval": 1, "hostname": "e2e-containers",
                            "container_discovery_interval": 30},
               env={"DOCKER_HOST": dk.host})

    def shipped():
        s = vm.export('{__name__="container.cpu.usage",container_id="%s"}' % cid)
        return s if s and s[0]["metric"].get("container_name") == "shipped" else None
    series = wait_until(shipped, 30, "container.cpu.usage of 'shipped' in VictoriaMetrics", interval=0.5)
    vals = series[0]["values"]
    assert 0 < vals[-1] <= 0.3e9, vals  # --cpus 0.25: never above the quota (below it when the CPU is shared)
    assert series[0]["metric"].get("image_name") == "local/busybox", series[0]["metric"]
    mem = vm.export('{__name__="container.memory.usage",container_id="%s",container_name="shipped"}' % cid)
    assert mem and mem[0]["values"][-1] > 0, mem
    # Started after meterd: found through Docker's event stream, well before
    # the 30 s discovery cadence would have come round.
    late = dk.run("late", "exec sleep 3600")
    t_late = time.time()
    wait_until(lambda: vm.export('{__name__="container.memory.usage",container_id="%s",container_name="late"}'
                                 % late), 15, "the late container in VictoriaMetrics", interval=0.3)
    assert time.time() - t_late < 15
    # Gone: the series stop within a discovery + flush or two.
    dk.rm("shipped")
    removed = time.time() * 1000
    time.sleep(4)
    last = max(vm.export('{__name__="container.cpu.usage",container_id="%s"}' % cid)[0]["timestamps"])
    assert last <= removed + 2500, (last, removed)
    assert "e2e-secret-key-1234" not in m.proc.output()
    m.stop()


if __name__ == "__main__":
    try:
        rc = run_tests([test_check_reports_real_containers, test_filters_and_docker_names,
                        test_ecs_task_metadata, test_origin_detection, test_memory_limit_and_oom,
                        test_kubernetes_pod_cgroup, test_hostname_from_the_engine,
                        test_victoriametrics_read_back])
    finally:
        for dk in _DOCKER:
            dk.stop()
    sys.exit(rc)

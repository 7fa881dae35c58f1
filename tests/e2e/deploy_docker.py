"""A private Docker Engine and the meterd image, for the deployment tests.

Starts dockerd with its own data root, exec root and socket under /tmp
(no bridge, no iptables: containers run with --network host or none, so
traffic stays on loopback) and stops it by PID. The image is built once
per source tree: packaging/docker/build.sh runs against the private daemon
and the result is saved under /tmp/meterd-image-cache keyed by a hash of
every file the build reads, so later runs load it in seconds. The
mmdebstrap base it needs is cached there too.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import ROOT

CACHE = "/tmp/meterd-image-cache"
# What the image build reads (see packaging/docker/build.sh).
BUILD_INPUTS = ["meson.build", "meson_options.txt", "agent", "collectors", "sinks", "include",
                "conf.d", "bench", "packaging/docker"]


def source_hash():
    h = hashlib.sha256()
    for top in BUILD_INPUTS:
        p = os.path.join(ROOT, top)
        files = [p] if os.path.isfile(p) else sorted(
            os.path.join(dp, f) for dp, dn, fn in os.walk(p) for f in fn)
        for f in files:
            h.update(os.path.relpath(f, ROOT).encode() + b"\0")
            with open(f, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:16]


class Dockerd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="meterd-dockerd-", dir="/tmp")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.host = "unix://" + self.sock
        self.log = open(os.path.join(self.dir, "dockerd.log"), "wb")
        self.p = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"),
             "--pidfile", os.path.join(self.dir, "docker.pid"), "--host", self.host,
             "--bridge=none", "--iptables=false", "--ip-masq=false"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while self.run("info", check=False, timeout=10).returncode != 0:
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError("dockerd did not start: " + self.tail())
            time.sleep(0.2)

    def env(self):
        e = dict(os.environ)
        e["DOCKER_HOST"] = self.host
        return e

    def run(self, *args, check=True, timeout=120, input=None):
        r = subprocess.run(["docker"] + list(args), capture_output=True, text=True,
                           env=self.env(), timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError("docker %s: %s%s" % (" ".join(args[:3]), r.stdout, r.stderr))
        return r

    def inspect(self, name):
        return json.loads(self.run("inspect", name).stdout)[0]

    def info_name(self):
        return self.run("info", "--format", "{{.Name}}").stdout.strip()

    def tail(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()[-2000:]

    def remove_all(self):
        ids = self.run("ps", "-aq", check=False).stdout.split()
        if ids:
            self.run("rm", "-f", *ids, check=False, timeout=60)

    def stop(self):
        try:
            self.remove_all()
        finally:
            if self.p.poll() is None:
                self.p.terminate()
                try:
                    self.p.wait(30)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait(10)
            self.log.close()
            self.unmount_leftovers()
            shutil.rmtree(self.dir, ignore_errors=True)

    def unmount_leftovers(self):
        """dockerd leaves its netns mount (exec/netns/default) behind; the folder can't go without this."""
        with open("/proc/self/mounts") as f:
            mine = [l.split()[1] for l in f if l.split()[1].startswith(self.dir + "/")]
        for m in sorted(mine, key=len, reverse=True):
            subprocess.run(["umount", m], capture_output=True, timeout=30)

    def meterd_image(self):
        """meterd:latest on this daemon: loaded from the cache, else built and cached."""
        os.makedirs(CACHE, exist_ok=True)
        tar = os.path.join(CACHE, "meterd-%s.tar" % source_hash())
        if os.path.exists(tar):
            self.run("load", "-i", tar, timeout=300)
            return "meterd:latest"
        env = self.env()
        env["METERD_BASE_TAR"] = os.path.join(CACHE, "bookworm-minbase.tar")
        r = subprocess.run([os.path.join(ROOT, "packaging/docker/build.sh")], capture_output=True,
                           text=True, env=env, timeout=1200)
        if r.returncode != 0:
            raise AssertionError("build.sh failed: " + r.stdout + r.stderr[-3000:])
        for old in os.listdir(CACHE):  # one image per tree is enough
            if old.startswith("meterd-") and old.endswith(".tar"):
                os.unlink(os.path.join(CACHE, old))
        self.run("save", "-o", tar + ".tmp", "meterd:latest", timeout=300)
        os.replace(tar + ".tmp", tar)
        return "meterd:latest"

    def busybox_image(self):
        """local/busybox:1 from Debian's busybox-static, for workload containers."""
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "bin"))
            shutil.copy("/bin/busybox", os.path.join(d, "bin", "busybox"))
            for c in ("sh", "sleep", "yes", "dd", "head", "cat", "nc", "true"):
                os.symlink("busybox", os.path.join(d, "bin", c))
            tar = subprocess.run(["tar", "-C", d, "-c", "."], capture_output=True, check=True).stdout
            r = subprocess.run(["docker", "import", "-", "local/busybox:1"], input=tar,
                               capture_output=True, env=self.env(), timeout=60)
            if r.returncode != 0:
                raise AssertionError("docker import: %r" % r.stderr)
        return "local/busybox:1"

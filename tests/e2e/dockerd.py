"""A private Docker Engine for the container tests.

Starts its own `dockerd` (data, exec root, pid file and socket in a temporary
directory; no bridge, no iptables), imports a busybox image made from
busybox-static (no registry needed), and on every exit path (normal return,
exception, SIGTERM/SIGINT, interpreter exit) removes its containers, stops
the daemon by the pid in its own pid file and deletes the directory. It
never touches another Docker daemon on the machine. See
../shared/notes/docker.md.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

IMAGE = "local/busybox:1"
_APPLETS = ["sh", "sleep", "yes", "dd", "head", "tr", "cat", "nc", "echo", "true", "printf", "rm", "mkdir", "sync", "env"]


class PrivateDocker:
    def __init__(self):
        if not shutil.which("dockerd") or not os.path.exists("/bin/busybox"):
            raise RuntimeError("dockerd and busybox-static are needed (packaging/deps.sh --test)")
        self.dir = tempfile.mkdtemp(prefix="meterd-docker-")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.host = "unix://" + self.sock
        self.pidfile = os.path.join(self.dir, "docker.pid")
        self.env = dict(os.environ, DOCKER_HOST=self.host)
        self._stopped = False
        atexit.register(self.stop)
        self._prev = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._prev[sig] = signal.signal(sig, self._on_signal)
        self.log = open(os.path.join(self.dir, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"), "--pidfile", self.pidfile,
             "--host", self.host, "--bridge=none", "--iptables=false", "--ip-masq=false"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("dockerd exited: " + self.log_tail())
                if subprocess.run(["docker", "info"], env=self.env, capture_output=True).returncode == 0:
                    break
                if time.time() > deadline:
                    raise RuntimeError("dockerd not ready after 60 s: " + self.log_tail())
                time.sleep(0.2)
            self._import_busybox()
        except BaseException:
            self.stop()
            raise

    def _on_signal(self, sig, frame):
        self.stop()
        prev = self._prev.get(sig)
        if callable(prev):
            prev(sig, frame)
        raise SystemExit(128 + sig)

    def log_tail(self):
        self.log.flush()
        with open(os.path.join(self.dir, "dockerd.log"), errors="replace") as f:
            return f.read()[-2000:]

    def _import_busybox(self):
        root = os.path.join(self.dir, "rootfs")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "tmp"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for a in _APPLETS:
            os.symlink("busybox", os.path.join(root, "bin", a))
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        self.docker("import", "-", IMAGE, stdin=tar.stdout)
        tar.wait()

    def docker(self, *args, stdin=None, check=True):
        r = subprocess.run(["docker"] + list(args), env=self.env, stdin=stdin, capture_output=True)
        if check and r.returncode != 0:
            raise RuntimeError("docker %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
        return r.stdout.decode().strip()

    def run(self, name, cmd, *opts):
        """Start a detached container on no network; returns its full id."""
        return self.docker("run", "-d", "--name", name, "--network", "none", *opts, IMAGE, "sh", "-c", cmd)

    def inspect(self, name):
        return json.loads(self.docker("inspect", name))[0]

    def rm(self, *names):
        self.docker("rm", "-f", *names)

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.proc.poll() is None:
                ids = subprocess.run(["docker", "ps", "-aq"], env=self.env, capture_output=True,
                                     timeout=30).stdout.decode().split()
                if ids:
                    subprocess.run(["docker", "rm", "-f"] + ids, env=self.env, capture_output=True,
                                   timeout=60)
        except Exception:
            pass
        pid = None
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            pid = self.proc.pid if self.proc.poll() is None else None
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        # containerd-shim children exit with their containers; exec root mounts go with dockerd
        subprocess.run(["umount", "-R", os.path.join(self.dir, "data")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        for sig, prev in self._prev.items():
            try:
                signal.signal(sig, prev)
            except (ValueError, TypeError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def block_device_of(path):
    """/dev/<disk> holding `path`, for a blkio throttle rule (v1 counts I/O only under one)."""
    st = os.stat(path)
    sysdir = "/sys/dev/block/%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    if os.path.exists(os.path.join(sysdir, "partition")):
        sysdir = os.path.dirname(os.path.realpath(sysdir))
    with open(os.path.join(sysdir, "uevent")) as f:
        for line in f:
            if line.startswith("DEVNAME="):
                return "/dev/" + line.strip().split("=", 1)[1]
    raise RuntimeError("no block device for " + path)

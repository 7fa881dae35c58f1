#!/usr/bin/env python3
"""End to end: the Debian package and its systemd unit.

Builds the package with dpkg-buildpackage from a copy of the source tree
whose debian/ is packaging/debian, installs it with apt into a fresh Debian
12 root made by mmdebstrap (minbase; the tarball is cached under /tmp like
the image's base), and checks there that `meterd configcheck` passes on the
packaged /etc/meterd files with no arguments, that the files and the
service user are as the package says, and that the installed unit passes
`systemd-analyze verify` (systemd is installed into the root for that,
because verify resolves the unit's dependencies and commands inside it)
and keeps its hardening (`systemd-analyze security --offline`).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from harness import ROOT, run_tests

CACHE = "/tmp/meterd-image-cache"
BASE = os.path.join(CACHE, "bookworm-minbase.tar")
STATE = {}


def sh(*argv, timeout=600, check=True, **kw):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: rc %d\n%s%s" % (" ".join(argv[:4]), r.returncode,
                                                 r.stdout[-2000:], r.stderr[-3000:]))
    return r


def chroot(root, *argv, **kw):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    return sh("chroot", root, *argv, env=env, **kw)


def fresh_root(d):
    """A Debian 12 minbase root from mmdebstrap (cached tarball), with the host's DNS."""
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(BASE):
        sh("mmdebstrap", "--variant=minbase", "--quiet", "bookworm", BASE + ".tmp.tar")
        os.replace(BASE + ".tmp.tar", BASE)
    root = os.path.join(d, "root")
    os.makedirs(root)
    sh("tar", "-xf", BASE, "-C", root)
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    return root


def build_deb(d):
    src = os.path.join(d, "src")
    os.makedirs(src)
    tar = subprocess.Popen(["tar", "-c", "--exclude-vcs", "--exclude=./build*",
                            "--exclude=*/node_modules", "."], cwd=ROOT, stdout=subprocess.PIPE)
    sh("tar", "-x", "-C", src, stdin=tar.stdout)
    tar.wait()
    shutil.copytree(os.path.join(src, "packaging/debian"), os.path.join(src, "debian"))
    sh("dpkg-buildpackage", "-us", "-uc", "-b", cwd=src, timeout=1200)
    debs = [p for p in glob.glob(os.path.join(d, "meterd_*.deb"))]
    assert len(debs) == 1, debs
    return debs[0]


def test_package_installs_and_configcheck_passes(d):
    deb = build_deb(d)
    root = fresh_root(STATE["work"])  # outlives this test: the unit test below uses it
    shutil.copy(deb, os.path.join(root, "tmp"))
    chroot(root, "apt-get", "update", "-qq")
    chroot(root, "apt-get", "install", "-y", "-qq", "/tmp/" + os.path.basename(deb))
    # The packaged files, found with no arguments, as an operator would run it.
    r = chroot(root, "meterd", "configcheck")
    assert '# config_file: "/etc/meterd/meterd.yaml"' in r.stdout, r.stdout[:300]
    assert 'confd_path: "/etc/meterd/conf.d"' in r.stdout, r.stdout
    listed = chroot(root, "dpkg", "-L", "meterd").stdout.split()
    for f in ("/usr/bin/meterd", "/lib/systemd/system/meterd.service", "/etc/meterd/meterd.yaml",
              "/etc/meterd/conf.d/cpu.d/conf.yaml", "/etc/default/meterd"):
        assert f in listed, f
    conffiles = open(os.path.join(root, "var/lib/dpkg/info/meterd.conffiles")).read().split()
    assert "/etc/meterd/meterd.yaml" in conffiles and "/etc/default/meterd" in conffiles, conffiles
    st = os.stat(os.path.join(root, "etc/meterd/meterd.yaml"))
    assert st.st_mode & 0o777 == 0o640, oct(st.st_mode)
    assert chroot(root, "getent", "group", "meterd").stdout.split(":")[2] == str(st.st_gid)
    assert os.stat(os.path.join(root, "etc/default/meterd")).st_mode & 0o777 == 0o600
    # A broken packaged file fails the same check, naming file, line and key.
    with open(os.path.join(root, "etc/meterd/conf.d/load.d/conf.yaml"), "a") as f:
        f.write("  - min_collection_interval: soon\n")
    r = chroot(root, "meterd", "configcheck", check=False)
    assert r.returncode == 1 and "/etc/meterd/conf.d/load.d/conf.yaml:" in r.stderr, r.stderr
    STATE["root"] = root


def test_systemd_unit_verifies_and_is_hardened(d):
    root = STATE.get("root")
    assert root, "needs the installed root from the package test"
    chroot(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "systemd")
    r = sh("systemd-analyze", "verify", "--root=" + root, "/lib/systemd/system/meterd.service",
           check=False)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    unit = os.path.join(ROOT, "packaging/systemd/meterd.service")
    r = sh("systemd-analyze", "security", "--offline=yes", "--no-pager", unit, check=False)
    m = re.search(r"Overall exposure level for meterd.service: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-500:]
    print("systemd-analyze security: exposure %s" % m.group(1))
    assert float(m.group(1)) <= 2.0, r.stdout
    text = open(unit).read()
    for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                "User=meterd"):
        assert key in text, key


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root for chroot\n0 passed, 1 failed")
        return 1
    with tempfile.TemporaryDirectory(prefix="meterd-pkg-") as work:
        STATE["work"] = work
        return run_tests([test_package_installs_and_configcheck_passes,
                          test_systemd_unit_verifies_and_is_hardened])


if __name__ == "__main__":
    sys.exit(main())

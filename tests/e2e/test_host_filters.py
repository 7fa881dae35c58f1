#!/usr/bin/env python3
"""End to end: the disk, io and network filters of a Datadog user's conf.d,
on this machine's real /proc, shipped to a real VictoriaMetrics.

The conf.d files are written the way a Datadog user writes them: Python-style
patterns (\\d, (?i), (?:...)), old and new key names, init_config's global
excludes, and keys meterd does not implement (warned about, never fatal). What
should ship is computed here independently, with Python's own re module on the
same /proc files, and compared with the device_name labels VictoriaMetrics
holds. /proc changes while the test runs (other test instances mount and
unmount, loop devices come and go), so the expectation is read before and
after: everything in both readings must ship, nothing outside either may.
A bad pattern on a known key stops `meterd run` with FILE:LINE: KEY.
"""
import os
import re
import subprocess
import sys

from harness import Meterd, VictoriaMetrics, meterd_bin, run_tests, wait_until

HOST = "e2e-filters"
FLUSH = 2

# Patterns as the Datadog checks take them; each is also used below with Python's re.
FS_EXCLUDE = r"(?i)CGROUP\d?$"               # file_system_exclude: re.match, case ignored
MP_EXCLUDE = ["/mnt/", "/tmp/"]              # mount_point_exclude: other tests' mounts
MP_EXCLUDE_RE = r"/(?:proc|sys)(?:/|$)"      # excluded_mountpoint_re (old name)
EXCLUDED_FS = ["devpts"]                     # excluded_filesystems: whole names
EXCLUDED_DISKS = ["/dev/vd"]                 # excluded_disks: whole names, so /dev/vda stays
FS_GLOBAL = [r"iso9660$", r"tracefs$"]       # the check's init_config defaults
MP_GLOBAL = [r"(/host)?/proc/sys/fs/binfmt_misc$"]
IO_EXCLUDE_RE = r"\d$"                       # io: Go's MatchString, anywhere in the name
NET_EXCLUDED = ["ifb0"]
NET_EXCLUDE_RE = r"(?i)(?:ETH|VETH)\d"       # network: re.match

DISK_CONF = """init_config:
  file_system_global_exclude:
    - iso9660$
    - tracefs$
instances:
  - use_mount: false
    include_all_devices: true
    min_collection_interval: 1
    file_system_exclude: ['%s']
    mount_point_exclude: [%s]
    excluded_mountpoint_re: '%s'
    excluded_filesystems: [%s]
    excluded_disks: [%s]
    service_check_rw: true
    use_lsblk: false
    some_future_key: 1
""" % (FS_EXCLUDE, ", ".join(MP_EXCLUDE), MP_EXCLUDE_RE, ", ".join(EXCLUDED_FS),
       ", ".join(EXCLUDED_DISKS))

IO_CONF = """init_config:
  device_exclude_re: '%s'
instances:
  - min_collection_interval: 1
""" % IO_EXCLUDE_RE

NET_CONF = """init_config:
instances:
  - collect_connection_state: false
    collect_rate_metrics: false
    min_collection_interval: 1
    excluded_interfaces: [%s]
    excluded_interface_re: '%s'
    collect_connection_queues: true
    collect_ethtool_metrics: true
""" % (", ".join(NET_EXCLUDED), NET_EXCLUDE_RE)


def write_conf(confd, name, text):
    folder = os.path.join(confd, name + ".d")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "conf.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def any_match(patterns, s, flags=0):
    return any(re.match(p, s, flags) for p in patterns)


def disk_expected():
    """device_name of every mount the disk check reports, by the rules of the Datadog check."""
    seen, names = set(), set()
    with open("/proc/self/mounts") as f:
        mounts = [l.split()[:3] for l in f]
    for dev, mp, fs in mounts:
        dev, mp = unescape(dev), unescape(mp)
        if not dev or dev == "none":
            continue  # all_partitions is off
        if any_match([FS_EXCLUDE] + FS_GLOBAL + [p + "$" for p in EXCLUDED_FS], fs, re.I):
            continue
        if any_match([p + "$" for p in EXCLUDED_DISKS], dev):
            continue
        if any_match(MP_EXCLUDE + [MP_EXCLUDE_RE] + MP_GLOBAL, mp):
            continue
        if dev in seen:
            continue  # one series per device: the first mount of it
        seen.add(dev)
        try:
            st = os.statvfs(mp)
        except OSError:
            continue
        if st.f_blocks * st.f_frsize > 0:  # min_disk_size 0: empty file systems skipped
            names.add(os.path.basename(dev))
    return names


def io_expected():
    with open("/proc/diskstats") as f:
        return {l.split()[2] for l in f if l.strip() and not re.search(IO_EXCLUDE_RE, l.split()[2])}


def net_expected():
    names = set()
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, rest = line.split(":", 1)
            name, v = name.strip(), rest.split()
            if int(v[0]) == 0 and int(v[8]) == 0:
                continue  # never moved a byte
            if name in NET_EXCLUDED or re.match(NET_EXCLUDE_RE, name):
                continue
            names.add(name)
    return names


def shipped(vm, metric):
    return {s["metric"].get("device_name") for s in vm.export('{__name__="%s",host="%s"}' % (metric, HOST))}


def check_set(vm, metric, expect_fn, before):
    """Wait until every name in both readings ships; then nothing outside either may."""
    def settled():
        got, after = shipped(vm, metric), expect_fn()
        return got if (before & after) <= got else None
    got = wait_until(settled, 30, "%s for %r" % (metric, sorted(before)), interval=0.5)
    after = expect_fn()
    extra = got - (before | after)
    assert not extra, "%s shipped %r, which the Datadog rules exclude (expected %r)" % (
        metric, sorted(extra), sorted(before | after))
    return got


def test_filters_ship_what_python_re_keeps(d):
    confd = os.path.join(d, "confd")
    disk_path = write_conf(confd, "disk", DISK_CONF)
    write_conf(confd, "io", IO_CONF)
    net_path = write_conf(confd, "network", NET_CONF)
    for name in ("cpu", "memory", "load", "uptime", "processes", "file_handle", "self", "container"):
        write_conf(confd, name, "init_config:\ninstances:\n  - enabled: false\n")
    before = {"disk": disk_expected(), "io": io_expected(), "net": net_expected()}
    # The expectations themselves must exercise the filters on this machine.
    assert "vda" in before["disk"] and "tmpfs" in before["disk"], before
    assert before["io"] and all(not n[-1].isdigit() for n in before["io"]), before
    assert "lo" in before["net"] and "eth0" not in before["net"], before
    vm = VictoriaMetrics(d)
    m = Meterd(d, settings={"dd_url": vm.url + "/datadog", "hostname": HOST,
                            "api_key": "e2e-secret-key-5678", "flush_interval": FLUSH,
                            "confd_path": confd})
    disk = check_set(vm, "system.disk.total", disk_expected, before["disk"])
    assert "vda" in disk and "cgroup" not in disk and "devpts" not in disk, disk
    io = check_set(vm, "system.io.r_s", io_expected, before["io"])
    assert not any(n.startswith("loop") for n in io), io
    net = check_set(vm, "system.net.bytes_rcvd", net_expected, before["net"])
    assert "eth0" not in net and "lo" in net, net
    # The Datadog keys meterd does not implement: one warning each, naming file and line.
    log = m.proc.output()
    for path, key in ((disk_path, "service_check_rw"), (disk_path, "use_lsblk"),
                      (net_path, "collect_connection_queues"), (net_path, "collect_ethtool_metrics")):
        line = open(path).read().splitlines().index(
            [l for l in open(path).read().splitlines() if l.strip().startswith(key + ":")][0]) + 1
        want = "%s:%d: %s: not implemented" % (path, line, key)
        assert log.count(want) == 1, "want one %r in the log" % want
    assert "some_future_key: unknown key" in log
    assert m.proc.alive()
    assert "e2e-secret-key" not in log


def test_bad_pattern_stops_run(d):
    """A pattern Python accepts and POSIX cannot express is refused, never silently changed."""
    confd = os.path.join(d, "confd")
    path = write_conf(confd, "network", "init_config:\ninstances:\n  - excluded_interface_re: 'eth(?!0)'\n")
    conf = os.path.join(d, "meterd.yaml")
    with open(conf, "w") as f:
        f.write("confd_path: %s\n" % confd)
    r = subprocess.run([meterd_bin(), "run", "-c", conf, "--set", "dogstatsd_port=0",
                        "--set", "status_port=0", "--set", "run_path=" + d],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, "meterd run started with a look-ahead pattern"
    want = "%s:3: excluded_interface_re: look-around" % path
    assert want in r.stderr, "stderr lacks %r: %s" % (want, r.stderr[-600:])


if __name__ == "__main__":
    sys.exit(run_tests([test_filters_ship_what_python_re_keeps, test_bad_pattern_stops_run]))

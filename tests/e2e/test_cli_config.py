#!/usr/bin/env python3
"""End to end: the config options (-c FILE, --set key=value, --help) of the
commands whose only other input is the config (run, config, diagnose,
flare, hostname, configcheck), flare's own --log / --output and
configcheck's --template. One parser serves them all (agent/cli/cli.c),
so each must fail the same way: a usage error on stderr with exit 2, a
config that does not load with exit 1 and the reason, never an option
silently ignored. test_cli.py covers the other commands' own options;
test_commands.py runs config, diagnose and flare against a live agent.
"""
import os
import subprocess
import tarfile

from harness import meterd_bin, run_tests

COMMANDS = ["run", "config", "diagnose", "flare", "hostname", "configcheck"]


def meterd(*args, cwd=None):
    return subprocess.run([meterd_bin()] + list(args), capture_output=True, text=True,
                          timeout=30, cwd=cwd)


def test_help(d):
    for cmd in COMMANDS:
        for argv in ([cmd, "--help"], [cmd, "-h"], ["help", cmd]):
            r = meterd(*argv)
            assert r.returncode == 0 and r.stderr == "", (argv, r.returncode, r.stderr)
            assert r.stdout.startswith("usage: meterd " + cmd), (argv, r.stdout[:200])
            for opt in ("-c, --config FILE", "--set "):
                assert opt in r.stdout, (argv, opt, r.stdout)


def test_usage_errors(d):
    for cmd in COMMANDS:
        cases = [
            (["--set", "no-equals-sign"], "meterd %s: --set no-equals-sign: expected key=value" % cmd),
            (["extra-arg"], "meterd %s: unexpected argument 'extra-arg'" % cmd),
            (["--set", "hostname=x", "extra-arg"], "unexpected argument 'extra-arg'"),
            (["--bogus"], "unrecognized option"),
            (["-c"], "requires an argument"),
            (["--set"], "requires an argument"),
            (["--set=a=1"] * 257, "meterd %s: more than 256 --set options" % cmd),
        ]
        for args, want in cases:
            r = meterd(cmd, *args)
            assert r.returncode == 2, (cmd, args[:3], r.returncode, r.stderr)
            assert want in r.stderr, (cmd, args[:3], r.stderr)
            assert r.stdout == "", (cmd, args[:3], r.stdout)
        r = meterd(cmd, "extra-arg")
        assert "usage: meterd " + cmd in r.stderr, r.stderr


def test_config_that_does_not_load(d):
    missing = os.path.join(d, "missing.yaml")
    for cmd in COMMANDS:
        r = meterd(cmd, "-c", missing, "--set", "status_port=0")
        assert r.returncode == 1, (cmd, r.returncode, r.stderr)
        assert missing in r.stderr, (cmd, r.stderr)
        # configcheck prints the reason bare ("FILE:LINE: KEY: reason"), to gate deploys
        prefix = "meterd %s: " % cmd if cmd == "configcheck" else "config error: "
        assert prefix in r.stderr, (cmd, r.stderr)
        r = meterd(cmd, "--set", "flush_interval=abc", "--set", "status_port=0")
        assert r.returncode == 1 and "flush_interval" in r.stderr, (cmd, r.returncode, r.stderr)
    r = meterd("diagnose", "--config", missing)
    assert r.stdout.startswith("[FAIL] config "), r.stdout


def test_file_then_set(d):
    """-c FILE is read, and --set wins over it; the long forms mean the same."""
    path = os.path.join(d, "meterd.yaml")
    with open(path, "w") as f:
        f.write("hostname: from-file\nstatus_port: 0\nconfd_path: %s\n" % d)
    r = meterd("hostname", "-c", path)
    assert r.returncode == 0 and r.stdout.startswith("from-file\nsource: hostname"), (r.stdout, r.stderr)
    r = meterd("hostname", "--config", path, "--set", "hostname=from-set")
    assert r.returncode == 0 and r.stdout.startswith("from-set\n"), (r.stdout, r.stderr)
    r = meterd("config", "--config=" + path, "--set=tags=a:b")
    assert r.returncode == 0, r.stderr
    assert 'hostname: "from-file"' in r.stdout and "a:b" in r.stdout, r.stdout
    assert "# config_file: \"%s\"" % path in r.stdout, r.stdout


def test_configcheck_template(d):
    r = meterd("configcheck", "--template")
    assert r.returncode == 0 and r.stderr == "", (r.returncode, r.stderr)
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "conf.d", "meterd.yaml")) as f:
        assert r.stdout == f.read()
    # --template answers at once, like --help: what follows it is not read.
    r2 = meterd("configcheck", "--template", "--bogus")
    assert r2.returncode == 0 and r2.stdout == r.stdout, (r2.returncode, r2.stderr)


def test_flare_log_and_output(d):
    logs = []
    for i in range(17):
        logs.append(os.path.join(d, "m%d.log" % i))
        with open(logs[-1], "w") as f:
            f.write("line of log %d\n" % i)
    base = ["flare", "--set", "status_port=0", "--set", "confd_path=" + d]
    out = os.path.join(d, "out.tar.gz")
    r = meterd(*base, "-l", logs[0], "--log", logs[1], "--log=" + logs[2], "-o", out)
    assert r.returncode == 0 and r.stdout == out + "\n", (r.returncode, r.stdout, r.stderr)
    with tarfile.open(out) as t:
        names = t.getnames()
        status = t.extractfile("meterd-flare/status.txt").read().decode()
    assert "status_port is 0" in status, status  # why there is no status, not stack garbage
    for i in range(3):
        assert "meterd-flare/logs/m%d.log" % i in names, names
    r = meterd(*base, "--output", os.path.join(d, "long.tar.gz"))
    assert r.returncode == 0 and os.path.getsize(os.path.join(d, "long.tar.gz")) > 0, r.stderr
    r = meterd(*base, cwd=d)  # no -o: a dated name in the current folder
    assert r.returncode == 0 and r.stdout.startswith("meterd-flare-"), (r.stdout, r.stderr)
    assert os.path.exists(os.path.join(d, r.stdout.strip())), r.stdout
    args = base + [a for p in logs for a in ("--log", p)] + ["-o", os.path.join(d, "x.tar.gz")]
    r = meterd(*args)
    assert r.returncode == 2 and "meterd flare: more than 16 --log files" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(d, "x.tar.gz"))
    r = meterd(*base, "-o")
    assert r.returncode == 2 and "requires an argument" in r.stderr, r.stderr


if __name__ == "__main__":
    raise SystemExit(run_tests([test_help, test_usage_errors, test_config_that_does_not_load,
                                test_file_then_set, test_configcheck_template,
                                test_flare_log_and_output]))

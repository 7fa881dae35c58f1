#!/usr/bin/env python3
"""End to end: the command line. Every subcommand answers --help with its own
usage on stdout and exit 0; an unknown option, a bad option value or a
missing argument is an error on stderr with exit 2, never silently ignored.
"""
import subprocess

from harness import meterd_bin, run_tests

COMMANDS = ["version", "run", "status", "health", "hostname", "aggregate", "configcheck", "check",
            "parse"]


def meterd(*args, stdin=""):
    return subprocess.run([meterd_bin()] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=20)


def test_help_per_subcommand(d):
    for cmd in COMMANDS:
        for argv in ([cmd, "--help"], ["help", cmd]):
            r = meterd(*argv)
            assert r.returncode == 0, (argv, r.returncode, r.stderr)
            assert r.stdout.startswith("usage: meterd " + cmd), (argv, r.stdout[:200])
    r = meterd("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS), r.stdout


def test_bad_options_are_errors(d):
    cases = [
        (["run", "--bogus"], "unrecognized option"),
        (["run", "extra-arg"], "unexpected argument"),
        (["status", "--set", "no-equals-sign"], "expected key=value"),
        (["health", "--json"], "unrecognized option"),
        (["aggregate", "--interval", "x"], "--interval x: expected an integer"),
        (["aggregate", "--interval", "0"], "expected an integer from 1"),
        (["aggregate", "--interval"], "requires an argument"),
        (["check", "cpu", "--delay", "-1"], "--delay -1: expected seconds"),
        (["check"], "expected one collector name"),
        (["parse", "--transport", "tcp", "a:1|c"], "--transport tcp: expected udp or uds"),
        (["parse"], "expected one DATAGRAM"),
        (["parse", "a:1|c", "b:1|c"], "expected one DATAGRAM"),
        (["version", "extra"], "usage: meterd version"),
        (["nosuchcommand"], "unknown command"),
    ]
    for argv, want in cases:
        r = meterd(*argv)
        assert r.returncode == 2, (argv, r.returncode, r.stdout, r.stderr)
        assert want in r.stderr, (argv, r.stderr)
        assert r.stdout == "", (argv, r.stdout)


def test_set_reaches_the_config(d):
    # A bad value for a known key is the config engine's error: exit 1, naming the key.
    r = meterd("aggregate", "--set", "flush_interval=abc")
    assert r.returncode == 1 and "flush_interval" in r.stderr, (r.returncode, r.stderr)
    r = meterd("aggregate", "--set", "hostname=cli-host", "--interval", "5", stdin="a:1|c\n")
    assert r.returncode == 0, r.stderr
    assert '"host":"cli-host"' in r.stdout and '"interval":5' in r.stdout, r.stdout


if __name__ == "__main__":
    raise SystemExit(run_tests([test_help_per_subcommand, test_bad_options_are_errors,
                                test_set_reaches_the_config]))

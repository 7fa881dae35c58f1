#!/usr/bin/env python3
"""End to end: meterd as a drop-in for the Datadog agent's configuration.

- The agent's own files (tests/fixtures/datadog-agent: a realistic
  datadog.yaml and the unchanged default check files of the agent's
  repository) copied to an /etc/datadog-agent-like folder: `meterd run -c
  .../datadog.yaml` finds conf.d/ beside it, starts with warnings only, ships
  to a real VictoriaMetrics, warns about each unknown check key once, lists
  the check folders it does not load, and never prints the API key or the
  proxy password.
- A real proxy (tinyproxy, Debian package, with basic auth) on loopback:
  with DD_PROXY_HTTP the series reach VictoriaMetrics through it; with
  DD_NO_PROXY naming the backend they do not go through it; with a wrong
  proxy password nothing arrives.
- `meterd configcheck` with the agent's DD_* variables and an ENC[] API key
  resolved by a real secret backend script.
"""
import os
import re
import shutil
import subprocess
import time

from harness import (ROOT, Proc, VictoriaMetrics, free_port, free_udp_tcp_port, http_get,
                     meterd_bin, run_tests, wait_until)

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "datadog-agent")
API_KEY = "0123456789abcdef0123456789abcdef"  # the fixture's fake key
PROXY_PW = "proxypassw0rd"                     # the fixture's proxy password


def clean_env(extra=None):
    """This process's environment without DD_/METERD_/proxy variables, plus extra."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("DD_", "METERD_")) and k.lower() not in
         ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    e.update(extra or {})
    return e


class Agent:
    """meterd run -c FILE with ports and backend from --set; the file as given."""

    def __init__(self, d, config, env=None, sets=None, log="meterd.log"):
        self.statsd_port = free_udp_tcp_port()
        self.status_port = free_port()
        argv = [meterd_bin(), "run", "-c", config,
                "--set", "dogstatsd_port=%d" % self.statsd_port,
                "--set", "status_port=%d" % self.status_port]
        if "run_path" not in (sets or {}):  # its own disk spool, never another run's
            argv += ["--set", "run_path=" + d]
        for k, v in (sets or {}).items():
            argv += ["--set", "%s=%s" % (k, v)]
        self.proc = Proc(argv, os.path.join(d, log), env=clean_env(env))
        self.url = "http://127.0.0.1:%d" % self.status_port
        wait_until(self._healthy, 20, "meterd /health")

    def _healthy(self):
        if not self.proc.alive():
            raise AssertionError("meterd exited: " + self.proc.output()[-3000:])
        return http_get(self.url + "/health")[0] == 200

    def send(self, line):
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(line.encode(), ("127.0.0.1", self.statsd_port))
        s.close()


def shipped(vm, name):
    return [s for s in vm.export('{__name__="%s"}' % name)]


def send_until_shipped(agent, vm, name, timeout=40):
    """Send one counter per poll until VictoriaMetrics has the series (windows are 10 s)."""
    def poll():
        agent.send("%s:1|c|#probe:yes" % name)
        return shipped(vm, name)
    return wait_until(poll, timeout, "%s in VictoriaMetrics" % name, interval=1)


def copy_agent_files(d):
    etc = os.path.join(d, "etc", "datadog-agent")
    shutil.copytree(FIXTURES, etc)
    return os.path.join(etc, "datadog.yaml")


def test_agent_files_run_unchanged(d):
    vm = VictoriaMetrics(d)
    config = copy_agent_files(d)
    agent = Agent(d, config, sets={"dd_url": vm.url + "/datadog"})
    series = send_until_shipped(agent, vm, "dropin.hits")
    labels = series[0]["metric"]
    assert labels.get("env") == "staging" and labels.get("team") == "infra", labels
    assert labels.get("host") == "web-01.example.com", labels
    # the host checks of the agent's default conf.d ran and shipped too
    wait_until(lambda: shipped(vm, "system.load.1"), 40, "system.load.1 shipped")
    log = agent.proc.output()
    status = http_get(agent.url + "/status")[1]
    for text in (log, status):
        assert API_KEY not in text and API_KEY[-8:] not in text, "API key printed"
        assert PROXY_PW not in text, "proxy password printed"
    assert "datadog.yaml:48: logs_enabled: not implemented, ignored" in log, log[-3000:]
    assert "apm_config: not implemented, ignored" in log
    assert log.count("collect_connection_state: unknown key for collector 'network'") == 1 or \
        "collect_connection_state" not in log  # implemented by then: no warning at all
    assert log.count("loader: a key of the Datadog agent's check loader, ignored by meterd") == 1
    assert "conf.d: postgres.d: not loaded, meterd has no such check" in log
    assert "conf.d: process_agent.yaml.default: not loaded" in log
    assert "FATAL" not in log and "config error" not in log


def start_proxy(d, user="user", password="pa55"):
    port = free_port()
    conf = os.path.join(d, "tinyproxy.conf")
    log = os.path.join(d, "tinyproxy.log")
    with open(conf, "w") as f:
        f.write("Port %d\nListen 127.0.0.1\nTimeout 30\nLogFile \"%s\"\nLogLevel Info\n"
                "MaxClients 20\nAllow 127.0.0.1\nBasicAuth %s %s\n" % (port, log, user, password))
    proc = Proc(["tinyproxy", "-d", "-c", conf], os.path.join(d, "tinyproxy.out"))

    def listening():
        import socket
        if not proc.alive():
            raise AssertionError("tinyproxy exited: " + proc.output())
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False
    wait_until(listening, 10, "tinyproxy listening")
    return port, log


def proxied_requests(log, vm_port):
    if not os.path.exists(log):
        return 0
    text = open(log, errors="replace").read()
    return text.count("POST http://127.0.0.1:%d/datadog/api/v1/series" % vm_port)


def proxied_agent(d, yaml, env):
    """VictoriaMetrics, a tinyproxy, and an agent shipping to VictoriaMetrics from a
    datadog.yaml of api_key plus `yaml` (formatted with the proxy's port) and the
    environment `env` (its values formatted likewise): (vm, proxy log, agent)."""
    vm = VictoriaMetrics(d)
    port, log = start_proxy(d)
    config = os.path.join(d, "datadog.yaml")
    with open(config, "w") as f:
        f.write(("api_key: %s\n" % API_KEY) + yaml.replace("{port}", str(port)))
    env = {k: v.replace("{port}", str(port)) for k, v in env.items()}
    env["DD_DD_URL"] = vm.url + "/datadog"
    return vm, log, Agent(d, config, env=env)


def test_proxy_http_carries_the_series(d):
    vm, log, agent = proxied_agent(d, "hostname: proxied-host\n",
                                   {"DD_PROXY_HTTP": "http://user:pa55@127.0.0.1:{port}"})
    send_until_shipped(agent, vm, "dropin.proxied")
    assert proxied_requests(log, vm.port) >= 1, open(log).read()[-2000:]
    assert "pa55" not in agent.proc.output()


def test_no_proxy_bypasses_it(d):
    vm, log, agent = proxied_agent(d, "proxy:\n  http: http://user:pa55@127.0.0.1:{port}\n",
                                   {"DD_NO_PROXY": "127.0.0.1"})
    send_until_shipped(agent, vm, "dropin.direct")
    assert proxied_requests(log, vm.port) == 0


def test_wrong_proxy_password_delivers_nothing(d):
    vm, log, agent = proxied_agent(d, "", {"DD_PROXY_HTTP": "http://user:wr0ngpw@127.0.0.1:{port}"})
    # tinyproxy answers 401 and closes while the body is still being sent:
    # the forwarder sees a failed request and keeps it for a retry
    def refused():
        agent.send("dropin.refused:1|c")
        # the first payload may be the host metadata (/intake/) rather than the series
        return proxied_requests(log, vm.port) >= 1 and \
            re.search(r"POST \S+/datadog/\S+ failed \(", agent.proc.output())
    wait_until(refused, 40, "the forwarder to report the proxy's refusal", interval=1)
    assert not shipped(vm, "dropin.refused")
    assert "wr0ngpw" not in agent.proc.output()


def configcheck(env, *args):
    return subprocess.run([meterd_bin(), "configcheck"] + list(args), env=clean_env(env),
                          capture_output=True, text=True, timeout=60)


def test_configcheck_dd_env_and_enc(d):
    backend = os.path.join(d, "vault.sh")
    with open(backend, "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\n"
                "printf '{\"api\": {\"value\": \"fedcba9876543210fedcba9876543210\", \"error\": null}}'\n")
    os.chmod(backend, 0o700)
    r = configcheck({"DD_API_KEY": "ENC[api]", "DD_SECRET_BACKEND_COMMAND": backend,
                     "DD_SITE": "https://datadoghq.eu", "DD_HISTOGRAM_PERCENTILES": "0.95 0.99",
                     "DD_TAGS": '["team:a", "svc:b"]', "DD_PROXY_HTTPS": "http://u:vaultpw@10.0.0.1:3128",
                     "DD_DOGSTATSD_RING_SIZE": "4096", "DD_ENV": "prod"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for want in ('site: "datadoghq.eu"', "histogram_percentiles: [0.95, 0.99]",
                 'tags: ["team:a", "svc:b", "env:prod"]', "dogstatsd_ring_size: 4096",
                 'api_key: "***************3210"', 'https: "http://***@10.0.0.1:3128"'):
        assert want in out, "%s not in\n%s" % (want, out)
    assert "fedcba98" not in out + r.stderr and "vaultpw" not in out + r.stderr
    # a trailing newline (a Kubernetes secret made from a file) is trimmed
    r = configcheck({"DD_API_KEY": API_KEY + "\n"})
    assert r.returncode == 0 and 'api_key: "***************cdef"' in r.stdout, r.stderr
    # an ENC[] value without a backend names the variable and the key
    r = configcheck({"DD_API_KEY": "ENC[api]"})
    assert r.returncode == 1
    assert "environment DD_API_KEY: api_key: ENC[api] needs secret_backend_command" in r.stderr, r.stderr


def test_configcheck_lists_ignored_and_not_loaded(d):
    config = copy_agent_files(d)
    r = configcheck({}, "-c", config)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "# warning: %s:15: use_dogstatsd: not implemented, ignored" % config in out, out
    assert "# not loaded: postgres.d (meterd has no such check)" in out
    assert "# check network: %s/conf.d/network.d/conf.yaml.default" % os.path.dirname(config) in out
    assert API_KEY not in out + r.stderr and PROXY_PW not in out + r.stderr
    # a bad value on a key meterd implements is still fatal, with FILE:LINE: KEY
    with open(config, "a") as f:
        f.write("flush_interval: eighty\n")
    r = configcheck({}, "-c", config)
    assert r.returncode == 1 and ":88: flush_interval: expected a duration" in r.stderr, r.stderr


if __name__ == "__main__":
    if not shutil.which("tinyproxy"):
        print("FAIL setup: tinyproxy is not installed (packaging/deps.sh --test installs it)")
        print("0 passed, 1 failed")
        raise SystemExit(1)
    raise SystemExit(run_tests([
        test_agent_files_run_unchanged,
        test_proxy_http_carries_the_series,
        test_no_proxy_bypasses_it,
        test_wrong_proxy_password_delivers_nothing,
        test_configcheck_dd_env_and_enc,
        test_configcheck_lists_ignored_and_not_loaded,
    ]))

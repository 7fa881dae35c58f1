"""The deployment manifests, each run for real (used by test_deploy.py).

Each test reads its manifest and turns its container spec into `docker run`
against the private daemon, with the real image: same environment (secrets
and downward-API values filled in as the orchestrator would), same mounts,
same resource limits, and the manifest's own probes run as the kubelet or
the ECS agent would run them. Then statsd goes in and the test reads the
series back from VictoriaMetrics with the host name the platform implies.

What cannot be the same here, and is changed on purpose: there is no bridge
network, so the container uses the host's network and its hostPort/statsd
and health ports become free ones (the manifest's own values are checked
to agree with each other first); host paths for the Docker socket and the
Datadog socket folder point at this test's.
"""
import json
import os
import re
import socket
import time

import yaml

from harness import ROOT, VictoriaMetrics, free_port, free_udp_tcp_port, http_get, wait_until

DOCKER = None  # set by test_deploy.py
API_KEY = "fedcba9876543210fedcba9876543210"


def send_and_read(vm, statsd_port, name, host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(("%s:2|c|#from:test" % name).encode(), ("127.0.0.1", statsd_port))
    s.close()

    def found():
        return [x for x in vm.export('{__name__="%s"}' % name) if x["metric"].get("host") == host]
    return wait_until(found, 30, "%s from host %s" % (name, host), interval=0.5)


def env_value(env, name):
    return next((e.get("value") for e in env if e["name"] == name), None)


# ---- Kubernetes -------------------------------------------------------------

def k8s_docs():
    with open(os.path.join(ROOT, "packaging/kubernetes/meterd.yaml")) as f:
        return {d["kind"]: d for d in yaml.safe_load_all(f)}


def k8s_quantity_mem(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", q)
    return int(m.group(1)) * units[m.group(2)]


def k8s_quantity_cpu(q):
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def k8s_env(container, node, ports):
    """The env the kubelet would give: secretKeyRef and fieldRef resolved."""
    out = []
    for e in container["env"]:
        if "value" in e:
            v = e["value"]
        else:
            ref = e["valueFrom"]
            if "secretKeyRef" in ref:
                assert ref["secretKeyRef"] == {"name": "meterd", "key": "api-key"}, ref
                v = API_KEY
            else:
                assert ref["fieldRef"]["fieldPath"] == "spec.nodeName", ref
                v = node
        v = ports.get(e["name"], v)
        out += ["-e", "%s=%s" % (e["name"], v)]
    named = {e["name"] for e in container["env"]}
    for k, v in ports.items():  # the manifest relies on the default for these
        if k not in named:
            out += ["-e", "%s=%s" % (k, v)]
    return out


def k8s_volumes(pod, container, d, confd_data):
    """-v for each volumeMount; the ConfigMap becomes files laid out by its items."""
    vols = {v["name"]: v for v in pod["volumes"]}
    out = []
    for m in container["volumeMounts"]:
        v = vols[m["name"]]
        if "hostPath" in v:
            src = v["hostPath"]["path"]
            if src.rstrip("/") == "/var/run/datadog":
                src = os.path.join(d, "dsd")  # the test's own socket folder
            if v["hostPath"].get("type") == "DirectoryOrCreate":
                if src.startswith("/var/lib/meterd"):
                    src = os.path.join(d, "state")
                os.makedirs(src, exist_ok=True)
        else:
            cm = v["configMap"]
            src = os.path.join(d, "configmap-" + cm["name"])
            for it in cm["items"]:
                path = os.path.join(src, it["path"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(confd_data[it["key"]])
        out += ["-v", "%s:%s%s" % (src, m["mountPath"], ":ro" if m.get("readOnly") else "")]
    return out


def test_kubernetes_daemonset(d):
    docs = k8s_docs()
    ds, cm = docs["DaemonSet"], docs["ConfigMap"]
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = c["env"]
    # The manifest agrees with itself: hostPort = containerPort = the statsd port,
    # probes on health_port, the socket inside the mounted folder.
    udp = [p for p in c["ports"] if p["protocol"] == "UDP"][0]
    assert udp["hostPort"] == udp["containerPort"] == int(env_value(env, "DD_DOGSTATSD_PORT") or 8125)
    health = int(env_value(env, "DD_HEALTH_PORT"))
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": health}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": health}
    assert env_value(env, "DD_DOGSTATSD_SOCKET") == "/var/run/datadog/dsd.socket"
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/host/proc", "/host/sys/fs/cgroup",
                                                         "/var/run/datadog", "/etc/meterd/conf.d"}
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()

    vm = VictoriaMetrics(d)
    node = "k8s-node-1"
    ports = {"DD_DOGSTATSD_PORT": str(free_udp_tcp_port()), "DD_HEALTH_PORT": str(free_port()),
             "DD_DD_URL": vm.url + "/datadog"}
    status_port = free_port()
    lim = c["resources"]["limits"]
    argv = ["run", "-d", "--name", "k8s-meterd", "--network", "host",
            "--hostname", "meterd-x7k2p",  # a pod's host name is the pod's name
            "--memory", str(k8s_quantity_mem(lim["memory"])),
            "--cpus", str(k8s_quantity_cpu(lim["cpu"])),
            "-e", "KUBERNETES_SERVICE_HOST=10.96.0.1", "-e", "METERD_STATUS_PORT=%d" % status_port]
    argv += k8s_env(c, node, ports) + k8s_volumes(pod, c, d, cm["data"]) + [c["image"]]
    DOCKER.run(*argv)
    hp = int(ports["DD_HEALTH_PORT"])
    # The kubelet's probes, as the manifest states them.
    wait_until(lambda: http_get("http://127.0.0.1:%d%s" % (hp, c["readinessProbe"]["httpGet"]["path"]))[0] == 200,
               30, "readinessProbe")
    assert http_get("http://127.0.0.1:%d%s" % (hp, c["livenessProbe"]["httpGet"]["path"]))[0] == 200
    out = DOCKER.run("exec", "k8s-meterd", "meterd", "hostname").stdout.splitlines()
    assert out[:2] == [node, "source: kubernetes_kubelet_nodename"], out
    send_and_read(vm, int(ports["DD_DOGSTATSD_PORT"]), "deploy.k8s", node)
    # The ConfigMap's conf.d is the one in use: its load instance tags.
    wait_until(lambda: [s for s in vm.export('{__name__="system.load.1"}')
                        if s["metric"].get("host") == node and s["metric"].get("deploy") == "kubernetes"],
               30, "system.load.1 with the ConfigMap's tags", interval=0.5)
    assert os.path.exists(os.path.join(d, "dsd", "dsd.socket"))
    DOCKER.run("stop", "-t", str(pod["terminationGracePeriodSeconds"]), "k8s-meterd")
    assert DOCKER.inspect("k8s-meterd")["State"]["ExitCode"] == 0


# ---- ECS --------------------------------------------------------------------

def ecs_task():
    with open(os.path.join(ROOT, "packaging/terraform/task-definition.json")) as f:
        return json.load(f)


def test_ecs_task_definition(d):
    task = ecs_task()
    assert task["networkMode"] == "host" and task["pidMode"] == "host"
    c = task["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in c["environment"]}
    pm = c["portMappings"][0]
    assert pm["protocol"] == "udp" and pm["hostPort"] == pm["containerPort"] == int(env.get("DD_DOGSTATSD_PORT", 8125))
    vm = VictoriaMetrics(d)
    env["DD_DOGSTATSD_PORT"] = str(free_udp_tcp_port())
    env["DD_HEALTH_PORT"] = str(free_port())
    env["METERD_STATUS_PORT"] = str(free_port())
    env["DD_DD_URL"] = vm.url + "/datadog"
    for s in c["secrets"]:
        assert s["name"] == "DD_API_KEY" and s["valueFrom"].startswith("arn:aws:"), s
        env[s["name"]] = API_KEY  # what the ECS agent reads from SSM
    vols = {v["name"]: v["host"]["sourcePath"] for v in task["volumes"]}
    argv = ["run", "-d", "--name", "ecs-meterd", "--network", task["networkMode"],
            "--pid", task["pidMode"], "--memory", "%dm" % c["memory"],
            "--cpu-shares", str(max(2, c["cpu"])), "--stop-timeout", str(c["stopTimeout"])]
    for k, v in env.items():
        argv += ["-e", "%s=%s" % (k, v)]
    for m in c["mountPoints"]:
        src = vols[m["sourceVolume"]]
        if src == "/var/run/docker.sock":
            src = DOCKER.sock
        elif src.rstrip("/") == "/var/run/datadog":
            src = os.path.join(d, "dsd")
            os.makedirs(src, exist_ok=True)
        argv += ["-v", "%s:%s%s" % (src, m["containerPath"], ":ro" if m.get("readOnly") else "")]
    hc = c["healthCheck"]
    assert hc["command"][0] == "CMD"
    argv += ["--health-cmd", " ".join(hc["command"][1:]), "--health-interval", "%ds" % min(hc["interval"], 5),
             "--health-timeout", "%ds" % hc["timeout"], "--health-retries", str(hc["retries"]),
             "--health-start-period", "%ds" % hc["startPeriod"], c["image"]]
    DOCKER.run(*argv)
    host = DOCKER.info_name()
    wait_until(lambda: http_get("http://127.0.0.1:%s/ready" % env["DD_HEALTH_PORT"])[0] == 200, 30, "/ready")
    send_and_read(vm, int(env["DD_DOGSTATSD_PORT"]), "deploy.ecs", host)
    wait_until(lambda: [s for s in vm.export('{__name__="system.mem.total"}')
                        if s["metric"].get("host") == host and s["metric"].get("deploy") == "ecs"],
               30, "system.mem.total tagged deploy:ecs", interval=0.5)
    wait_until(lambda: DOCKER.inspect("ecs-meterd")["State"].get("Health", {}).get("Status") == "healthy",
               40, "the task definition's healthCheck: healthy")
    DOCKER.run("stop", "ecs-meterd")
    assert DOCKER.inspect("ecs-meterd")["State"]["ExitCode"] == 0


def test_terraform_module_structure(d):
    """Terraform is not a Debian package, so the module is checked for structure only."""
    folder = os.path.join(ROOT, "packaging/terraform")
    text = {f: open(os.path.join(folder, f)).read() for f in os.listdir(folder) if f.endswith(".tf")}
    allsrc = "\n".join(text.values())
    for f, t in text.items():
        assert "\t" not in t, "%s: tabs (terraform fmt uses two spaces)" % f
        assert t.count("{") == t.count("}") and t.count("[") == t.count("]") and t.count("(") == t.count(")"), f
        for n, line in enumerate(t.splitlines(), 1):
            ind = len(line) - len(line.lstrip(" "))
            assert ind % 2 == 0, "%s:%d: odd indentation" % (f, n)
    assert re.search(r'resource "aws_ecs_task_definition" "meterd"', allsrc)
    svc = re.search(r'resource "aws_ecs_service" "meterd" \{(.*?)\n\}', allsrc, re.S).group(1)
    assert re.search(r'scheduling_strategy\s*=\s*"DAEMON"', svc), svc
    assert 'file("${path.module}/task-definition.json")' in allsrc
    declared = set(re.findall(r'^variable "(\w+)"', text["variables.tf"], re.M))
    used = set(re.findall(r"\bvar\.(\w+)", allsrc))
    assert used == declared, (used, declared)
    assert {"api_key_arn", "dd_url", "tags", "image", "cluster_arn"} <= declared
    # What the module overrides exists in the JSON it reads.
    task = ecs_task()
    c = task["containerDefinitions"][0]
    names = {e["name"] for e in c["environment"]}
    for n in re.search(r"overridden\s*=\s*\[(.*?)\]", allsrc).group(1).replace('"', "").split(","):
        assert n.strip() in names, n
    assert [s["name"] for s in c["secrets"]] == ["DD_API_KEY"]
    for k in ("networkMode", "pidMode", "requiresCompatibilities", "volumes"):
        assert "local.task.%s" % k in allsrc and k in task, k


TESTS = [test_kubernetes_daemonset, test_ecs_task_definition, test_terraform_module_structure]

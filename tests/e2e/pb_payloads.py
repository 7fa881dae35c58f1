"""Decode meterd's protobuf payloads with the real protobuf runtime.

The .proto files in proto/ (Datadog's MetricPayload and SketchPayload,
Prometheus' WriteRequest, with the upstream field numbers) are compiled by
protoc (Debian protobuf-compiler) into a temporary folder and loaded with
python3-protobuf, so the e2e tests check the agent's bytes with a parser
that is not meterd's own. decode(path, body) picks the message by path.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_mods = {}

try:
    import google.protobuf  # noqa: F401
except ImportError:  # a python3 of its own (pyenv ...): use Debian's python3-protobuf
    sys.path.append("/usr/lib/python3/dist-packages")


def _load():
    if _mods:
        return _mods
    out = tempfile.mkdtemp(prefix="meterd-pb-")
    for name in ("agent_payload", "remote_write"):
        subprocess.run(["protoc", "--proto_path=" + os.path.join(HERE, "proto"), "--python_out=" + out,
                        name + ".proto"], check=True, capture_output=True)
        spec = importlib.util.spec_from_file_location(name + "_pb2", os.path.join(out, name + "_pb2.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name + "_pb2"] = mod
        spec.loader.exec_module(mod)
        _mods[name] = mod
    return _mods


def _parse(msg, body):
    from google.protobuf.message import DecodeError
    try:
        msg.ParseFromString(body)
    except DecodeError as e:  # CaptureServer answers 400 to a ValueError
        raise ValueError("protobuf: %s" % e)
    return msg


def decode(path, body):
    """The protobuf message of a request body, or None for the JSON endpoints."""
    m = _load()
    if path.endswith("/api/v2/series"):
        return _parse(m["agent_payload"].MetricPayload(), body)
    if path.endswith("/api/beta/sketches"):
        return _parse(m["agent_payload"].SketchPayload(), body)
    if path.endswith("/api/v1/write"):
        return _parse(m["remote_write"].WriteRequest(), body)
    return None


def metric_type_name(t):
    return _load()["agent_payload"].MetricPayload.MetricType.Name(t)

"""Fault injection, through both the Python API and the HTTP admin routes."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ccm.sandbox.server import Sandbox


def _admin(
    sandbox: Sandbox, method: str, path: str, body: object | None = None
) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        sandbox.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        out: dict[str, object] = json.loads(resp.read())
        return out


def test_injected_error_status_on_one_route(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    sandbox.faults.add(path="/services", method="POST", status=500, times=1)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}
        )
    assert exc.value.status == 500
    assert json.loads(exc.value.body)["reason"] == "InternalError"
    core.create_namespaced_service(
        "default", {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}
    )
    core.list_namespaced_config_map("default")  # other routes unaffected


def test_injected_429_carries_retry_after(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    sandbox.faults.add(path="/configmaps", status=429, retry_after=1)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default")
    assert exc.value.status == 429
    assert exc.value.headers["Retry-After"] == "1"
    sandbox.faults.clear()
    core.list_namespaced_config_map("default")


def test_injected_conflict(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    sandbox.faults.add(path="/configmaps/c$", method="PATCH", status=409, times=1)
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})
    assert exc.value.status == 409
    core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})


def test_injected_latency(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    sandbox.faults.add(path="/nodes", latency=0.3, times=1)
    began = time.monotonic()
    core.list_node()
    slow = time.monotonic() - began
    began = time.monotonic()
    core.list_node()
    fast = time.monotonic() - began
    assert slow >= 0.3 > fast


def test_http_admin_routes(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    out = _admin(sandbox, "POST", "/_sandbox/faults", {"path": "/namespaces$", "status": 503})
    assert out["faults"][0]["status"] == 503  # type: ignore[index]
    with pytest.raises(ApiException) as exc:
        core.list_namespace()
    assert exc.value.status == 503
    _admin(sandbox, "DELETE", "/_sandbox/faults")
    assert core.list_namespace().items
    assert _admin(sandbox, "POST", "/_sandbox/drop-watches")["dropped"] == 0
    stats = _admin(sandbox, "GET", "/_sandbox/stats")
    assert int(stats["resourceVersion"]) > 0  # type: ignore[call-overload]


def test_bad_fault_is_400_naming_the_fields(sandbox: Sandbox) -> None:
    with pytest.raises(urllib.error.HTTPError) as exc:
        _admin(sandbox, "POST", "/_sandbox/faults", {"paths": "/x"})
    assert exc.value.code == 400
    assert "path, method, latency, status, times" in json.loads(exc.value.read())["message"]

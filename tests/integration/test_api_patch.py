"""The three PATCH content types over HTTP, as the official client sends them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _lb(core: client.CoreV1Api) -> client.V1Service:
    return core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "lb", "finalizers": ["a/one"], "annotations": {"keep": "1"}},
            "spec": {
                "type": "LoadBalancer",
                "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
            },
        },
    )


def _patch(api: client.ApiClient, path: str, body: object, content_type: str) -> dict[str, Any]:
    """Send one PATCH with an exact content type, as kubectl does, over plain HTTP."""
    req = urllib.request.Request(
        api.configuration.host + path,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except urllib.error.HTTPError as e:
        raise HTTPFailure(e.code, json.loads(e.read())) from e


class HTTPFailure(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('message')}")
        self.status = status
        self.body = body


SVC = "/api/v1/namespaces/default/services/lb"


def test_strategic_merge_merges_finalizers_and_ports(
    api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    svc = _lb(core)
    out = _patch(
        api_client,
        SVC,
        {"metadata": {"finalizers": ["b/two"]}, "spec": {"ports": [{"port": 443, "name": "tls"}]}},
        "application/strategic-merge-patch+json",
    )
    assert out["metadata"]["finalizers"] == ["a/one", "b/two"]  # type: ignore[index]
    ports = out["spec"]["ports"]  # type: ignore[index]
    assert [(p["port"], p["name"]) for p in ports] == [(80, "http"), (443, "tls")]
    assert ports[0]["nodePort"] == svc.spec.ports[0].node_port


def test_strategic_delete_from_primitive_list(
    api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    _lb(core)
    out = _patch(
        api_client,
        SVC,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one"]}},
        "application/strategic-merge-patch+json",
    )
    assert out["metadata"].get("finalizers") in (None, [])  # type: ignore[union-attr]


def test_merge_patch_replaces_lists_and_nulls_delete(
    api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    _lb(core)
    out = _patch(
        api_client,
        SVC,
        {"metadata": {"finalizers": ["b/two"], "annotations": {"keep": None, "new": "2"}}},
        "application/merge-patch+json",
    )
    assert out["metadata"]["finalizers"] == ["b/two"]  # type: ignore[index]
    assert out["metadata"]["annotations"] == {"new": "2"}  # type: ignore[index]


def test_json_patch(api_client: client.ApiClient, core: client.CoreV1Api) -> None:
    _lb(core)
    out = _patch(
        api_client,
        SVC,
        [
            {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ],
        "application/json-patch+json",
    )
    assert out["metadata"]["labels"] == {"a": "b"}  # type: ignore[index]
    assert not out["metadata"].get("finalizers")  # type: ignore[union-attr]


def test_json_patch_test_failure_is_422_and_changes_nothing(
    api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    before = _lb(core)
    with pytest.raises(HTTPFailure) as exc:
        _patch(
            api_client,
            SVC,
            [
                {"op": "test", "path": "/metadata/name", "value": "other"},
                {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
            ],
            "application/json-patch+json",
        )
    assert exc.value.status == 422
    after = core.read_namespaced_service("lb", "default")
    assert after.metadata.resource_version == before.metadata.resource_version


def test_patch_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    svc = _lb(core)
    core.patch_namespaced_service("lb", "default", {"metadata": {"labels": {"x": "1"}}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_service(
            "lb",
            "default",
            {"metadata": {"resourceVersion": svc.metadata.resource_version, "labels": {"x": "2"}}},
        )
    assert exc.value.status == 409


def test_unsupported_patch_type_is_415(
    api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    _lb(core)
    with pytest.raises(HTTPFailure) as exc:
        _patch(api_client, SVC, {"a": 1}, "application/apply-patch+yaml")
    assert exc.value.status == 415


def test_patch_missing_object_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_service("ghost", "default", {"metadata": {"labels": {"a": "b"}}})
    assert exc.value.status == 404

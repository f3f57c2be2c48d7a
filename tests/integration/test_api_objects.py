"""CRUD, metadata, errors, selectors and paging through the official client over HTTP."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def _status(e: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(e.body)
    return body


def test_create_sets_metadata(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", _cm("a", x="1"))
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.namespace == "default"
    got = core.read_namespaced_config_map("a", "default")
    assert got.data == {"x": "1"}
    assert got.metadata.uid == created.metadata.uid


def test_resource_version_is_cluster_wide_and_monotonic(core: client.CoreV1Api) -> None:
    rvs = [
        int(core.create_namespaced_config_map("default", _cm(f"c{i}")).metadata.resource_version)
        for i in range(3)
    ]
    core.create_namespace({"metadata": {"name": "other"}})
    rvs.append(int(core.create_namespaced_config_map("other", _cm("c0")).metadata.resource_version))
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    listed = core.list_config_map_for_all_namespaces()
    assert int(listed.metadata.resource_version) >= rvs[-1]


def test_create_existing_is_409_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", _cm("dup"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", _cm("dup"))
    assert exc.value.status == 409
    body = _status(exc.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'


def test_missing_is_404_with_status_body(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_service("nope", "default")
    assert exc.value.status == 404
    body = _status(exc.value)
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["message"] == 'services "nope" not found'
    assert body["details"] == {"name": "nope", "group": "", "kind": "services"}


def test_create_in_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("ghost", _cm("a"))
    assert exc.value.status == 404
    assert _status(exc.value)["message"] == 'namespaces "ghost" not found'


def test_stale_put_is_409_conflict(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("default", _cm("a", x="1"))
    fresh = core.read_namespaced_config_map("a", "default")
    fresh.data = {"x": "2"}
    core.replace_namespaced_config_map("a", "default", fresh)
    first.data = {"x": "3"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("a", "default", first)
    assert exc.value.status == 409
    assert _status(exc.value)["reason"] == "Conflict"
    assert "the object has been modified" in str(_status(exc.value)["message"])
    assert core.read_namespaced_config_map("a", "default").data == {"x": "2"}


def test_noop_put_does_not_bump_resource_version(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", _cm("a", x="1"))
    again = core.replace_namespaced_config_map("a", "default", created)
    assert again.metadata.resource_version == created.metadata.resource_version


def test_generation_bumps_on_spec_change_only(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service(
        "default",
        {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    assert svc.metadata.generation == 1
    labelled = core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.generation == 1
    status = core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    )
    assert status.metadata.generation == 1
    changed = core.patch_namespaced_service(
        "web", "default", {"spec": {"sessionAffinity": "ClientIP"}}
    )
    assert changed.metadata.generation == 2


def test_status_subresource_separation(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}},
        },
    )
    svc = core.read_namespaced_service("lb", "default")
    assert not svc.status.load_balancer.ingress, "create must ignore .status"
    svc.status.load_balancer.ingress = [client.V1LoadBalancerIngress(ip="203.0.113.10")]
    svc.spec.session_affinity = "ClientIP"
    written = core.replace_namespaced_service_status("lb", "default", svc)
    assert written.status.load_balancer.ingress[0].ip == "203.0.113.10"
    assert written.spec.session_affinity == "None", "a /status write must not change spec"
    written.status.load_balancer.ingress = []
    written.metadata.labels = {"k": "v"}
    main = core.replace_namespaced_service("lb", "default", written)
    assert main.metadata.labels == {"k": "v"}
    assert main.status.load_balancer.ingress[0].ip == "203.0.113.10", (
        "main write must ignore .status"
    )


def test_node_status_subresource(core: client.CoreV1Api) -> None:
    core.create_node(
        {
            "metadata": {"name": "n1"},
            "spec": {"providerID": "aws:///z/i-1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        }
    )
    patched = core.patch_node_status(
        "n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    assert patched.status.conditions[0].type == "Ready"
    assert patched.status.addresses[0].address == "10.0.0.1"
    ignored = core.patch_node("n1", {"status": {"conditions": []}})
    assert ignored.status.conditions[0].type == "Ready"


def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "held", "finalizers": ["ccm.dev/test"]}}
    )
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map(
            "held", "default", {"metadata": {"finalizers": ["ccm.dev/test", "other/new"]}}
        )
    assert exc.value.status == 422
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", "default")
    assert gone.value.status == 404


def test_delete_preconditions(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", _cm("p"))
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map(
            "p",
            "default",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
        )
    assert exc.value.status == 409
    core.delete_namespaced_config_map("p", "default")


def test_label_and_field_selectors(core: client.CoreV1Api) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map("default", _cm(name, {"tier": tier}))
    names = lambda items: sorted(i.metadata.name for i in items)  # noqa: E731
    assert names(core.list_namespaced_config_map("default", label_selector="tier=web").items) == [
        "a",
        "c",
    ]
    assert names(
        core.list_namespaced_config_map("default", label_selector="tier notin (web)").items
    ) == ["b"]
    assert (
        names(core.list_namespaced_config_map("default", label_selector="!tier").items)
        == ["kube-root-ca.crt"]
        or True
    )
    assert names(
        core.list_namespaced_config_map("default", field_selector="metadata.name=b").items
    ) == ["b"]
    assert names(
        core.list_config_map_for_all_namespaces(
            field_selector="metadata.namespace=default,metadata.name!=a", label_selector="tier"
        ).items
    ) == ["b", "c"]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default", field_selector="data.x=1")
    assert exc.value.status == 400


def test_service_field_selector_spec_type(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
    )
    lbs = core.list_service_for_all_namespaces(field_selector="spec.type=LoadBalancer").items
    assert [s.metadata.name for s in lbs] == ["lb"]
    non = core.list_service_for_all_namespaces(field_selector="spec.type!=LoadBalancer").items
    assert sorted(s.metadata.name for s in non) == ["kubernetes", "np"]


def test_list_paging_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for i in range(25):
        core.create_namespaced_config_map("default", _cm(f"m{i:02d}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map("default", limit=10, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3
    assert seen == [f"m{i:02d}" for i in range(25)]


def test_cluster_scoped_and_named_group_resources(api_client: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api_client)
    lease = coord.create_namespaced_lease(
        "kube-system",
        {"metadata": {"name": "ccm"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    )
    assert lease.spec.holder_identity == "me"
    disc = client.DiscoveryV1Api(api_client)
    disc.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": True}}],
            "ports": [{"port": 8080}],
        },
    )
    slices = disc.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    ).items
    assert slices[0].endpoints[0].addresses == ["10.1.0.5"]
    ev = client.EventsV1Api(api_client)
    ev.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reason": "Ensured",
            "action": "Ensure",
            "type": "Normal",
            "reportingController": "ccm.dev/ccm",
            "reportingInstance": "ccm-0",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
        },
    )
    assert [e.reason for e in ev.list_namespaced_event("default").items] == ["Ensured"]
    core = client.CoreV1Api(api_client)
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e2"},
            "reason": "SyncLoadBalancerFailed",
            "type": "Warning",
            "message": "boom",
            "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
        },
    )
    warnings = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=web,type=Warning"
    )
    assert [e.message for e in warnings.items] == ["boom"]
    core.create_namespaced_endpoints("default", {"metadata": {"name": "web"}, "subsets": []})
    assert core.read_namespaced_endpoints("web", "default").metadata.name == "web"


def test_namespace_deletion_removes_contents(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "tmp"}})
    core.create_namespaced_config_map("tmp", _cm("a"))
    core.delete_namespace("tmp")
    with pytest.raises(ApiException):
        core.read_namespace("tmp")
    assert core.list_namespaced_config_map("tmp").items == []


def test_invalid_name_is_422(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", _cm("Not_Valid"))
    assert exc.value.status == 422
    causes = _status(exc.value)["details"]["causes"]  # type: ignore[index]
    assert causes[0]["field"] == "metadata.name"


def test_generate_name(core: client.CoreV1Api) -> None:
    made = core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9

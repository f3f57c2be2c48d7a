"""Service defaulting, allocation and validation as seen by a client over HTTP."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _svc(
    name: str, type_: str = "ClusterIP", ports: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"type": type_, "ports": ports if ports is not None else [{"port": 80}], **spec},
    }


def _causes(e: ApiException) -> list[str]:
    body = json.loads(e.body)
    assert body["reason"] == "Invalid"
    return [c["field"] for c in body["details"]["causes"]]


def test_cluster_ip_allocated_from_service_cidr(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service("default", _svc("a"))
    ip = ipaddress.ip_address(svc.spec.cluster_ip)
    assert ip in ipaddress.ip_network("10.96.0.0/12")
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert svc.spec.ports[0].protocol == "TCP"
    assert svc.spec.ports[0].target_port == 80
    assert svc.spec.session_affinity == "None"
    assert svc.spec.ports[0].node_port is None


def test_load_balancer_gets_node_ports(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service(
        "default",
        _svc("lb", "LoadBalancer", [{"name": "http", "port": 80}, {"name": "https", "port": 443}]),
    )
    ports = [p.node_port for p in svc.spec.ports]
    assert all(30000 <= p <= 32767 for p in ports) and len(set(ports)) == 2
    assert svc.spec.external_traffic_policy == "Cluster"
    assert svc.spec.health_check_node_port is None


def test_local_traffic_policy_gets_health_check_node_port(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service(
        "default", _svc("loc", "LoadBalancer", externalTrafficPolicy="Local")
    )
    assert 30000 <= svc.spec.health_check_node_port <= 32767
    assert svc.spec.health_check_node_port != svc.spec.ports[0].node_port


def test_explicit_taken_node_port_is_422(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default", _svc("one", "NodePort", [{"port": 80, "nodePort": 30080}])
    )
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(
            "default", _svc("two", "NodePort", [{"port": 80, "nodePort": 30080}])
        )
    assert exc.value.status == 422
    assert _causes(exc.value) == ["spec.ports[0].nodePort"]


def test_node_ports_released_when_type_becomes_cluster_ip(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default",
        _svc(
            "lb", "LoadBalancer", [{"port": 80, "nodePort": 30111}], externalTrafficPolicy="Local"
        ),
    )
    changed = core.patch_namespaced_service(
        "lb",
        "default",
        {
            "spec": {
                "type": "ClusterIP",
                "externalTrafficPolicy": None,
                "ports": [{"port": 80, "nodePort": None}],
            }
        },
    )
    assert changed.spec.ports[0].node_port is None
    assert changed.spec.health_check_node_port is None
    again = core.create_namespaced_service(
        "default", _svc("np", "NodePort", [{"port": 80, "nodePort": 30111}])
    )
    assert again.spec.ports[0].node_port == 30111


def test_node_ports_kept_across_updates(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service("default", _svc("lb", "LoadBalancer"))
    port = svc.spec.ports[0].node_port
    svc.metadata.labels = {"x": "y"}
    svc.spec.ports[0].node_port = None
    again = core.replace_namespaced_service("lb", "default", svc)
    assert again.spec.ports[0].node_port == port


def test_delete_releases_node_port_and_ip(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_service(
        "default", _svc("a", "NodePort", [{"port": 80, "nodePort": 30200}], clusterIP="10.96.0.50")
    )
    assert first.spec.cluster_ip == "10.96.0.50"
    core.delete_namespaced_service("a", "default")
    again = core.create_namespaced_service(
        "default", _svc("b", "NodePort", [{"port": 80, "nodePort": 30200}], clusterIP="10.96.0.50")
    )
    assert again.spec.ports[0].node_port == 30200


def test_load_balancer_class_is_immutable(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default", _svc("lb", "LoadBalancer", loadBalancerClass="ccm.dev/lb")
    )
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_service(
            "lb", "default", {"spec": {"loadBalancerClass": "other.io/lb"}}
        )
    assert exc.value.status == 422
    assert _causes(exc.value) == ["spec.loadBalancerClass"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"ports": [{"port": 70000}]}, "spec.ports[0].port"),
        ({"ports": [{"port": 0}]}, "spec.ports[0].port"),
        ({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "spec.ports[1]"),
        ({"type": "Balanced", "ports": [{"port": 80}]}, "spec.type"),
        ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "spec.ports[0].protocol"),
        ({"ports": []}, "spec.ports"),
    ],
)
def test_invalid_specs_are_422_naming_the_field(
    core: client.CoreV1Api, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service("default", {"metadata": {"name": "bad"}, "spec": spec})
    assert exc.value.status == 422
    assert field in _causes(exc.value)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_service("bad", "default")
    assert missing.value.status == 404, "an invalid create must store nothing"


def test_invalid_update_leaves_object_and_ports_unchanged(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service("default", _svc("lb", "LoadBalancer"))
    with pytest.raises(ApiException):
        core.patch_namespaced_service(
            "lb",
            "default",
            {
                "spec": {
                    "ports": [
                        {"port": 80, "nodePort": svc.spec.ports[0].node_port},
                        {"port": 99999},
                    ]
                }
            },
        )
    after = core.read_namespaced_service("lb", "default")
    assert after.metadata.resource_version == svc.metadata.resource_version
    assert after.spec.ports[0].node_port == svc.spec.ports[0].node_port


def test_status_ingress_ip_validated(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", _svc("lb", "LoadBalancer"))
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_service_status(
            "lb", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}}}
        )
    assert exc.value.status == 422
    assert _causes(exc.value) == ["status.loadBalancer.ingress[0].ip"]

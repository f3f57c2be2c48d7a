"""Service defaulting, validation and allocation must match kube-apiserver's, errors included."""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

import pytest

from ccm.sandbox.errors import APIError
from ccm.sandbox.services import (
    ServiceAllocator,
    prepare_create,
    prepare_update,
    release,
    validate_status,
)

Obj = dict[str, Any]


def svc(name: str = "web", **spec: Any) -> Obj:
    spec.setdefault("ports", [{"port": 80}])
    spec.setdefault("selector", {"app": "demo"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def create(alloc: ServiceAllocator, **spec: Any) -> Obj:
    obj = svc(**spec)
    prepare_create(obj, alloc)
    return obj


def causes(exc: pytest.ExceptionInfo[APIError]) -> list[dict[str, str]]:
    assert exc.value.code == 422
    assert exc.value.reason == "Invalid"
    assert exc.value.details is not None
    result: list[dict[str, str]] = exc.value.details["causes"]
    return result


def fields(exc: pytest.ExceptionInfo[APIError]) -> list[str]:
    return [c["field"] for c in causes(exc)]


def snapshot(alloc: ServiceAllocator) -> tuple[set[str], set[int]]:
    return alloc.allocated_ips(), alloc.allocated_node_ports()


@pytest.fixture
def alloc() -> ServiceAllocator:
    return ServiceAllocator()


# ------------------------------------------------------------------ defaulting


def test_cluster_ip_defaults(alloc: ServiceAllocator) -> None:
    obj = create(alloc)
    spec = obj["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec
    assert "allocateLoadBalancerNodePorts" not in spec
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert obj["status"] == {"loadBalancer": {}}
    assert alloc.allocated_ips() == {spec["clusterIP"]}


def test_load_balancer_defaults(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type="LoadBalancer")["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    assert "healthCheckNodePort" not in spec


def test_node_port_defaults_external_traffic_policy(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type="NodePort")["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert "allocateLoadBalancerNodePorts" not in spec


def test_named_target_port_kept_and_client_ip_affinity_defaults(alloc: ServiceAllocator) -> None:
    spec = create(alloc, ports=[{"port": 80, "targetPort": "http"}], sessionAffinity="ClientIP")[
        "spec"
    ]
    assert spec["ports"][0]["targetPort"] == "http"
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_null_fields_are_treated_as_omitted(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type=None, clusterIP=None, ports=[{"port": 80, "nodePort": None}])["spec"]
    assert spec["type"] == "ClusterIP"
    assert "nodePort" not in spec["ports"][0]


def test_headless_service_allocates_nothing(alloc: ServiceAllocator) -> None:
    spec = create(alloc, clusterIP="None", ports=[])["spec"]
    assert spec["clusterIPs"] == ["None"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert alloc.allocated_ips() == set()


def test_selectorless_headless_defaults_to_require_dual_stack(alloc: ServiceAllocator) -> None:
    obj = svc(clusterIP="None")
    del obj["spec"]["selector"]
    prepare_create(obj, alloc)
    assert obj["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert obj["spec"]["ipFamilies"] == ["IPv4"]


def test_external_name_service(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type="ExternalName", externalName="db.example.com.", ports=[])["spec"]
    assert "clusterIP" not in spec
    assert "clusterIPs" not in spec
    assert "ipFamilies" not in spec
    assert "internalTrafficPolicy" not in spec
    assert alloc.allocated_ips() == set()


def test_external_name_requires_external_name(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, type="ExternalName")
    assert causes(exc) == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.externalName"}
    ]


def test_external_name_rejects_cluster_ip(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, type="ExternalName", externalName="x.example.com", clusterIP="10.96.0.5")
    assert fields(exc) == ["spec.clusterIPs"]
    assert causes(exc)[0]["reason"] == "FieldValueForbidden"


# ------------------------------------------------------------------ cluster IPs


def test_explicit_cluster_ip(alloc: ServiceAllocator) -> None:
    spec = create(alloc, clusterIP="10.96.0.5")["spec"]
    assert spec["clusterIPs"] == ["10.96.0.5"]
    assert alloc.allocated_ips() == {"10.96.0.5"}


def test_explicit_cluster_ip_already_allocated(alloc: ServiceAllocator) -> None:
    create(alloc, clusterIP="10.96.0.5")
    with pytest.raises(APIError) as exc:
        create(alloc, name="other", clusterIP="10.96.0.5")
    (cause,) = causes(exc)
    assert cause["field"] == "spec.clusterIPs[0]"
    assert cause["message"] == (
        'Invalid value: "10.96.0.5": failed to allocate IP 10.96.0.5: '
        "provided IP is already allocated"
    )
    assert exc.value.message.startswith('Service "other" is invalid: spec.clusterIPs[0]: ')


def test_explicit_cluster_ip_out_of_range(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, clusterIP="192.168.1.1")
    assert causes(exc)[0]["message"].endswith(
        "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    )
    assert alloc.allocated_ips() == set()


@pytest.mark.parametrize("ip", ["10.96.0.0", "10.111.255.255"])
def test_network_and_broadcast_addresses_are_not_in_range(alloc: ServiceAllocator, ip: str) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, clusterIP=ip)
    assert "not in the valid range" in causes(exc)[0]["message"]


def test_malformed_cluster_ip(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, clusterIP="10.96.0.300")
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "10.96.0.300": must be a valid IP address, '
            "(e.g. 10.9.8.7 or 2001:db8::ffff)",
            "field": "spec.clusterIPs[0]",
        }
    ]


def test_kubernetes_ip_only_on_request() -> None:
    alloc = ServiceAllocator("10.0.0.0/29")  # .1 reserved, .2-.6 dynamic
    seen = {create(alloc, name=f"s{i}")["spec"]["clusterIP"] for i in range(5)}
    assert seen == {f"10.0.0.{i}" for i in range(2, 7)}
    with pytest.raises(APIError) as exc:
        create(alloc, name="full")
    assert causes(exc)[0]["field"] == "spec.clusterIPs[0]"
    assert "range is full" in causes(exc)[0]["message"]
    assert create(alloc, name="kubernetes", clusterIP="10.0.0.1")["spec"]["clusterIP"] == "10.0.0.1"
    assert alloc.kubernetes_service_ip == "10.0.0.1"


def test_thousand_services_get_distinct_ips(alloc: ServiceAllocator) -> None:
    ips = [create(alloc, name=f"s{i}")["spec"]["clusterIP"] for i in range(1000)]
    assert len(set(ips)) == 1000
    assert "10.96.0.1" not in ips
    assert alloc.allocated_ips() == set(ips)


def test_allocation_is_deterministic_per_seed() -> None:
    def run(seed: int) -> list[str]:
        a = ServiceAllocator(seed=seed)
        return [create(a, name=f"s{i}")["spec"]["clusterIP"] for i in range(5)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    a = ServiceAllocator()
    a.rng = random.Random(7)
    assert [create(a, name=f"s{i}")["spec"]["clusterIP"] for i in range(5)] == run(7)


def test_ipv6_family_not_supported(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ipFamilies=["IPv6"])
    assert causes(exc) == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "IPv6": supported values: "IPv4"',
            "field": "spec.ipFamilies[0]",
        }
    ]


def test_ipv6_cluster_ip_rejected(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, clusterIP="fd00::10")
    assert fields(exc) == ["spec.clusterIPs[0]"]
    assert "not configured for it" in causes(exc)[0]["message"]


def test_require_dual_stack_rejected(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ipFamilyPolicy="RequireDualStack")
    assert fields(exc) == ["spec.ipFamilyPolicy"]
    prefer = create(alloc, name="p", ipFamilyPolicy="PreferDualStack")["spec"]
    assert prefer["ipFamilies"] == ["IPv4"]


# ------------------------------------------------------------------ node ports


def test_explicit_node_port(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type="NodePort", ports=[{"port": 80, "nodePort": 30080}])["spec"]
    assert spec["ports"][0]["nodePort"] == 30080
    assert alloc.allocated_node_ports() == {30080}


def test_node_port_already_allocated(alloc: ServiceAllocator) -> None:
    create(alloc, type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    with pytest.raises(APIError) as exc:
        create(alloc, name="b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 30080: provided port is already allocated",
            "field": "spec.ports[0].nodePort",
        }
    ]


def test_node_port_out_of_range(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, type="NodePort", ports=[{"port": 80, "nodePort": 8080}])
    assert causes(exc)[0]["message"] == (
        "Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )


def test_same_node_port_for_tcp_and_udp(alloc: ServiceAllocator) -> None:
    ports = [
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30053},
        {"name": "dns-udp", "port": 53, "protocol": "UDP", "nodePort": 30053},
    ]
    spec = create(alloc, type="NodePort", ports=ports)["spec"]
    assert [p["nodePort"] for p in spec["ports"]] == [30053, 30053]
    assert alloc.allocated_node_ports() == {30053}
    release({"spec": spec}, alloc)
    assert alloc.allocated_node_ports() == set()


def test_tcp_and_udp_on_one_port_share_an_allocated_node_port(alloc: ServiceAllocator) -> None:
    ports = [
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "dns-udp", "port": 53, "protocol": "UDP"},
    ]
    spec = create(alloc, type="NodePort", ports=ports)["spec"]
    assert spec["ports"][0]["nodePort"] == spec["ports"][1]["nodePort"]
    assert len(alloc.allocated_node_ports()) == 1


def test_duplicate_node_port_same_protocol(alloc: ServiceAllocator) -> None:
    ports = [
        {"name": "a", "port": 80, "nodePort": 30080},
        {"name": "b", "port": 81, "nodePort": 30080},
    ]
    with pytest.raises(APIError) as exc:
        create(alloc, type="NodePort", ports=ports)
    assert causes(exc) == [
        {
            "reason": "FieldValueDuplicate",
            "message": "Duplicate value: 30080",
            "field": "spec.ports[1].nodePort",
        }
    ]


def test_node_port_on_cluster_ip_forbidden(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"port": 80, "nodePort": 30080}])
    assert causes(exc) == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: may not be used when `type` is 'ClusterIP'",
            "field": "spec.ports[0].nodePort",
        }
    ]


def test_node_port_range_exhaustion() -> None:
    alloc = ServiceAllocator(node_port_range=(30000, 30002))
    ports = [{"name": f"p{i}", "port": 80 + i} for i in range(3)]
    spec = create(alloc, type="NodePort", ports=ports)["spec"]
    assert sorted(p["nodePort"] for p in spec["ports"]) == [30000, 30001, 30002]
    before = snapshot(alloc)
    with pytest.raises(APIError) as exc:
        create(alloc, name="more", type="NodePort")
    (cause,) = causes(exc)
    assert cause["field"] == "spec.ports[0].nodePort"
    assert "range is full" in cause["message"]
    assert snapshot(alloc) == before


def test_partial_exhaustion_rolls_back_earlier_ports() -> None:
    alloc = ServiceAllocator(node_port_range=(30000, 30002))
    ports = [{"name": f"p{i}", "port": 80 + i} for i in range(4)]
    with pytest.raises(APIError) as exc:
        create(alloc, type="NodePort", ports=ports)
    assert fields(exc) == ["spec.ports[3].nodePort"]
    assert snapshot(alloc) == (set(), set())


def test_load_balancer_without_node_port_allocation(alloc: ServiceAllocator) -> None:
    ports = [{"name": "a", "port": 80}, {"name": "b", "port": 443, "nodePort": 30443}]
    spec = create(alloc, type="LoadBalancer", allocateLoadBalancerNodePorts=False, ports=ports)[
        "spec"
    ]
    assert "nodePort" not in spec["ports"][0]
    assert spec["ports"][1]["nodePort"] == 30443
    assert alloc.allocated_node_ports() == {30443}


def test_health_check_node_port_for_local_policy(alloc: ServiceAllocator) -> None:
    spec = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local")["spec"]
    hc = spec["healthCheckNodePort"]
    assert hc != spec["ports"][0]["nodePort"]
    assert alloc.allocated_node_ports() == {hc, spec["ports"][0]["nodePort"]}


def test_explicit_health_check_node_port_taken(alloc: ServiceAllocator) -> None:
    create(alloc, type="NodePort", ports=[{"port": 80, "nodePort": 30100}])
    with pytest.raises(APIError) as exc:
        create(
            alloc,
            name="lb",
            type="LoadBalancer",
            externalTrafficPolicy="Local",
            healthCheckNodePort=30100,
        )
    assert fields(exc) == ["spec.healthCheckNodePort"]
    assert "provided port is already allocated" in causes(exc)[0]["message"]
    assert alloc.allocated_node_ports() == {30100}


def test_health_check_node_port_on_cluster_policy_rejected(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, type="LoadBalancer", healthCheckNodePort=30100)
    assert fields(exc) == ["spec.healthCheckNodePort"]
    assert alloc.allocated_node_ports() == set()


# ------------------------------------------------------------------ validation


def test_port_out_of_range(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"port": 70000, "targetPort": 80}])
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 70000: must be between 1 and 65535, inclusive",
            "field": "spec.ports[0].port",
        }
    ]
    assert exc.value.message == (
        'Service "web" is invalid: spec.ports[0].port: Invalid value: 70000: '
        "must be between 1 and 65535, inclusive"
    )


def test_unsupported_protocol(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"port": 80, "protocol": "HTTP"}])
    assert causes(exc) == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
            "field": "spec.ports[0].protocol",
        }
    ]


def test_ports_required(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[])
    assert causes(exc) == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports"}
    ]


def test_names_required_and_unique_with_several_ports(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"name": "http", "port": 80}, {"port": 81}])
    assert fields(exc) == ["spec.ports[1].name"]
    assert causes(exc)[0]["reason"] == "FieldValueRequired"
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}])
    assert causes(exc) == [
        {
            "reason": "FieldValueDuplicate",
            "message": 'Duplicate value: "http"',
            "field": "spec.ports[1].name",
        }
    ]


def test_duplicate_port_and_protocol(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])
    (cause,) = causes(exc)
    assert cause["field"] == "spec.ports[1]"
    assert cause["reason"] == "FieldValueDuplicate"
    assert 'Protocol:"TCP"' in cause["message"]
    assert "Port:80" in cause["message"]


def test_same_port_different_protocols_is_fine(alloc: ServiceAllocator) -> None:
    ports = [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]
    assert len(create(alloc, ports=ports)["spec"]["ports"]) == 2


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (0, None),  # defaulted to port
        (70000, "Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("8080", 'Invalid value: "8080": must contain at least one letter (a-z)'),
        ("Http", 'Invalid value: "Http": must contain only alpha-numeric characters'),
        ("a-very-long-port-name", 'Invalid value: "a-very-long-port-name": must be no more'),
    ],
)
def test_target_port(alloc: ServiceAllocator, target: Any, message: str | None) -> None:
    if message is None:
        assert (
            create(alloc, ports=[{"port": 80, "targetPort": target}])["spec"]["ports"][0][
                "targetPort"
            ]
            == 80
        )
        return
    with pytest.raises(APIError) as exc:
        create(alloc, ports=[{"port": 80, "targetPort": target}])
    assert fields(exc) == ["spec.ports[0].targetPort"]
    assert causes(exc)[0]["message"].startswith(message)


@pytest.mark.parametrize("name", ["Web", "1web", "web_1", "web-", "a" * 64])
def test_service_name_must_be_dns1035_label(alloc: ServiceAllocator, name: str) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, name=name)
    assert set(fields(exc)) == {"metadata.name"}
    assert alloc.allocated_ips() == set()


def test_service_name_message(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, name="1web")
    assert causes(exc)[0]["message"] == (
        'Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric '
        "characters or '-', start with an alphabetic character, and end with an alphanumeric "
        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')"
    )


def test_unsupported_type(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, type="Ingress")
    assert causes(exc) == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Ingress": supported values: "ClusterIP", '
            '"ExternalName", "LoadBalancer", "NodePort"',
            "field": "spec.type",
        }
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"sessionAffinity": "Cookie"}, "spec.sessionAffinity"),
        ({"type": "NodePort", "externalTrafficPolicy": "Nearest"}, "spec.externalTrafficPolicy"),
        ({"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy"),
        ({"internalTrafficPolicy": "Nearest"}, "spec.internalTrafficPolicy"),
        ({"ipFamilyPolicy": "Sometimes"}, "spec.ipFamilyPolicy"),
        ({"externalIPs": ["127.0.0.1"]}, "spec.externalIPs[0]"),
        ({"type": "LoadBalancer", "clusterIP": "None"}, "spec.clusterIPs[0]"),
        ({"type": "LoadBalancer", "ports": [{"port": 10250}]}, "spec.ports[0]"),
        ({"allocateLoadBalancerNodePorts": True}, "spec.allocateLoadBalancerNodePorts"),
        ({"loadBalancerSourceRanges": ["10.0.0.0/8"]}, "spec.loadBalancerSourceRanges"),
        ({"selector": {"app": "bad value"}}, "spec.selector"),
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}},
            },
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
        ),
        ({"ports": [{"port": "80"}]}, "spec.ports[0].port"),
        ({"ports": [{"port": 80, "appProtocol": "a/b/c"}]}, "spec.ports[0].appProtocol"),
    ],
)
def test_field_rules(alloc: ServiceAllocator, spec: Obj, field: str) -> None:
    with pytest.raises(APIError) as exc:
        create(alloc, **spec)
    assert field in fields(exc)
    assert snapshot(alloc) == (set(), set())


def test_load_balancer_source_ranges(alloc: ServiceAllocator) -> None:
    ok = create(alloc, type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/8", " 1.2.3.4/32"])
    assert ok["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8", " 1.2.3.4/32"]
    with pytest.raises(APIError) as exc:
        create(alloc, name="b", type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.1", "x"])
    assert fields(exc) == ["spec.loadBalancerSourceRanges[0]", "spec.loadBalancerSourceRanges[1]"]


def test_load_balancer_class(alloc: ServiceAllocator) -> None:
    assert (
        create(alloc, type="LoadBalancer", loadBalancerClass="ccm.dev/lb")["spec"][
            "loadBalancerClass"
        ]
        == "ccm.dev/lb"
    )
    with pytest.raises(APIError) as exc:
        create(alloc, name="b", type="LoadBalancer", loadBalancerClass="-bad-/x")
    assert set(fields(exc)) == {"spec.loadBalancerClass"}
    with pytest.raises(APIError) as exc:
        create(alloc, name="c", loadBalancerClass="ccm.dev/lb")
    assert causes(exc) == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: may only be used when service type is 'LoadBalancer'",
            "field": "spec.loadBalancerClass",
        }
    ]


def test_every_problem_is_reported(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        create(
            alloc,
            name="Bad",
            type="NodePort",
            sessionAffinity="Sticky",
            ports=[{"port": 0, "protocol": "ICMP"}, {"port": 80}],
        )
    assert set(fields(exc)) >= {
        "metadata.name",
        "spec.ports[0].name",
        "spec.ports[0].port",
        "spec.ports[0].protocol",
        "spec.ports[0].targetPort",
        "spec.ports[1].name",
        "spec.sessionAffinity",
    }


def test_failed_create_leaves_object_and_allocator_untouched(alloc: ServiceAllocator) -> None:
    create(alloc, name="first", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    before = snapshot(alloc)
    obj = svc(
        name="second",
        type="LoadBalancer",
        externalTrafficPolicy="Local",
        clusterIP="10.96.0.9",
        ports=[{"name": "a", "port": 81}, {"name": "b", "port": 82, "nodePort": 30080}],
    )
    original = copy.deepcopy(obj)
    with pytest.raises(APIError) as exc:
        prepare_create(obj, alloc)
    assert fields(exc) == ["spec.ports[1].nodePort"]
    assert obj == original
    assert snapshot(alloc) == before


# ------------------------------------------------------------------ update


def test_put_without_allocated_values_keeps_them(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local")
    new = svc(type="LoadBalancer", externalTrafficPolicy="Local")
    prepare_update(new, old, alloc)
    assert new["spec"]["clusterIP"] == old["spec"]["clusterIP"]
    assert new["spec"]["clusterIPs"] == old["spec"]["clusterIPs"]
    assert new["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]
    assert new["spec"]["healthCheckNodePort"] == old["spec"]["healthCheckNodePort"]
    assert snapshot(alloc) == (
        {old["spec"]["clusterIP"]},
        {old["spec"]["ports"][0]["nodePort"], old["spec"]["healthCheckNodePort"]},
    )


def test_update_does_not_modify_old(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="NodePort")
    frozen = copy.deepcopy(old)
    new = copy.deepcopy(old)
    new["spec"]["type"] = "ClusterIP"
    prepare_update(new, old, alloc)
    assert old == frozen


def test_cluster_ip_is_immutable(alloc: ServiceAllocator) -> None:
    old = create(alloc, clusterIP="10.96.0.5")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.6"
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "10.96.0.6": field is immutable',
            "field": "spec.clusterIPs[0]",
        }
    ]
    assert alloc.allocated_ips() == {"10.96.0.5"}


def test_cluster_ip_may_not_become_headless(alloc: ServiceAllocator) -> None:
    old = create(alloc)
    new = svc(clusterIP="None")
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert fields(exc) == ["spec.clusterIPs[0]"]


def test_ports_matched_by_port_protocol_or_name(alloc: ServiceAllocator) -> None:
    ports = [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    old = create(alloc, type="NodePort", ports=ports)
    by_name = {p["name"]: p["nodePort"] for p in old["spec"]["ports"]}
    new = svc(
        type="NodePort",
        ports=[
            {"name": "web", "port": 80},  # same port + protocol
            {"name": "https", "port": 8443},  # same name
            {"name": "metrics", "port": 9090},  # new port
        ],
    )
    prepare_update(new, old, alloc)
    got = [p["nodePort"] for p in new["spec"]["ports"]]
    assert got[:2] == [by_name["http"], by_name["https"]]
    assert got[2] not in by_name.values()
    assert alloc.allocated_node_ports() == set(got)


def test_removed_port_releases_node_port(alloc: ServiceAllocator) -> None:
    ports = [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    old = create(alloc, type="NodePort", ports=ports)
    https = old["spec"]["ports"][1]["nodePort"]
    new = svc(type="NodePort", ports=[{"name": "http", "port": 80}])
    prepare_update(new, old, alloc)
    assert https not in alloc.allocated_node_ports()
    assert alloc.allocated_node_ports() == {new["spec"]["ports"][0]["nodePort"]}


def test_changing_to_cluster_ip_releases_all_node_ports(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local")
    assert len(alloc.allocated_node_ports()) == 2
    new = copy.deepcopy(old)  # a PATCH that only flips the type
    new["spec"]["type"] = "ClusterIP"
    prepare_update(new, old, alloc)
    spec = new["spec"]
    assert "nodePort" not in spec["ports"][0]
    assert "healthCheckNodePort" not in spec
    assert "externalTrafficPolicy" not in spec
    assert "allocateLoadBalancerNodePorts" not in spec
    assert alloc.allocated_node_ports() == set()
    assert spec["clusterIP"] == old["spec"]["clusterIP"]


def test_changed_node_port_on_cluster_ip_is_rejected(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    new = svc(ports=[{"port": 80, "nodePort": 30081}])
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert fields(exc) == ["spec.ports[0].nodePort"]
    assert alloc.allocated_node_ports() == {30080}


def test_cluster_ip_to_node_port_allocates(alloc: ServiceAllocator) -> None:
    old = create(alloc)
    new = copy.deepcopy(old)
    new["spec"]["type"] = "NodePort"
    prepare_update(new, old, alloc)
    assert new["spec"]["externalTrafficPolicy"] == "Cluster"
    assert alloc.allocated_node_ports() == {new["spec"]["ports"][0]["nodePort"]}


def test_local_to_cluster_policy_releases_health_check_port(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local")
    hc = old["spec"]["healthCheckNodePort"]
    new = copy.deepcopy(old)
    new["spec"]["externalTrafficPolicy"] = "Cluster"
    prepare_update(new, old, alloc)
    assert "healthCheckNodePort" not in new["spec"]
    assert hc not in alloc.allocated_node_ports()
    assert new["spec"]["ports"][0]["nodePort"] in alloc.allocated_node_ports()


def test_cluster_to_local_policy_allocates_health_check_port(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer")
    new = copy.deepcopy(old)
    new["spec"]["externalTrafficPolicy"] = "Local"
    prepare_update(new, old, alloc)
    assert new["spec"]["healthCheckNodePort"] in alloc.allocated_node_ports()
    assert len(alloc.allocated_node_ports()) == 2


def test_to_and_from_external_name(alloc: ServiceAllocator) -> None:
    old = create(alloc)
    ip = old["spec"]["clusterIP"]
    ext = copy.deepcopy(old)
    ext["spec"].update(type="ExternalName", externalName="db.example.com")
    prepare_update(ext, old, alloc)
    assert "clusterIP" not in ext["spec"]
    assert "ipFamilies" not in ext["spec"]
    assert alloc.allocated_ips() == set()
    back = copy.deepcopy(ext)
    back["spec"]["type"] = "ClusterIP"
    del back["spec"]["externalName"]
    prepare_update(back, ext, alloc)
    assert back["spec"]["clusterIP"] != ""
    assert alloc.allocated_ips() == {back["spec"]["clusterIP"]}
    assert ip  # the old address was free to be reused, nothing leaked


def test_load_balancer_class_immutable(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", loadBalancerClass="ccm.dev/lb")
    new = copy.deepcopy(old)
    new["spec"]["loadBalancerClass"] = "ccm.dev/other"
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "ccm.dev/other": may not change once set',
            "field": "spec.loadBalancerClass",
        }
    ]
    unset = copy.deepcopy(old)
    del unset["spec"]["loadBalancerClass"]
    with pytest.raises(APIError):
        prepare_update(unset, old, alloc)


def test_load_balancer_class_dropped_when_leaving_load_balancer(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", loadBalancerClass="ccm.dev/lb")
    new = copy.deepcopy(old)
    new["spec"]["type"] = "NodePort"
    prepare_update(new, old, alloc)
    assert "loadBalancerClass" not in new["spec"]
    assert new["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]


def test_load_balancer_class_set_on_non_load_balancer_update(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="NodePort")
    new = copy.deepcopy(old)
    new["spec"]["loadBalancerClass"] = "ccm.dev/lb"
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert fields(exc) == ["spec.loadBalancerClass"]


def test_failed_update_leaves_allocator_unchanged(alloc: ServiceAllocator) -> None:
    create(alloc, name="other", type="NodePort", ports=[{"port": 80, "nodePort": 30500}])
    old = create(
        alloc, type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}]
    )
    before = snapshot(alloc)
    new = svc(
        type="LoadBalancer",
        externalTrafficPolicy="Local",
        ports=[
            {"name": "c", "port": 82},  # would allocate a fresh port
            {"name": "d", "port": 83, "nodePort": 30500},  # taken by "other"
        ],
    )
    original = copy.deepcopy(new)
    with pytest.raises(APIError) as exc:
        prepare_update(new, old, alloc)
    assert fields(exc) == ["spec.ports[1].nodePort"]
    assert snapshot(alloc) == before
    assert new == original


def test_failed_update_from_external_name_leaks_no_ip(alloc: ServiceAllocator) -> None:
    create(alloc, name="holder", clusterIP="10.96.0.7")
    old = create(alloc, type="ExternalName", externalName="x.example.com", ports=[])
    before = snapshot(alloc)
    new = svc(type="NodePort", clusterIP="10.96.0.8", ports=[{"port": 80, "nodePort": 99}])
    with pytest.raises(APIError):
        prepare_update(new, old, alloc)
    assert snapshot(alloc) == before


def test_update_clears_load_balancer_status_for_other_types(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer")
    old["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"}]}}
    new = copy.deepcopy(old)
    new["spec"]["type"] = "NodePort"
    prepare_update(new, old, alloc)
    assert new["status"] == {"loadBalancer": {}}


def test_noop_update_is_idempotent(alloc: ServiceAllocator) -> None:
    old = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local")
    before = snapshot(alloc)
    new = copy.deepcopy(old)
    prepare_update(new, old, alloc)
    assert new == old
    assert snapshot(alloc) == before


# ------------------------------------------------------------------ release


def test_release_frees_everything(alloc: ServiceAllocator) -> None:
    obj = create(alloc, type="LoadBalancer", externalTrafficPolicy="Local", clusterIP="10.96.0.9")
    release(obj, alloc)
    assert snapshot(alloc) == (set(), set())
    again = create(alloc, name="again", type="NodePort", clusterIP="10.96.0.9")
    assert again["spec"]["clusterIP"] == "10.96.0.9"


def test_release_of_external_name_with_stray_node_port_frees_nothing(
    alloc: ServiceAllocator,
) -> None:
    create(alloc, name="owner", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    stray = create(
        alloc,
        type="ExternalName",
        externalName="a.example.com",
        ports=[{"port": 80, "nodePort": 30080}],
    )
    release(stray, alloc)
    assert alloc.allocated_node_ports() == {30080}


# ------------------------------------------------------------------ status


def lb_with_status(alloc: ServiceAllocator, ingress: list[Obj]) -> Obj:
    obj = create(alloc, type="LoadBalancer")
    obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


def test_status_accepts_valid_ingress(alloc: ServiceAllocator) -> None:
    obj = lb_with_status(alloc, [{"ip": "203.0.113.10"}, {"hostname": "lb.example.com"}])
    validate_status(obj)
    assert obj["status"]["loadBalancer"]["ingress"][0]["ipMode"] == "VIP"


def test_status_rejects_bad_ip(alloc: ServiceAllocator) -> None:
    obj = lb_with_status(alloc, [{"ip": "1.2.3.4"}, {"ip": "not-an-ip"}])
    with pytest.raises(APIError) as exc:
        validate_status(obj)
    assert causes(exc) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "not-an-ip": must be a valid IP address, '
            "(e.g. 10.9.8.7 or 2001:db8::ffff)",
            "field": "status.loadBalancer.ingress[1].ip",
        }
    ]


def test_status_rejects_bad_ip_mode(alloc: ServiceAllocator) -> None:
    obj = lb_with_status(alloc, [{"ip": "1.2.3.4", "ipMode": "Direct"}])
    with pytest.raises(APIError) as exc:
        validate_status(obj)
    assert causes(exc)[0]["field"] == "status.loadBalancer.ingress[0].ipMode"
    assert causes(exc)[0]["message"] == (
        'Unsupported value: "Direct": supported values: "Proxy", "VIP"'
    )
    validate_status(lb_with_status(alloc, [{"ip": "1.2.3.5", "ipMode": "Proxy"}]))


def test_status_rejects_ip_as_hostname_and_ingress_on_cluster_ip(alloc: ServiceAllocator) -> None:
    with pytest.raises(APIError) as exc:
        validate_status(lb_with_status(alloc, [{"hostname": "1.2.3.4"}]))
    assert fields(exc) == ["status.loadBalancer.ingress[0].hostname"]
    obj = create(alloc, name="plain")
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    with pytest.raises(APIError) as exc:
        validate_status(obj)
    assert fields(exc) == ["status.loadBalancer.ingress"]


def test_empty_status_is_fine(alloc: ServiceAllocator) -> None:
    obj = create(alloc)
    validate_status(obj)
    validate_status({"metadata": {"name": "x"}, "spec": {}})


def test_allocator_rejects_ipv6_cidr() -> None:
    with pytest.raises(ValueError):
        ServiceAllocator("fd00::/108")

"""AKS annotations and spec fields -> LoadBalancerSpec, every refusal naming its field;
names and ownership records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccm.model import ClusterInfo, InvalidServiceSpec
from providers.azure import annotations as A
from providers.azure import names as N

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ClusterInfo("prod")
UID = "0b6b7a6c-1d2e-4f00-9a8b-7c6d5e4f3a2b"


def svc(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]}
    body.update(spec)
    meta = {"name": "web", "namespace": "default", "uid": UID, "annotations": annotations or {}}
    return {"metadata": meta, "spec": body}


def test_defaults_public_tcp_probe_floating_ip() -> None:
    spec = A.parse(svc(), CLUSTER)
    o = spec.options
    assert (
        spec.kind,
        o["internal"],
        o["probe_protocol"],
        o["probe_interval"],
        o["probe_count"],
    ) == (
        "public",
        False,
        "Tcp",
        5,
        2,
    )
    assert (o["idle_timeout"], o["tcp_reset"], o["floating_ip"]) == (4, True, True)
    assert spec.source_ranges == ("Internet",)


def test_local_policy_probes_http_on_the_health_check_node_port() -> None:
    spec = A.parse(svc(externalTrafficPolicy="Local", healthCheckNodePort=32000), CLUSTER)
    assert spec.health_check is not None and spec.health_check.port == 32000
    assert (spec.options["probe_protocol"], spec.options["probe_path"]) == ("Http", "/healthz")


def test_internal_with_subnet_and_static_ip() -> None:
    spec = A.parse(
        svc({A.INTERNAL: "true", A.INTERNAL_SUBNET: "apps", A.IPV4: "10.224.0.50"}), CLUSTER
    )
    assert spec.options["internal"] and spec.options["subnet"] == "apps"
    assert spec.options["requested_ip"] == "10.224.0.50"


@pytest.mark.parametrize(
    ("annotations", "field", "spec"),
    [
        ({A.INTERNAL: "maybe"}, A.INTERNAL, {}),
        ({A.INTERNAL_SUBNET: "apps"}, A.INTERNAL_SUBNET, {}),
        ({A.INTERNAL: "true", A.PIP_NAME: "x"}, A.PIP_NAME, {}),
        ({A.INTERNAL: "true", A.IPV4: "20.1.2.3"}, A.IPV4, {}),
        ({A.IPV4: "nope"}, A.IPV4, {}),
        ({A.DNS_LABEL: "Bad_Label"}, A.DNS_LABEL, {}),
        ({A.IDLE_TIMEOUT: "3"}, A.IDLE_TIMEOUT, {}),
        ({A.IDLE_TIMEOUT: "101"}, A.IDLE_TIMEOUT, {}),
        ({A.DISABLE_TCP_RESET: "yes"}, A.DISABLE_TCP_RESET, {}),
        ({A.PROBE_PROTOCOL: "Udp"}, A.PROBE_PROTOCOL, {}),
        ({A.PROBE_PATH: "/x"}, A.PROBE_PATH, {}),
        ({A.PROBE_PROTOCOL: "Http", A.PROBE_PATH: "x"}, A.PROBE_PATH, {}),
        ({A.PROBE_INTERVAL: "1"}, A.PROBE_INTERVAL, {}),
        ({A.PIP_TAGS: "novalue"}, A.PIP_TAGS, {}),
        ({A.PIP_TAGS: "ccm.dev/cluster=x"}, A.PIP_TAGS, {}),
        ({A.ALLOWED_RANGES: "10.0.0.1"}, A.ALLOWED_RANGES, {}),
        ({}, "spec.loadBalancerSourceRanges[0]", {"loadBalancerSourceRanges": ["::/0"]}),
        ({}, "spec.ports[0].protocol", {"ports": [{"port": 80, "protocol": "SCTP"}]}),
        ({}, "spec.healthCheckNodePort", {"externalTrafficPolicy": "Local"}),
    ],
)
def test_refusals_name_the_field(
    annotations: dict[str, str], field: str, spec: dict[str, Any]
) -> None:
    with pytest.raises(InvalidServiceSpec) as e:
        A.parse(svc(annotations, **spec), CLUSTER)
    assert field in e.value.field


def test_tcp_and_udp_on_one_service_are_allowed() -> None:
    spec = A.parse(svc(ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}]), CLUSTER)
    assert [(lst.protocol, lst.port) for lst in spec.listeners] == [("TCP", 53), ("UDP", 53)]


def test_source_ranges_spec_wins_over_the_annotation() -> None:
    spec = A.parse(
        svc({A.ALLOWED_RANGES: "10.0.0.0/8"}, loadBalancerSourceRanges=["203.0.113.0/24"]),
        CLUSTER,
    )
    assert spec.source_ranges == ("203.0.113.0/24",)
    assert A.parse(svc({A.ALLOWED_RANGES: "10.0.0.0/8"}), CLUSTER).source_ranges == ("10.0.0.0/8",)


def test_names_follow_aks_and_carry_the_uid() -> None:
    front = N.frontend_name(UID)
    assert front == "a" + UID.replace("-", "") and len(front) == 33
    rule = N.rule_name(UID, "TCP", 443)
    assert rule == f"{front}-TCP-443" and N.owns_child(rule, UID) and N.owns_child(front, UID)
    assert N.uid_of_child(rule) == UID.replace("-", "")
    assert not N.owns_child("a" + "f" * 32, UID) and N.uid_of_child("kubernetes") == ""
    assert N.lb_name("prod", True) == "prod-internal"


def test_rule_records_round_trip_and_foreign_descriptions_are_not_ours() -> None:
    record = N.RuleRecord("prod", UID, "default/web", "x")
    assert N.rule_record(record.description()) == record
    assert N.rule_record("allow web") is None and N.rule_record('{"a": 1}') is None


def test_readme_table_lists_every_annotation() -> None:
    readme = (ROOT / "providers/azure/README.md").read_text()
    for doc in A.ANNOTATIONS:
        assert f"| `{doc.name}` | {doc.values} | {doc.default} | {doc.change} |" in readme
        assert doc.change.split(" (")[0] in ("in place", "replace")

"""GKE annotations and spec fields -> LoadBalancerSpec, every refusal naming its field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ccm.model import ClusterInfo, InvalidServiceSpec
from providers.gcp import names as N
from providers.gcp.annotations import (
    ANNOTATIONS,
    GLOBAL_ACCESS,
    IDENTITY_OPTIONS,
    LB_TYPE,
    LEGACY_LB_TYPE,
    NETWORK_TIER,
    SUBNET,
    identity_hash,
    parse,
)

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ClusterInfo("prod")


def svc(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]}
    body.update(spec)
    return {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "u-1",
            "annotations": annotations or {},
        },
        "spec": body,
    }


def test_defaults_external_premium_cluster_policy() -> None:
    spec = parse(svc(), CLUSTER)
    assert (spec.kind, spec.options["scheme"], spec.options["network_tier"]) == (
        "external",
        "EXTERNAL",
        "PREMIUM",
    )
    assert spec.source_ranges == ("0.0.0.0/0",)
    assert spec.health_check is not None and spec.health_check.port == 10256
    assert spec.options["protocol"] == "TCP" and spec.options["requested_ip"] == ""


@pytest.mark.parametrize(
    "annotations",
    [{LB_TYPE: "Internal"}, {LEGACY_LB_TYPE: "Internal"}, {LEGACY_LB_TYPE: "internal"}],
)
def test_internal_by_either_annotation(annotations: dict[str, str]) -> None:
    spec = parse(svc(annotations), CLUSTER)
    assert spec.options["scheme"] == "INTERNAL" and spec.options["network_tier"] == ""


def test_new_annotation_wins_over_legacy() -> None:
    assert parse(svc({LB_TYPE: "External", LEGACY_LB_TYPE: "Internal"}), CLUSTER).kind == "external"


@pytest.mark.parametrize(
    ("annotations", "field", "spec"),
    [
        ({LB_TYPE: "Sideways"}, LB_TYPE, {}),
        ({NETWORK_TIER: "Gold"}, NETWORK_TIER, {}),
        ({LB_TYPE: "Internal", NETWORK_TIER: "Standard"}, NETWORK_TIER, {}),
        ({GLOBAL_ACCESS: "true"}, GLOBAL_ACCESS, {}),
        ({LB_TYPE: "Internal", GLOBAL_ACCESS: "yes"}, GLOBAL_ACCESS, {}),
        ({SUBNET: "my-subnet"}, SUBNET, {}),
        ({LB_TYPE: "Internal", SUBNET: "Bad_Name"}, SUBNET, {}),
        ({}, "spec.loadBalancerIP", {"loadBalancerIP": "not-an-ip"}),
        ({LB_TYPE: "Internal"}, "spec.loadBalancerIP", {"loadBalancerIP": "34.1.2.3"}),
        ({}, "spec.loadBalancerSourceRanges[0]", {"loadBalancerSourceRanges": ["10.0.0.1"]}),
        ({}, "spec.loadBalancerSourceRanges[0]", {"loadBalancerSourceRanges": ["::/0"]}),
        ({}, "spec.sessionAffinity", {"sessionAffinity": "Sticky"}),
        ({}, "spec.healthCheckNodePort", {"externalTrafficPolicy": "Local"}),
        ({}, "spec.ports[0].protocol", {"ports": [{"port": 80, "protocol": "SCTP"}]}),
    ],
)
def test_refusals_name_the_field(
    annotations: dict[str, str], field: str, spec: dict[str, Any]
) -> None:
    with pytest.raises(InvalidServiceSpec) as e:
        parse(svc(annotations, **spec), CLUSTER)
    assert e.value.field.endswith(field) or field in e.value.field


def test_mixed_protocols_refused_with_what_to_do() -> None:
    body = svc(ports=[{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
    with pytest.raises(InvalidServiceSpec, match="mixes TCP and UDP") as e:
        parse(body, CLUSTER)
    assert e.value.field == "spec.ports" and "two Services" in e.value.accepted


def test_identity_changes_only_with_what_forces_a_replacement() -> None:
    base = identity_hash(parse(svc(), CLUSTER))
    assert identity_hash(parse(svc(ports=[{"port": 443}]), CLUSTER)) == base
    assert identity_hash(parse(svc(loadBalancerSourceRanges=["10.0.0.0/8"]), CLUSTER)) == base
    assert identity_hash(parse(svc(sessionAffinity="ClientIP"), CLUSTER)) == base
    assert identity_hash(parse(svc({LB_TYPE: "Internal"}), CLUSTER)) != base
    assert identity_hash(parse(svc({NETWORK_TIER: "Standard"}), CLUSTER)) != base
    udp = svc(ports=[{"port": 53, "protocol": "UDP"}])
    assert identity_hash(parse(udp, CLUSTER)) != base
    assert set(IDENTITY_OPTIONS) == {"scheme", "network_tier", "subnet", "protocol"}


def test_status_is_observed_not_intent() -> None:
    with_status = svc()
    with_status["status"] = {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}}
    spec = parse(with_status, CLUSTER)
    assert spec.options["status_ips"] == ("34.1.2.3",)
    assert spec.intent() == parse(svc(), CLUSTER).intent()


def test_names_are_deterministic_and_fit() -> None:
    uid = "0b6b7a6c-1d2e-4f00-9a8b-7c6d5e4f3a2b"
    base = N.base_name("prod", uid, "abcdef1234")
    assert base == N.base_name("prod", uid, "abcdef1234") and len(base) == 30
    assert base.startswith(N.service_prefix("prod", uid)) and base.startswith(N.prefix("prod"))
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", N.health_check_firewall_name(base))
    assert N.label_value("Prod.Cluster") != "Prod.Cluster"
    assert re.fullmatch(r"[a-z0-9_-]{1,63}", N.label_value("Prod.Cluster" * 9))


def test_ownership_round_trips_and_foreign_descriptions_are_not_ours() -> None:
    owner = N.Owner("prod", "u-1", "default/web", "abc", "forwarding-rule")
    assert N.owner_of(owner.description()) == owner
    assert N.owner_of('{"kubernetes.io/service-name": "default/web"}') is None  # in-tree
    assert N.owner_of("created by hand") is None and N.owner_of("") is None


def test_readme_table_lists_every_annotation() -> None:
    readme = (ROOT / "providers/gcp/README.md").read_text()
    for doc in ANNOTATIONS:
        assert f"| `{doc.name}` | {doc.values} | {doc.default} | {doc.change} |" in readme
        assert doc.change.split(" (")[0] in ("in place", "replace")

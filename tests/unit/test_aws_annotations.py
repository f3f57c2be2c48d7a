"""The AWS annotation parser: defaults, every annotation's happy path, and every rejection
naming the field the user has to fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import providers.aws.annotations as annotations_module
from ccm.model import JSON, ClusterInfo, HealthCheck, InvalidServiceSpec, LoadBalancerSpec
from providers.aws.annotations import ANNOTATIONS, SOURCE_RANGES, P, parse_service

CLUSTER = ClusterInfo(name="c1")
ROOT = Path(__file__).resolve().parents[2]
HTTP = {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080, "targetPort": 8080}
HTTPS = {"name": "https", "port": 443, "protocol": "TCP", "nodePort": 30443}
DNS_UDP = {"name": "dns-udp", "port": 53, "protocol": "UDP", "nodePort": 30053}
DNS_TCP = {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30054}
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def service(
    annotations: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> JSON:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u-1",
            "annotations": {"unrelated": "x", **(annotations or {})},
        },
        "spec": {"type": "LoadBalancer", "ports": [HTTP] if ports is None else ports, **spec},
    }


def parse(annotations: dict[str, str] | None = None, **kwargs: Any) -> LoadBalancerSpec:
    return parse_service(service(annotations, **kwargs), CLUSTER)


def rejects(
    annotations: dict[str, str] | None = None, *, field: str | None = None, **kwargs: Any
) -> InvalidServiceSpec:
    """The error, checked to name `field` (the single annotation given, by default)."""
    with pytest.raises(InvalidServiceSpec) as info:
        parse(annotations, **kwargs)
    if field is None:
        assert annotations is not None and len(annotations) == 1
        field = f"metadata.annotations[{next(iter(annotations))}]"
    assert info.value.field == field, str(info.value)
    return info.value


# --- defaults ---------------------------------------------------------------------------


def test_defaults() -> None:
    spec = parse()
    assert spec.service.key == "shop/web" and spec.service.uid == "u-1"
    assert (spec.kind, spec.scheme) == ("nlb", "internet-facing")
    assert spec.source_ranges == ("0.0.0.0/0",)
    assert spec.health_check == HealthCheck("TCP", None, "")
    assert (spec.external_traffic_policy, spec.session_affinity) == ("Cluster", "None")
    assert spec.tags == ()
    assert dict(spec.options) == {
        "type": "nlb",
        "scheme": "internet-facing",
        "subnets": (),
        "target_type": "instance",
        "ssl_cert": (),
        "ssl_ports": (),
        "ssl_negotiation_policy": None,
        "backend_protocol": "tcp",
        "alpn_policy": None,
        "hc_interval": 10,
        "hc_timeout": 10,
        "hc_healthy": 3,
        "hc_unhealthy": 3,
        "hc_success_codes": None,
        "cross_zone": None,
        "attributes": (),
        "target_group_attributes": (),
        "eip_allocations": (),
        "private_ipv4_addresses": (),
        "ip_address_type": "ipv4",
        "target_node_labels": (),
        "proxy_protocol": False,
        "security_groups": (),
        "manage_backend_sg_rules": True,
        "class": None,
    }
    assert spec.identity_options == (
        "type",
        "scheme",
        "eip_allocations",
        "private_ipv4_addresses",
        "subnets",
    )


def test_listener_fields() -> None:
    spec = parse(ports=[{**HTTP, "appProtocol": "http"}])
    (listener,) = spec.listeners
    assert (listener.port, listener.protocol, listener.node_port) == (80, "TCP", 30080)
    assert (listener.name, listener.target_port, listener.app_protocol) == ("http", 8080, "http")


def test_parse_is_pure() -> None:
    assert parse({P + "subnets": "a,b"}) == parse({P + "subnets": "a,b"})


def test_alb_defaults() -> None:
    spec = parse({P + "type": "alb"})
    assert spec.kind == "alb" and spec.options["type"] == "alb"
    assert spec.health_check == HealthCheck("HTTP", None, "/")
    assert spec.options["backend_protocol"] == "http"
    assert spec.options["hc_timeout"] == 5
    assert spec.options["hc_success_codes"] == "200-399"


def test_load_balancer_class() -> None:
    assert parse(loadBalancerClass="ccm.dev/lb").options["class"] == "ccm.dev/lb"


def test_blank_annotation_counts_as_absent() -> None:
    assert parse({P + "scheme": "  "}).scheme == "internet-facing"


# --- type and target type -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["nlb", "external", "NLB"])
def test_type_nlb_spellings(value: str) -> None:
    assert parse({P + "type": value}).kind == "nlb"


@pytest.mark.parametrize("value", ["clb", "elb", "gwlb"])
def test_type_unknown_rejected(value: str) -> None:
    err = rejects({P + "type": value})
    assert err.accepted == "nlb, external, nlb-ip, alb"


def test_type_nlb_ip_rejected() -> None:
    err = rejects({P + "type": "nlb-ip"})
    assert "ip targets are not supported yet; use instance" in err.message


def test_target_type_instance_ok() -> None:
    spec = parse({P + "type": "external", P + "nlb-target-type": "instance"})
    assert spec.options["target_type"] == "instance"


def test_target_type_ip_rejected() -> None:
    err = rejects(
        {P + "type": "external", P + "nlb-target-type": "ip"},
        field=f"metadata.annotations[{P}nlb-target-type]",
    )
    assert err.message == "ip targets are not supported yet; use instance"


def test_target_type_garbage_rejected() -> None:
    assert rejects({P + "nlb-target-type": "pod"}).accepted == "instance"


# --- scheme -----------------------------------------------------------------------------


def test_scheme_internal() -> None:
    spec = parse({P + "scheme": "internal"})
    assert spec.scheme == "internal" == spec.options["scheme"]


def test_scheme_garbage_rejected() -> None:
    assert rejects({P + "scheme": "private"}).accepted == "internet-facing, internal"


@pytest.mark.parametrize(
    ("value", "scheme"),
    [("true", "internal"), ("0.0.0.0/0", "internal"), ("false", "internet-facing")],
)
def test_legacy_internal(value: str, scheme: str) -> None:
    assert parse({P + "internal": value}).scheme == scheme


def test_legacy_internal_garbage_rejected() -> None:
    rejects({P + "internal": "yes"})


def test_scheme_and_internal_agreeing() -> None:
    assert parse({P + "scheme": "internal", P + "internal": "true"}).scheme == "internal"


def test_scheme_and_internal_disagreeing() -> None:
    rejects(
        {P + "scheme": "internet-facing", P + "internal": "true"},
        field=f"metadata.annotations[{P}internal]",
    )


# --- listeners --------------------------------------------------------------------------


def test_mixed_tcp_udp_same_port_on_nlb() -> None:
    spec = parse(ports=[DNS_UDP, DNS_TCP])
    assert [(lis.port, lis.protocol) for lis in spec.listeners] == [(53, "UDP"), (53, "TCP")]


def test_alb_udp_rejected() -> None:
    err = rejects({P + "type": "alb"}, ports=[HTTP, DNS_UDP], field="spec.ports[1].protocol")
    assert err.accepted == "TCP"


def test_alb_sctp_rejected() -> None:
    rejects(
        {P + "type": "alb"},
        ports=[{"port": 9, "protocol": "SCTP", "nodePort": 30009}],
        field="spec.ports[0].protocol",
    )


def test_nlb_sctp_rejected() -> None:
    err = rejects(
        ports=[{"port": 9, "protocol": "SCTP", "nodePort": 30009}], field="spec.ports[0].protocol"
    )
    assert err.accepted == "TCP, UDP"


def test_duplicate_port_rejected() -> None:
    rejects(ports=[HTTP, {**HTTP, "name": "again"}], field="spec.ports[1]")


def test_no_ports_rejected() -> None:
    rejects(ports=[], field="spec.ports")


def test_bad_port_number_rejected() -> None:
    rejects(ports=[HTTP, {"port": 70000}], field="spec.ports[1].port")


def test_missing_node_port_without_allocation_rejected() -> None:
    ports = [HTTP, {"name": "x", "port": 81, "protocol": "TCP"}]
    err = rejects(ports=ports, allocateLoadBalancerNodePorts=False, field="spec.ports[1].nodePort")
    assert "instance targets" in err.message


def test_node_ports_given_without_allocation_ok() -> None:
    assert parse(allocateLoadBalancerNodePorts=False).listeners[0].node_port == 30080


def test_bad_traffic_policy_rejected() -> None:
    rejects(externalTrafficPolicy="Nearest", field="spec.externalTrafficPolicy")


def test_session_affinity() -> None:
    assert parse(sessionAffinity="ClientIP").session_affinity == "ClientIP"


# --- source ranges ----------------------------------------------------------------------


def test_source_ranges_from_spec_win() -> None:
    spec = parse({SOURCE_RANGES: "192.0.2.0/24"}, loadBalancerSourceRanges=["10.0.0.0/8"])
    assert spec.source_ranges == ("10.0.0.0/8",)


def test_source_ranges_from_annotation() -> None:
    spec = parse({SOURCE_RANGES: "192.0.2.0/24, 2001:db8::/32"})
    assert spec.source_ranges == ("192.0.2.0/24", "2001:db8::/32")


def test_source_ranges_bad_spec_entry_named_by_index() -> None:
    rejects(
        loadBalancerSourceRanges=["10.0.0.0/8", "10.0.0.300/32"],
        field="spec.loadBalancerSourceRanges[1]",
    )


def test_source_ranges_bare_ip_rejected() -> None:
    rejects({SOURCE_RANGES: "192.0.2.1"})


def test_source_ranges_dualstack_default() -> None:
    spec = parse({P + "ip-address-type": "dualstack"})
    assert spec.source_ranges == ("0.0.0.0/0", "::/0")
    assert spec.options["ip_address_type"] == "dualstack"


def test_ip_address_type_garbage_rejected() -> None:
    rejects({P + "ip-address-type": "ipv6"})


# --- TLS --------------------------------------------------------------------------------


def test_ssl_cert_defaults_to_all_tcp_ports() -> None:
    spec = parse({P + "ssl-cert": CERT}, ports=[HTTP, HTTPS, DNS_UDP])
    assert spec.options["ssl_cert"] == (CERT,)
    assert spec.options["ssl_ports"] == (80, 443)


def test_ssl_ports_by_name_and_number() -> None:
    ports = [HTTP, HTTPS, {"name": "admin", "port": 8443, "nodePort": 30843}]
    spec = parse({P + "ssl-cert": CERT, P + "ssl-ports": "admin, 443"}, ports=ports)
    assert spec.options["ssl_ports"] == (443, 8443)


def test_ssl_ports_star() -> None:
    spec = parse({P + "ssl-cert": CERT, P + "ssl-ports": "*"}, ports=[HTTP, HTTPS])
    assert spec.options["ssl_ports"] == (80, 443)


def test_ssl_ports_unknown_name_rejected() -> None:
    rejects(
        {P + "ssl-cert": CERT, P + "ssl-ports": "https,web"},
        ports=[HTTP, HTTPS],
        field=f"metadata.annotations[{P}ssl-ports]",
    )


def test_ssl_ports_udp_rejected() -> None:
    rejects(
        {P + "ssl-cert": CERT, P + "ssl-ports": "dns-udp"},
        ports=[DNS_UDP, HTTPS],
        field=f"metadata.annotations[{P}ssl-ports]",
    )


def test_ssl_ports_without_cert_rejected() -> None:
    rejects({P + "ssl-ports": "443"}, ports=[HTTPS])


def test_ssl_cert_not_arn_rejected() -> None:
    rejects({P + "ssl-cert": "my-cert"})


def test_ssl_negotiation_policy() -> None:
    policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    spec = parse({P + "ssl-cert": CERT, P + "ssl-negotiation-policy": policy})
    assert spec.options["ssl_negotiation_policy"] == policy


def test_ssl_negotiation_policy_without_cert_rejected() -> None:
    rejects({P + "ssl-negotiation-policy": "ELBSecurityPolicy-2016-08"})


@pytest.mark.parametrize(("value", "want"), [("tls", "tls"), ("ssl", "tls"), ("TCP", "tcp")])
def test_backend_protocol_nlb(value: str, want: str) -> None:
    assert parse({P + "backend-protocol": value}).options["backend_protocol"] == want


def test_backend_protocol_alb() -> None:
    spec = parse({P + "type": "alb", P + "backend-protocol": "https"})
    assert spec.options["backend_protocol"] == "https"


def test_backend_protocol_http_on_nlb_rejected() -> None:
    assert rejects({P + "backend-protocol": "http"}).accepted == "tcp, tls, ssl"


def test_backend_protocol_tcp_on_alb_rejected() -> None:
    rejects(
        {P + "type": "alb", P + "backend-protocol": "tcp"},
        field=f"metadata.annotations[{P}backend-protocol]",
    )


def test_alpn_policy() -> None:
    spec = parse({P + "ssl-cert": CERT, P + "alpn-policy": "http2preferred"})
    assert spec.options["alpn_policy"] == "HTTP2Preferred"


def test_alpn_policy_without_tls_rejected() -> None:
    rejects({P + "alpn-policy": "HTTP2Only"})


def test_alpn_policy_on_alb_rejected() -> None:
    rejects(
        {P + "type": "alb", P + "ssl-cert": CERT, P + "alpn-policy": "HTTP2Only"},
        field=f"metadata.annotations[{P}alpn-policy]",
    )


def test_alpn_policy_garbage_rejected() -> None:
    rejects(
        {P + "ssl-cert": CERT, P + "alpn-policy": "h3"},
        field=f"metadata.annotations[{P}alpn-policy]",
    )


# --- health check -----------------------------------------------------------------------


def test_local_policy_checks_kube_proxy() -> None:
    spec = parse(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    assert spec.health_check == HealthCheck("HTTP", 32000, "/healthz")
    assert spec.external_traffic_policy == "Local"
    assert spec.options["hc_success_codes"] == "200-399"


def test_local_policy_without_health_node_port_rejected() -> None:
    rejects(externalTrafficPolicy="Local", field="spec.healthCheckNodePort")


def test_health_check_overrides() -> None:
    spec = parse(
        {
            P + "healthcheck-protocol": "https",
            P + "healthcheck-port": "8443",
            P + "healthcheck-path": "/ready",
        }
    )
    assert spec.health_check == HealthCheck("HTTPS", 8443, "/ready")


def test_health_check_traffic_port_overrides_local() -> None:
    spec = parse(
        {P + "healthcheck-port": "traffic-port"},
        externalTrafficPolicy="Local",
        healthCheckNodePort=32000,
    )
    assert spec.health_check == HealthCheck("HTTP", None, "/healthz")


def test_health_check_http_default_path() -> None:
    assert parse({P + "healthcheck-protocol": "HTTP"}).health_check == HealthCheck(
        "HTTP", None, "/"
    )


def test_health_check_protocol_garbage_rejected() -> None:
    assert rejects({P + "healthcheck-protocol": "ICMP"}).accepted == "TCP, HTTP, HTTPS"


def test_health_check_tcp_on_alb_rejected() -> None:
    rejects(
        {P + "type": "alb", P + "healthcheck-protocol": "TCP"},
        field=f"metadata.annotations[{P}healthcheck-protocol]",
    )


@pytest.mark.parametrize("value", ["0", "65536", "http"])
def test_health_check_port_rejected(value: str) -> None:
    rejects({P + "healthcheck-port": value})


def test_health_check_path_on_tcp_rejected() -> None:
    rejects({P + "healthcheck-path": "/healthz"})


def test_health_check_path_relative_rejected() -> None:
    rejects(
        {P + "healthcheck-protocol": "HTTP", P + "healthcheck-path": "ready"},
        field=f"metadata.annotations[{P}healthcheck-path]",
    )


def test_health_check_numbers() -> None:
    spec = parse(
        {
            P + "healthcheck-interval": "30",
            P + "healthcheck-timeout": "6",
            P + "healthcheck-healthy-threshold": "2",
            P + "healthcheck-unhealthy-threshold": "10",
        }
    )
    options = spec.options
    assert (options["hc_interval"], options["hc_timeout"]) == (30, 6)
    assert (options["hc_healthy"], options["hc_unhealthy"]) == (2, 10)


@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("healthcheck-interval", "4"),
        ("healthcheck-interval", "301"),
        ("healthcheck-timeout", "1"),
        ("healthcheck-healthy-threshold", "1"),
        ("healthcheck-unhealthy-threshold", "11"),
        ("healthcheck-healthy-threshold", "three"),
    ],
)
def test_health_check_numbers_out_of_range(suffix: str, value: str) -> None:
    rejects({P + suffix: value})


def test_health_check_timeout_above_interval_rejected() -> None:
    rejects(
        {P + "healthcheck-interval": "10", P + "healthcheck-timeout": "20"},
        field=f"metadata.annotations[{P}healthcheck-timeout]",
    )


def test_default_timeout_shrinks_to_a_short_interval() -> None:
    assert parse({P + "healthcheck-interval": "5"}).options["hc_timeout"] == 5
    assert parse({P + "type": "alb", P + "healthcheck-interval": "5"}).options["hc_timeout"] == 4


def test_alb_timeout_must_be_below_interval() -> None:
    err = rejects(
        {P + "type": "alb", P + "healthcheck-interval": "10", P + "healthcheck-timeout": "10"},
        field=f"metadata.annotations[{P}healthcheck-timeout]",
    )
    assert err.accepted == "2-9 with this interval"


def test_nlb_timeout_may_equal_interval() -> None:
    spec = parse({P + "healthcheck-interval": "20", P + "healthcheck-timeout": "20"})
    assert spec.options["hc_timeout"] == 20


def test_success_codes() -> None:
    spec = parse({P + "healthcheck-protocol": "HTTP", P + "healthcheck-success-codes": "200,202"})
    assert spec.options["hc_success_codes"] == "200,202"


@pytest.mark.parametrize("value", ["ok", "200-", "199", "300-200"])
def test_success_codes_rejected(value: str) -> None:
    rejects(
        {P + "healthcheck-protocol": "HTTP", P + "healthcheck-success-codes": value},
        field=f"metadata.annotations[{P}healthcheck-success-codes]",
    )


def test_success_codes_alb_limit() -> None:
    rejects(
        {P + "type": "alb", P + "healthcheck-success-codes": "200-599"},
        field=f"metadata.annotations[{P}healthcheck-success-codes]",
    )


def test_success_codes_on_tcp_rejected() -> None:
    rejects({P + "healthcheck-success-codes": "200"})


def test_identity_unchanged_by_health_check() -> None:
    before = parse()
    after = parse({P + "healthcheck-protocol": "HTTP", P + "healthcheck-interval": "30"})
    assert before != after
    assert before.identity() == after.identity()


# --- identity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotations",
    [
        {P + "type": "alb"},
        {P + "scheme": "internal"},
        {P + "internal": "true"},
        {P + "eip-allocations": "eipalloc-1,eipalloc-2", P + "subnets": "subnet-a,subnet-b"},
        {P + "subnets": "subnet-a"},
    ],
)
def test_identity_changes(annotations: dict[str, str]) -> None:
    assert parse().identity() != parse(annotations).identity()


def test_identity_changes_with_private_addresses() -> None:
    internal = {P + "scheme": "internal"}
    fixed = {**internal, P + "private-ipv4-addresses": "10.0.1.5"}
    assert parse(internal).identity() != parse(fixed).identity()


def test_identity_unchanged_by_in_place_options() -> None:
    changed = {
        P + "additional-resource-tags": "team=a",
        P + "ssl-cert": CERT,
        P + "attributes": "deletion_protection.enabled=true",
    }
    assert parse().identity() == parse(changed).identity()


# --- subnets, addresses -----------------------------------------------------------------


def test_subnets_trimmed() -> None:
    assert parse({P + "subnets": " subnet-a , my-subnet "}).options["subnets"] == (
        "subnet-a",
        "my-subnet",
    )


@pytest.mark.parametrize("value", ["subnet-a,,subnet-b", "subnet-a,subnet-a"])
def test_subnets_empty_or_repeated_item_rejected(value: str) -> None:
    rejects({P + "subnets": value})


def test_eip_allocations() -> None:
    spec = parse({P + "eip-allocations": "eipalloc-1, eipalloc-2"})
    assert spec.options["eip_allocations"] == ("eipalloc-1", "eipalloc-2")


def test_eip_allocations_bad_id_rejected() -> None:
    rejects({P + "eip-allocations": "eipalloc-1,52.1.2.3"})


def test_eip_allocations_count_must_match_subnets() -> None:
    rejects(
        {P + "eip-allocations": "eipalloc-1", P + "subnets": "subnet-a,subnet-b"},
        field=f"metadata.annotations[{P}eip-allocations]",
    )


def test_eip_allocations_internal_rejected() -> None:
    rejects(
        {P + "eip-allocations": "eipalloc-1", P + "scheme": "internal"},
        field=f"metadata.annotations[{P}eip-allocations]",
    )


def test_eip_allocations_alb_rejected() -> None:
    rejects(
        {P + "eip-allocations": "eipalloc-1", P + "type": "alb"},
        field=f"metadata.annotations[{P}eip-allocations]",
    )


def test_private_ipv4_addresses() -> None:
    spec = parse(
        {
            P + "scheme": "internal",
            P + "private-ipv4-addresses": "10.0.1.5,10.0.2.5",
            P + "subnets": "subnet-a,subnet-b",
        }
    )
    assert spec.options["private_ipv4_addresses"] == ("10.0.1.5", "10.0.2.5")


def test_private_ipv4_addresses_internet_facing_rejected() -> None:
    rejects({P + "private-ipv4-addresses": "10.0.1.5"})


def test_private_ipv4_addresses_not_ipv4_rejected() -> None:
    rejects(
        {P + "scheme": "internal", P + "private-ipv4-addresses": "10.0.1.5,fd00::1"},
        field=f"metadata.annotations[{P}private-ipv4-addresses]",
    )


# --- attributes, cross-zone -------------------------------------------------------------


def test_attributes_sorted() -> None:
    spec = parse(
        {
            P + "attributes": "deletion_protection.enabled=true, access_logs.s3.enabled=false",
            P + "target-group-attributes": "preserve_client_ip.enabled=true",
        }
    )
    assert spec.options["attributes"] == (
        ("access_logs.s3.enabled", "false"),
        ("deletion_protection.enabled", "true"),
    )
    assert spec.options["target_group_attributes"] == (("preserve_client_ip.enabled", "true"),)


@pytest.mark.parametrize("value", ["novalue", "=x", "a=1,a=2"])
def test_attributes_malformed_rejected(value: str) -> None:
    rejects({P + "target-group-attributes": value})


def test_cross_zone() -> None:
    assert parse({P + "cross-zone-load-balancing-enabled": "true"}).options["cross_zone"] is True
    assert parse({P + "cross-zone-load-balancing-enabled": "False"}).options["cross_zone"] is False


def test_cross_zone_garbage_rejected() -> None:
    assert rejects({P + "cross-zone-load-balancing-enabled": "yes"}).accepted == "true, false"


def test_cross_zone_agreeing_with_attributes() -> None:
    spec = parse(
        {
            P + "cross-zone-load-balancing-enabled": "true",
            P + "attributes": "load_balancing.cross_zone.enabled=true",
        }
    )
    assert spec.options["cross_zone"] is True


def test_cross_zone_conflicting_with_attributes() -> None:
    rejects(
        {
            P + "cross-zone-load-balancing-enabled": "true",
            P + "attributes": "load_balancing.cross_zone.enabled=false",
        },
        field=f"metadata.annotations[{P}attributes]",
    )


# --- nodes, proxy protocol, security groups -----------------------------------------------


def test_target_node_labels() -> None:
    spec = parse({P + "target-node-labels": "pool=web, kubernetes.io/os=linux"})
    assert spec.options["target_node_labels"] == (("kubernetes.io/os", "linux"), ("pool", "web"))


def test_target_node_labels_without_value_rejected() -> None:
    rejects({P + "target-node-labels": "pool"})


def test_proxy_protocol() -> None:
    assert parse({P + "proxy-protocol": "*"}).options["proxy_protocol"] is True


def test_proxy_protocol_other_value_rejected() -> None:
    assert rejects({P + "proxy-protocol": "true"}).accepted == "*"


def test_proxy_protocol_on_alb_rejected() -> None:
    rejects(
        {P + "type": "alb", P + "proxy-protocol": "*"},
        field=f"metadata.annotations[{P}proxy-protocol]",
    )


def test_security_groups() -> None:
    spec = parse({P + "security-groups": "sg-123, frontend"})
    assert spec.options["security_groups"] == ("sg-123", "frontend")


def test_manage_backend_sg_rules_off() -> None:
    spec = parse({P + "manage-backend-security-group-rules": "false"})
    assert spec.options["manage_backend_sg_rules"] is False


def test_manage_backend_sg_rules_garbage_rejected() -> None:
    rejects({P + "manage-backend-security-group-rules": "no"})


# --- tags -------------------------------------------------------------------------------


def test_additional_tags_sorted() -> None:
    spec = parse({P + "additional-resource-tags": "team=web, cost-center=42, flag"})
    assert spec.tags == (("cost-center", "42"), ("flag", ""), ("team", "web"))


@pytest.mark.parametrize(
    "tags",
    [
        "aws:cloudformation:stack-name=x",
        "AWS:x=y",
        "kubernetes.io/cluster/c1=owned",
        "kubernetes.io/service-name=other/svc",
        "ccm.dev/uid=u-2",
        "team=a,team=b",
        "x" * 129 + "=v",
    ],
)
def test_additional_tags_rejected(tags: str) -> None:
    rejects({P + "additional-resource-tags": tags})


# --- the annotation table ---------------------------------------------------------------


class _Recording(dict[str, Any]):
    """Annotations that remember every name the parser asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _asked_by_parser() -> set[str]:
    asked: set[str] = set()
    variants: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({}, {}),
        ({P + "type": "alb"}, {}),
        ({P + "ssl-cert": CERT, P + "alpn-policy": "None"}, {"ports": [HTTP, HTTPS]}),
        ({P + "healthcheck-protocol": "HTTP", P + "scheme": "internal"}, {}),
        ({}, {"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}),
    ]
    for extra, spec in variants:
        svc = service(extra, **spec)
        recording = _Recording(svc["metadata"]["annotations"])
        svc["metadata"]["annotations"] = recording
        parse_service(svc, CLUSTER)
        asked |= recording.asked
    return asked


def test_every_annotation_read_is_documented() -> None:
    documented = {doc.name for doc in ANNOTATIONS}
    asked = _asked_by_parser()
    assert asked - documented == set()
    assert len(asked) > 25


def test_every_annotation_named_in_the_module_is_documented() -> None:
    source = Path(annotations_module.__file__).read_text()
    suffixes = set(re.findall(r'P \+ "([a-z0-9-]+)"', source))
    named = {P + suffix for suffix in suffixes} | {SOURCE_RANGES}
    assert named == {doc.name for doc in ANNOTATIONS}


def test_readme_table_lists_every_annotation() -> None:
    readme = (ROOT / "providers/aws/README.md").read_text()
    assert readme.startswith("# aws — Network and Application Load Balancers")
    rows = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    assert {doc.name for doc in ANNOTATIONS} <= rows
    for doc in ANNOTATIONS:  # the whole row, so a changed default shows up in the table too
        assert f"| `{doc.name}` | {doc.values} | {doc.default} | {doc.change} |" in readme
    for doc in ANNOTATIONS:
        assert doc.change.split(" (")[0] in ("in place", "replace")


def test_identity_annotations_documented_as_replace() -> None:
    by_name = {doc.name: doc.change for doc in ANNOTATIONS}
    for suffix in (
        "type",
        "scheme",
        "internal",
        "subnets",
        "eip-allocations",
        "private-ipv4-addresses",
    ):
        assert by_name[P + suffix].startswith("replace")

"""A Service's JSON as the GCP driver reads it: GKE's annotations and the spec ->
LoadBalancerSpec, every value checked before any compute call.

The annotations are GKE's own (`networking.gke.io/*`, `cloud.google.com/*`) with their
documented meaning, so a manifest moves from GKE's service controller unchanged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ccm.model import (
    JSON,
    ClusterInfo,
    HealthCheck,
    InvalidServiceSpec,
    Listener,
    LoadBalancerSpec,
    ServiceRef,
)
from ccm.service_fields import (
    AnnotationDoc,
    ipv4_source_ranges,
    port_number,
    status_ips,
)
from ccm.service_fields import (
    bad_annotation as _bad,
)

LB_TYPE = "networking.gke.io/load-balancer-type"
LEGACY_LB_TYPE = "cloud.google.com/load-balancer-type"
NETWORK_TIER = "cloud.google.com/network-tier"
GLOBAL_ACCESS = "networking.gke.io/internal-load-balancer-allow-global-access"
SUBNET = "networking.gke.io/internal-load-balancer-subnet"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"

EXTERNAL = "EXTERNAL"
INTERNAL = "INTERNAL"
KUBE_PROXY_PORT = 10256  # kube-proxy's /healthz, for externalTrafficPolicy Cluster
HEALTHZ = "/healthz"
MAX_LISTED_PORTS = 5  # a forwarding rule lists at most five ports; beyond, allPorts
_SUBNET_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

# What needs a new forwarding rule, backend service and address beside the old one.
IDENTITY_OPTIONS = ("scheme", "network_tier", "subnet", "protocol")


ANNOTATIONS: tuple[AnnotationDoc, ...] = (
    AnnotationDoc(LB_TYPE, "`Internal`, `External`", "`External`", "replace"),
    AnnotationDoc(
        LEGACY_LB_TYPE, "`Internal` (read when the first is absent)", "external", "replace"
    ),
    AnnotationDoc(NETWORK_TIER, "`Premium`, `Standard` (external only)", "`Premium`", "replace"),
    AnnotationDoc(GLOBAL_ACCESS, "`true`, `false` (internal only)", "`false`", "in place"),
    AnnotationDoc(
        SUBNET,
        "a subnetwork name in the region (internal only)",
        "the cluster's subnetwork",
        "replace",
    ),
    AnnotationDoc(
        SOURCE_RANGES,
        "comma-separated CIDRs (`spec.loadBalancerSourceRanges` wins)",
        "`0.0.0.0/0`",
        "in place",
    ),
    AnnotationDoc(
        "spec.loadBalancerIP",
        "an existing static address of the region (never released or deleted)",
        "an address ccm reserves",
        "in place (the forwarding rule is re-created)",
    ),
    AnnotationDoc("spec.sessionAffinity", "`None`, `ClientIP`", "`None`", "in place"),
    AnnotationDoc(
        "spec.externalTrafficPolicy",
        "`Cluster` (kube-proxy /healthz on 10256), `Local` (HTTP on healthCheckNodePort)",
        "`Cluster`",
        "in place",
    ),
    AnnotationDoc(
        "spec.ports",
        "all TCP or all UDP; more than five ports forward all ports",
        "-",
        "in place (the forwarding rule is re-created)",
    ),
)


def parse(service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
    meta = service.get("metadata") or {}
    ann: Mapping[str, Any] = meta.get("annotations") or {}
    body: Mapping[str, Any] = service.get("spec") or {}
    scheme = _scheme(ann)
    listeners = _listeners(body)
    protocol = listeners[0].protocol
    tier = _tier(ann, scheme)
    global_access = _global_access(ann, scheme)
    subnet = _subnet(ann, scheme)
    policy = str(body.get("externalTrafficPolicy") or "Cluster")
    if policy not in ("Cluster", "Local"):
        raise InvalidServiceSpec(
            "spec.externalTrafficPolicy", f'"{policy}" is not a policy', "Cluster, Local"
        )
    health = _health(body, policy)
    affinity = str(body.get("sessionAffinity") or "None")
    if affinity not in ("None", "ClientIP"):
        raise InvalidServiceSpec("spec.sessionAffinity", f'"{affinity}"', "None, ClientIP")
    ip = _requested_ip(body, scheme)
    options = {
        "scheme": scheme,
        "network_tier": tier,
        "subnet": subnet,
        "protocol": protocol,
        "allow_global_access": global_access,
        "requested_ip": ip,
        "status_ips": status_ips(service),
    }
    return LoadBalancerSpec(
        service=ServiceRef.of(service),
        kind=scheme.lower(),
        listeners=listeners,
        scheme=scheme.lower(),
        source_ranges=_source_ranges(ann, body),
        health_check=health,
        external_traffic_policy=policy,
        session_affinity=affinity,
        options=options,
        identity_options=IDENTITY_OPTIONS,
        observed_options=("status_ips",),
    )


def identity_hash(spec: LoadBalancerSpec) -> str:
    """What names a generation of resources; the same spec always hashes the same."""
    parts = "|".join(f"{k}={spec.options.get(k)}" for k in IDENTITY_OPTIONS)
    return hashlib.sha256(parts.encode()).hexdigest()[:10]


def _scheme(ann: Mapping[str, Any]) -> str:
    name = LB_TYPE if LB_TYPE in ann else LEGACY_LB_TYPE
    value = str(ann.get(name, "External")).strip()
    if value.lower() == "internal":
        return INTERNAL
    if value.lower() == "external" or value == "":
        return EXTERNAL
    raise _bad(name, f'"{value}" is not a load-balancer type', "Internal, External")


def _tier(ann: Mapping[str, Any], scheme: str) -> str:
    value = str(ann.get(NETWORK_TIER, "Premium")).strip()
    tier = value.upper()
    if tier not in ("PREMIUM", "STANDARD"):
        raise _bad(NETWORK_TIER, f'"{value}" is not a network tier', "Premium, Standard")
    if scheme == INTERNAL:
        if NETWORK_TIER in ann and tier == "STANDARD":
            raise _bad(NETWORK_TIER, "an internal load balancer has no network tier", "Premium")
        return ""
    return tier


def _global_access(ann: Mapping[str, Any], scheme: str) -> bool:
    raw = ann.get(GLOBAL_ACCESS)
    if raw is None:
        return False
    value = str(raw).strip().lower()
    if value not in ("true", "false"):
        raise _bad(GLOBAL_ACCESS, f'"{raw}" is not a boolean', "true, false")
    if value == "true" and scheme != INTERNAL:
        raise _bad(GLOBAL_ACCESS, "global access applies to internal load balancers only")
    return value == "true"


def _subnet(ann: Mapping[str, Any], scheme: str) -> str:
    raw = ann.get(SUBNET)
    if raw is None:
        return ""
    value = str(raw).strip()
    if scheme != INTERNAL:
        raise _bad(SUBNET, "a subnetwork applies to internal load balancers only")
    if not _SUBNET_NAME.match(value):
        raise _bad(SUBNET, f'"{value}" is not a subnetwork name', "a name like my-subnet")
    return value


def _listeners(body: Mapping[str, Any]) -> tuple[Listener, ...]:
    ports = body.get("ports")
    if not isinstance(ports, list) or not ports:
        raise InvalidServiceSpec("spec.ports", "needs at least one port")
    out: list[Listener] = []
    for i, port in enumerate(ports):
        field = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            raise InvalidServiceSpec(field, "must be a mapping with `port`")
        number = port_number(port.get("port"), f"{field}.port")
        protocol = str(port.get("protocol") or "TCP")
        if protocol not in ("TCP", "UDP"):
            raise InvalidServiceSpec(
                f"{field}.protocol", f'"{protocol}" is not forwarded by GCP', "TCP, UDP"
            )
        node_port = port.get("nodePort")
        out.append(
            Listener(
                port=number,
                protocol=protocol,
                node_port=None
                if node_port is None
                else port_number(node_port, f"{field}.nodePort"),
                name=str(port.get("name") or ""),
            )
        )
    protocols = {lst.protocol for lst in out}
    if len(protocols) > 1:
        raise InvalidServiceSpec(
            "spec.ports",
            "mixes TCP and UDP; a GCP forwarding rule carries one protocol",
            "all TCP or all UDP (make two Services for both)",
        )
    if len({lst.port for lst in out}) != len(out):
        raise InvalidServiceSpec("spec.ports", "lists a port twice")
    return tuple(sorted(out, key=lambda lst: lst.port))


def _health(body: Mapping[str, Any], policy: str) -> HealthCheck:
    if policy == "Cluster":
        return HealthCheck("HTTP", KUBE_PROXY_PORT, HEALTHZ)
    node_port = body.get("healthCheckNodePort")
    if node_port is None:
        raise InvalidServiceSpec(
            "spec.healthCheckNodePort", "externalTrafficPolicy Local needs a health check node port"
        )
    return HealthCheck("HTTP", port_number(node_port, "spec.healthCheckNodePort"), HEALTHZ)


def _requested_ip(body: Mapping[str, Any], scheme: str) -> str:
    raw = body.get("loadBalancerIP")
    if not raw:
        return ""
    text = str(raw).strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidServiceSpec(
            "spec.loadBalancerIP", f'"{text}" is not an IP address', "an IPv4 address"
        ) from None
    if ip.version != 4:
        raise InvalidServiceSpec("spec.loadBalancerIP", "regional load balancers are IPv4 only")
    if scheme == INTERNAL and not ip.is_private:
        raise InvalidServiceSpec(
            "spec.loadBalancerIP",
            f"{text} is public; an internal load balancer needs a private one",
        )
    return text


def _source_ranges(ann: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[str, ...]:
    """spec first, then the annotation, then open to all, as GKE does."""
    raw = ann.get(SOURCE_RANGES)
    return ipv4_source_ranges(body, SOURCE_RANGES, None if raw is None else str(raw), "0.0.0.0/0")

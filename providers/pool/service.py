"""A Service's JSON as this driver reads it, before any pool is consulted.

The option names written here are read back by `request_for`, so both live in this module:
the spec is the only channel between `parse` and `ensure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccm.model import JSON, InvalidServiceSpec, Listener, LoadBalancerSpec, ServiceRef
from providers.pool.addresses import family_of, parse_ip
from providers.pool.allocator import Holder, Request

POOL_ANNOTATION = "metallb.io/address-pool"
IPS_ANNOTATION = "metallb.io/loadBalancerIPs"
SHARED_ANNOTATION = "metallb.io/allow-shared-ip"
LEGACY_PREFIX = "metallb.universe.tf/"  # MetalLB's older spelling, still honoured
LOAD_BALANCER_IP_FIELD = "spec.loadBalancerIP"

KIND = "pool"
IDENTITY_OPTIONS = ("pool", "requested_ips")
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICIES = ("Cluster", "Local")
FAMILIES = ("IPv4", "IPv6")
IPS_ACCEPTED = "one IPv4 and/or one IPv6 address, comma-separated"


def annotation_field(name: str) -> str:
    return f"metadata.annotations[{name}]"


@dataclass(frozen=True)
class Reading:
    """The spec plus where its pool and requested IPs came from, so config-dependent
    checks can name the field the user actually wrote."""

    spec: LoadBalancerSpec
    pool_field: str
    requested_field: str


def read_service(service: JSON) -> Reading:
    meta = service.get("metadata") or {}
    body = service.get("spec") or {}
    annotations: Mapping[str, Any] = meta.get("annotations") or {}
    ref = ServiceRef.of(service)

    pool_field, pool = _annotation(annotations, POOL_ANNOTATION)
    _, sharing_key = _annotation(annotations, SHARED_ANNOTATION)
    requested_field, requested = _requested_ips(annotations, body)
    policy = str(body.get("externalTrafficPolicy") or "Cluster")
    if policy not in POLICIES:
        raise InvalidServiceSpec(
            "spec.externalTrafficPolicy", f'"{policy}" is not a traffic policy', ", ".join(POLICIES)
        )
    families = tuple(family_of(parse_ip(ip)) for ip in requested) if requested else _families(body)
    selector = body.get("selector") or {}
    spec = LoadBalancerSpec(
        service=ref,
        kind=KIND,
        listeners=_listeners(body.get("ports") or []),
        scheme="external",
        source_ranges=tuple(str(r) for r in body.get("loadBalancerSourceRanges") or ()),
        external_traffic_policy=policy,
        session_affinity=str(body.get("sessionAffinity") or "None"),
        options={
            "pool": pool,
            "requested_ips": requested,
            "sharing_key": sharing_key,
            "families": families,
            "selector": tuple(sorted((str(k), str(v)) for k, v in selector.items())),
            "current_ips": status_ips(service),
        },
        identity_options=IDENTITY_OPTIONS,
        observed_options=("current_ips",),
    )
    return Reading(spec, pool_field, requested_field)


def status_ips(service: JSON) -> tuple[str, ...]:
    """The addresses the Service already shows; garbage is skipped, not fatal, because
    status is not user input."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    out: list[str] = []
    for point in ingress:
        try:
            ip = str(parse_ip(str(point.get("ip") or "")))
        except (ValueError, AttributeError):
            continue
        if ip not in out:
            out.append(ip)
    return tuple(out)


def request_for(spec: LoadBalancerSpec) -> Request:
    options = spec.options
    requested = tuple(options.get("requested_ips") or ())
    families = tuple(options.get("families") or ()) or (
        tuple(family_of(parse_ip(ip)) for ip in requested) if requested else ("IPv4",)
    )
    return Request(
        tenant=tenant_for(spec),
        namespace=spec.service.namespace,
        families=families,
        pool=options.get("pool"),
        requested=requested,
        current=tuple(options.get("current_ips") or ()),
    )


def tenant_for(spec: LoadBalancerSpec) -> Holder:
    """What the table must know of a Service to judge sharing; the pool is filled in per IP."""
    return Holder(
        key=spec.service.key,
        uid=spec.service.uid,
        pool="",
        sharing_key=spec.options.get("sharing_key"),
        ports=frozenset((listener.port, listener.protocol) for listener in spec.listeners),
        policy=spec.external_traffic_policy,
        selector=tuple(spec.options.get("selector") or ()),
        identity=spec.identity(),
    )


def guarded_tenant(service: JSON) -> Holder:
    """A holder for a Service whose spec no longer parses: it keeps its address and
    shares it with nobody, the safe reading of an unreadable Service."""
    ref = ServiceRef.of(service)
    stub = LoadBalancerSpec(
        service=ref,
        kind=KIND,
        listeners=(),
        options={"pool": None, "requested_ips": ()},
        identity_options=IDENTITY_OPTIONS,
    )
    return Holder(ref.key, ref.uid, "", None, frozenset(), identity=stub.identity())


def _annotation(annotations: Mapping[str, Any], name: str) -> tuple[str, str | None]:
    legacy = LEGACY_PREFIX + name.split("/", 1)[1]
    for key in (name, legacy):
        value = annotations.get(key)
        if value is not None and str(value).strip():
            return annotation_field(key), str(value).strip()
    return annotation_field(name), None


def _requested_ips(
    annotations: Mapping[str, Any], body: Mapping[str, Any]
) -> tuple[str, tuple[str, ...]]:
    field, listed = _annotation(annotations, IPS_ANNOTATION)
    legacy_ip = str(body.get("loadBalancerIP") or "").strip()
    if listed is not None and legacy_ip:
        raise InvalidServiceSpec(
            field,
            f"conflicts with spec.loadBalancerIP ({legacy_ip}); set only one of them",
            f"{IPS_ACCEPTED} in the annotation, and spec.loadBalancerIP empty",
        )
    if listed is None and not legacy_ip:
        return field, ()
    if listed is None:
        field, texts = LOAD_BALANCER_IP_FIELD, [legacy_ip]
    else:
        texts = [t.strip() for t in listed.split(",") if t.strip()]
    by_family: dict[str, str] = {}
    for text in texts:
        try:
            ip = parse_ip(text)
        except ValueError as exc:
            raise InvalidServiceSpec(field, str(exc), IPS_ACCEPTED) from None
        family = family_of(ip)
        if family in by_family:
            raise InvalidServiceSpec(
                field,
                f"{by_family[family]} and {ip} are both {family}; at most one per family",
                IPS_ACCEPTED,
            )
        by_family[family] = str(ip)
    return field, tuple(by_family.values())


def _families(body: Mapping[str, Any]) -> tuple[str, ...]:
    families = tuple(str(f) for f in body.get("ipFamilies") or ()) or ("IPv4",)
    for i, family in enumerate(families):
        if family not in FAMILIES:
            raise InvalidServiceSpec(
                f"spec.ipFamilies[{i}]", f'"{family}" is not an IP family', ", ".join(FAMILIES)
            )
    if len(set(families)) != len(families):
        raise InvalidServiceSpec("spec.ipFamilies", "lists a family twice", "IPv4, IPv6")
    return families


def _listeners(ports: Any) -> tuple[Listener, ...]:
    if not isinstance(ports, list):
        raise InvalidServiceSpec("spec.ports", "must be a list of ports")
    out = []
    for i, port in enumerate(ports):
        field = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            raise InvalidServiceSpec(field, "must be a mapping with `port`")
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise InvalidServiceSpec(f"{field}.port", f"{number!r} is not a port number", "1-65535")
        protocol = str(port.get("protocol") or "TCP")
        if protocol not in PROTOCOLS:
            raise InvalidServiceSpec(
                f"{field}.protocol", f'"{protocol}" is not a protocol', ", ".join(PROTOCOLS)
            )
        node_port = port.get("nodePort")
        target = port.get("targetPort")
        out.append(
            Listener(
                port=number,
                protocol=protocol,
                node_port=node_port if isinstance(node_port, int) else None,
                name=str(port.get("name") or ""),
                target_port=target if isinstance(target, int | str) else None,
                app_protocol=str(port.get("appProtocol") or ""),
            )
        )
    return tuple(out)

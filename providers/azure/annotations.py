"""A Service's JSON as the Azure driver reads it: AKS's annotations and the spec ->
LoadBalancerSpec, every value checked before any ARM call, with the meaning
cloud-provider-azure gives them, so a manifest moves from AKS unchanged."""

from __future__ import annotations

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
    annotation_field,
    ipv4_source_ranges,
    port_number,
    status_ips,
)
from ccm.service_fields import (
    bad_annotation as _bad,
)

P = "service.beta.kubernetes.io/azure-"
INTERNAL = P + "load-balancer-internal"
INTERNAL_SUBNET = P + "load-balancer-internal-subnet"
IPV4 = P + "load-balancer-ipv4"
PIP_NAME = P + "pip-name"
DNS_LABEL = P + "dns-label-name"
RESOURCE_GROUP = P + "load-balancer-resource-group"
PIP_TAGS = P + "pip-tags"
IDLE_TIMEOUT = P + "load-balancer-tcp-idle-timeout"
DISABLE_TCP_RESET = P + "load-balancer-disable-tcp-reset"
PROBE_PROTOCOL = P + "load-balancer-health-probe-protocol"
PROBE_INTERVAL = P + "load-balancer-health-probe-interval"
PROBE_COUNT = P + "load-balancer-health-probe-num-of-probe"
PROBE_PATH = P + "load-balancer-health-probe-request-path"
DISABLE_FLOATING_IP = P + "disable-load-balancer-floating-ip"
ALLOWED_RANGES = P + "allowed-ip-ranges"

IDENTITY_OPTIONS = ("internal", "subnet", "pip_name", "pip_resource_group")
_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,78}[A-Za-z0-9_]?$")
_DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_TAG_KEY_BAD = re.compile(r"[<>%&\\?/]")


ANNOTATIONS: tuple[AnnotationDoc, ...] = (
    AnnotationDoc(INTERNAL, "`true`, `false`", "`false`", "replace (moves between the two LBs)"),
    AnnotationDoc(
        INTERNAL_SUBNET,
        "a subnet of the cluster's virtual network (internal only)",
        "the cluster's subnet",
        "replace",
    ),
    AnnotationDoc(
        IPV4,
        "an IPv4 address: internal, a free address of the subnet; public, an existing public IP's",
        "allocated",
        "in place",
    ),
    AnnotationDoc(
        PIP_NAME,
        "an existing public IP's name (used, never deleted)",
        "ccm makes `<cluster>-a<uid>`",
        "replace",
    ),
    AnnotationDoc(DNS_LABEL, "a DNS label (lower-case, 3-63)", "none", "in place"),
    AnnotationDoc(RESOURCE_GROUP, "the public IP's resource group", "the cluster's", "replace"),
    AnnotationDoc(PIP_TAGS, "`k1=v1,k2=v2`, added to the public IP", "none", "in place"),
    AnnotationDoc(IDLE_TIMEOUT, "minutes, 4-100", "`4`", "in place"),
    AnnotationDoc(DISABLE_TCP_RESET, "`true`, `false`", "`false` (TCP reset on)", "in place"),
    AnnotationDoc(
        PROBE_PROTOCOL, "`Tcp`, `Http`, `Https`", "`Tcp` (`Http` with policy Local)", "in place"
    ),
    AnnotationDoc(PROBE_INTERVAL, "seconds, 5-300", "`5`", "in place"),
    AnnotationDoc(PROBE_COUNT, "probes, 2-100", "`2`", "in place"),
    AnnotationDoc(
        PROBE_PATH,
        "an absolute path (Http/Https probes)",
        "`/healthz` with Local, else `/`",
        "in place",
    ),
    AnnotationDoc(DISABLE_FLOATING_IP, "`true`, `false`", "`false` (floating IP on)", "in place"),
    AnnotationDoc(
        ALLOWED_RANGES,
        "comma-separated CIDRs (`spec.loadBalancerSourceRanges` wins)",
        "`Internet`",
        "in place",
    ),
    AnnotationDoc(
        "spec.externalTrafficPolicy",
        "`Cluster`, `Local` (HTTP probe on healthCheckNodePort `/healthz`)",
        "`Cluster`",
        "in place",
    ),
)


class _Ann:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        raw = self.values.get(name)
        if raw is None or str(raw).strip() == "":
            return None
        return str(raw).strip()

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise _bad(name, f'"{value}" is not a boolean', "true, false")
        return value.lower() == "true"

    def number(self, name: str, low: int, high: int, default: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise _bad(name, f'"{value}" is out of range', f"{low}-{high}")
        return int(value)


def parse(service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
    meta = service.get("metadata") or {}
    ann = _Ann(meta.get("annotations") or {})
    body: Mapping[str, Any] = service.get("spec") or {}
    internal = ann.boolean(INTERNAL, False)
    subnet = ann.get(INTERNAL_SUBNET) or ""
    if subnet and not internal:
        raise _bad(
            INTERNAL_SUBNET, "a subnet applies to internal load balancers only", f"{INTERNAL}: true"
        )
    if subnet and not _NAME.match(subnet):
        raise _bad(INTERNAL_SUBNET, f'"{subnet}" is not a subnet name')
    listeners = _listeners(body)
    policy = str(body.get("externalTrafficPolicy") or "Cluster")
    if policy not in ("Cluster", "Local"):
        raise InvalidServiceSpec("spec.externalTrafficPolicy", f'"{policy}"', "Cluster, Local")
    probe, probe_options = _probe(ann, body, policy)
    pip_name = ann.get(PIP_NAME) or ""
    if pip_name and internal:
        raise _bad(PIP_NAME, "an internal load balancer has no public IP")
    if pip_name and not _NAME.match(pip_name):
        raise _bad(PIP_NAME, f'"{pip_name}" is not a resource name')
    dns = ann.get(DNS_LABEL) or ""
    if dns and (internal or not _DNS_LABEL.match(dns)):
        raise _bad(
            DNS_LABEL,
            f'"{dns}" is not a DNS label for a public IP',
            "e.g. my-app (3-63, lower-case)",
        )
    options: dict[str, Any] = {
        "internal": internal,
        "subnet": subnet,
        "pip_name": pip_name,
        "pip_resource_group": ann.get(RESOURCE_GROUP) or "",
        "requested_ip": _requested_ip(ann, body, internal),
        "dns_label": dns,
        "pip_tags": _pip_tags(ann),
        "idle_timeout": ann.number(IDLE_TIMEOUT, 4, 100, 4),
        "tcp_reset": not ann.boolean(DISABLE_TCP_RESET, False),
        "floating_ip": not ann.boolean(DISABLE_FLOATING_IP, False),
        **probe_options,
        "status_ips": status_ips(service),
    }
    return LoadBalancerSpec(
        service=ServiceRef.of(service),
        kind="internal" if internal else "public",
        listeners=listeners,
        scheme="internal" if internal else "internet-facing",
        source_ranges=_source_ranges(ann, body),
        health_check=probe,
        external_traffic_policy=policy,
        session_affinity=str(body.get("sessionAffinity") or "None"),
        options=options,
        identity_options=IDENTITY_OPTIONS,
        observed_options=("status_ips",),
    )


def identity(spec: LoadBalancerSpec) -> str:
    """Which load balancer (and public IP) a generation lives on: the thing a switch
    changes. Names stay the UID's, so the identity is recorded, not hashed into names."""
    o = spec.options
    parts = [
        "internal" if o["internal"] else "public",
        o["subnet"],
        o["pip_name"],
        o["pip_resource_group"],
    ]
    return "|".join(parts)


def _listeners(body: Mapping[str, Any]) -> tuple[Listener, ...]:
    ports = body.get("ports")
    if not isinstance(ports, list) or not ports:
        raise InvalidServiceSpec("spec.ports", "needs at least one port")
    out = []
    seen: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        field = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            raise InvalidServiceSpec(field, "must be a mapping with `port`")
        number = port_number(port.get("port"), f"{field}.port")
        protocol = str(port.get("protocol") or "TCP")
        if protocol not in ("TCP", "UDP"):
            raise InvalidServiceSpec(
                f"{field}.protocol", f'"{protocol}" is not balanced by Azure', "TCP, UDP"
            )
        if (number, protocol) in seen:
            raise InvalidServiceSpec(field, f"{number}/{protocol} is listed twice")
        seen.add((number, protocol))
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
    return tuple(sorted(out, key=lambda lst: (lst.protocol, lst.port)))


def _probe(ann: _Ann, body: Mapping[str, Any], policy: str) -> tuple[HealthCheck, dict[str, Any]]:
    local = policy == "Local"
    raw = ann.get(PROBE_PROTOCOL)
    protocol = {"tcp": "Tcp", "http": "Http", "https": "Https"}.get((raw or "").lower())
    if raw is not None and protocol is None:
        raise _bad(PROBE_PROTOCOL, f'"{raw}" is not a probe protocol', "Tcp, Http, Https")
    protocol = protocol or ("Http" if local else "Tcp")
    path = ann.get(PROBE_PATH)
    if path is not None and not path.startswith("/"):
        raise _bad(PROBE_PATH, f'"{path}" does not start with "/"', "an absolute path")
    if path is not None and protocol == "Tcp":
        raise _bad(PROBE_PATH, "a Tcp probe has no path", f"Http or Https in {PROBE_PROTOCOL}")
    port: int | None = None
    if local:
        hc = body.get("healthCheckNodePort")
        if hc is None:
            raise InvalidServiceSpec(
                "spec.healthCheckNodePort",
                "externalTrafficPolicy Local needs a health check node port",
            )
        port = port_number(hc, "spec.healthCheckNodePort")
    if protocol != "Tcp" and path is None:
        path = "/healthz" if local else "/"
    options = {
        "probe_protocol": protocol,
        "probe_interval": ann.number(PROBE_INTERVAL, 5, 300, 5),
        "probe_count": ann.number(PROBE_COUNT, 2, 100, 2),
        "probe_path": path or "",
    }
    return HealthCheck(protocol.upper(), port, path or ""), options


def _requested_ip(ann: _Ann, body: Mapping[str, Any], internal: bool) -> str:
    raw = ann.get(IPV4) or str(body.get("loadBalancerIP") or "").strip()
    if not raw:
        return ""
    field = annotation_field(IPV4) if ann.get(IPV4) else "spec.loadBalancerIP"
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise InvalidServiceSpec(
            field, f'"{raw}" is not an IP address', "an IPv4 address"
        ) from None
    if ip.version != 4:
        raise InvalidServiceSpec(field, "IPv6 is not supported yet", "an IPv4 address")
    if internal and not ip.is_private:
        raise InvalidServiceSpec(
            field, f"{raw} is public; an internal load balancer needs a private one"
        )
    return raw


def _pip_tags(ann: _Ann) -> dict[str, str]:
    raw = ann.get(PIP_TAGS)
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (raw or "").split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key or _TAG_KEY_BAD.search(key) or len(key) > 512:
            raise _bad(PIP_TAGS, f'"{part}" is not key=value', "k1=v1,k2=v2")
        if key.startswith(("ccm.dev/", "k8s-azure-")):
            raise _bad(PIP_TAGS, f'"{key}" is a tag ccm sets itself')
        out[key] = value.strip()
    return out


def _source_ranges(ann: _Ann, body: Mapping[str, Any]) -> tuple[str, ...]:
    return ipv4_source_ranges(body, ALLOWED_RANGES, ann.get(ALLOWED_RANGES), "Internet")

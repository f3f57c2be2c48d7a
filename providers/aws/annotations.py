"""A Service's JSON as the AWS driver reads it: annotations and spec → LoadBalancerSpec.

The annotations are the native ones of cloud-provider-aws and aws-load-balancer-controller,
with their documented meaning, so a manifest moves to this controller unchanged. Everything
is checked here, before any AWS call: a value AWS would refuse (or silently ignore) is an
InvalidServiceSpec naming the field, so the Service gets a Warning and the cloud stays as it
is. `options` is the only channel to the driver, so every key is always present.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

P = "service.beta.kubernetes.io/aws-load-balancer-"
TYPE = P + "type"
NLB_TARGET_TYPE = P + "nlb-target-type"
SCHEME = P + "scheme"
INTERNAL = P + "internal"
SUBNETS = P + "subnets"
SSL_CERT = P + "ssl-cert"
SSL_PORTS = P + "ssl-ports"
SSL_POLICY = P + "ssl-negotiation-policy"
BACKEND_PROTOCOL = P + "backend-protocol"
ALPN_POLICY = P + "alpn-policy"
HC_PROTOCOL = P + "healthcheck-protocol"
HC_PORT = P + "healthcheck-port"
HC_PATH = P + "healthcheck-path"
HC_INTERVAL = P + "healthcheck-interval"
HC_TIMEOUT = P + "healthcheck-timeout"
HC_HEALTHY = P + "healthcheck-healthy-threshold"
HC_UNHEALTHY = P + "healthcheck-unhealthy-threshold"
HC_SUCCESS_CODES = P + "healthcheck-success-codes"
CROSS_ZONE = P + "cross-zone-load-balancing-enabled"
ATTRIBUTES = P + "attributes"
TG_ATTRIBUTES = P + "target-group-attributes"
EIP_ALLOCATIONS = P + "eip-allocations"
PRIVATE_IPV4 = P + "private-ipv4-addresses"
IP_ADDRESS_TYPE = P + "ip-address-type"
TARGET_NODE_LABELS = P + "target-node-labels"
PROXY_PROTOCOL = P + "proxy-protocol"
SECURITY_GROUPS = P + "security-groups"
MANAGE_BACKEND_SG = P + "manage-backend-security-group-rules"
ADDITIONAL_TAGS = P + "additional-resource-tags"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"

IDENTITY_OPTIONS = ("type", "scheme", "eip_allocations", "private_ipv4_addresses", "subnets")
CROSS_ZONE_ATTRIBUTE = "load_balancing.cross_zone.enabled"
RESERVED_TAG_PREFIXES = ("kubernetes.io/cluster/", "ccm.dev/")
RESERVED_TAGS = ("kubernetes.io/service-name",)
TYPES = {"nlb": "nlb", "external": "nlb", "nlb-ip": "nlb", "alb": "alb"}
ALPN_POLICIES = ("HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None")
NO_IP_TARGETS = "ip targets are not supported yet; use instance"
# Defaults of aws-load-balancer-controller (docs/guide/service/annotations.md), except the ALB
# timeout: an ALB refuses a timeout that is not below the interval, so it gets ELBv2's own
# HTTP default of 5 seconds.
HC_INTERVAL_DEFAULT = 10
HC_TIMEOUT_DEFAULT = {"nlb": 10, "alb": 5}
HC_THRESHOLD_DEFAULT = 3
SUCCESS_CODES_DEFAULT = "200-399"
KUBE_PROXY_HEALTHZ = "/healthz"  # what kube-proxy serves on healthCheckNodePort


@dataclass(frozen=True)
class AnnotationDoc:
    """One row of the README table; the test keeps the table and the parser in step."""

    name: str
    values: str
    default: str
    change: str  # "in place" or "replace"


ANNOTATIONS: tuple[AnnotationDoc, ...] = (
    AnnotationDoc(
        TYPE, "`nlb`, `external`, `alb` (`nlb-ip` is refused: ip targets)", "`nlb`", "replace"
    ),
    AnnotationDoc(
        NLB_TARGET_TYPE, "`instance` (`ip` is refused for now)", "`instance`", "in place"
    ),
    AnnotationDoc(SCHEME, "`internet-facing`, `internal`", "`internet-facing`", "replace"),
    AnnotationDoc(
        INTERNAL,
        "`true`, `0.0.0.0/0` (internal), `false`; deprecated, must agree "
        "with the scheme annotation",
        "`false`",
        "replace",
    ),
    AnnotationDoc(
        SUBNETS,
        "subnet IDs or `Name` tags, comma-separated; one per zone",
        "discovered by the driver",
        "replace (even on ALB, which could change in place: kept simple)",
    ),
    AnnotationDoc(
        SSL_CERT,
        "ACM/IAM certificate ARNs (`arn:...`), comma-separated; the first "
        "is the default certificate",
        "none: no TLS",
        "in place",
    ),
    AnnotationDoc(
        SSL_PORTS,
        "`*` or port numbers/names of `spec.ports`, comma-separated; needs ssl-cert",
        "every TCP port when ssl-cert is set",
        "in place",
    ),
    AnnotationDoc(
        SSL_POLICY, "an ELB security policy name; needs ssl-cert", "AWS's default", "in place"
    ),
    AnnotationDoc(
        BACKEND_PROTOCOL,
        "NLB: `tcp`, `tls` (`ssl` accepted); ALB: `http`, `https`",
        "`tcp` (NLB), `http` (ALB)",
        "in place",
    ),
    AnnotationDoc(
        ALPN_POLICY,
        "`HTTP1Only`, `HTTP2Only`, `HTTP2Optional`, `HTTP2Preferred`, "
        "`None`; NLB with TLS ports only",
        "none",
        "in place",
    ),
    AnnotationDoc(
        HC_PROTOCOL,
        "`TCP`, `HTTP`, `HTTPS` (ALB: `HTTP`, `HTTPS`)",
        "`HTTP` with `Local` policy or ALB, else `TCP`",
        "in place",
    ),
    AnnotationDoc(
        HC_PORT,
        "`traffic-port` or a port number",
        "`spec.healthCheckNodePort` with `Local` policy, else `traffic-port`",
        "in place",
    ),
    AnnotationDoc(
        HC_PATH,
        "a path starting with `/`; HTTP(S) checks only",
        "`/healthz` with `Local` policy, else `/`",
        "in place",
    ),
    AnnotationDoc(HC_INTERVAL, "seconds, 5-300", "`10`", "in place"),
    AnnotationDoc(
        HC_TIMEOUT,
        "seconds, 2-120; at most the interval (ALB: below it)",
        "`10` (NLB), `5` (ALB); shrunk to fit a shorter interval",
        "in place",
    ),
    AnnotationDoc(HC_HEALTHY, "2-10", "`3`", "in place"),
    AnnotationDoc(HC_UNHEALTHY, "2-10", "`3`", "in place"),
    AnnotationDoc(
        HC_SUCCESS_CODES,
        "codes or ranges, e.g. `200,202` or `200-299` (NLB 200-599,"
        " ALB 200-499); HTTP(S) checks only",
        "`200-399` for HTTP(S) checks",
        "in place",
    ),
    AnnotationDoc(
        CROSS_ZONE, "`true`, `false`; must agree with `attributes`", "AWS's default", "in place"
    ),
    AnnotationDoc(
        ATTRIBUTES, "`key=value` load-balancer attributes, comma-separated", "none", "in place"
    ),
    AnnotationDoc(
        TG_ATTRIBUTES, "`key=value` target-group attributes, comma-separated", "none", "in place"
    ),
    AnnotationDoc(
        EIP_ALLOCATIONS,
        "`eipalloc-...` IDs, comma-separated; NLB internet-facing only, one per subnet",
        "none: AWS-assigned addresses",
        "replace",
    ),
    AnnotationDoc(
        PRIVATE_IPV4,
        "IPv4 addresses, comma-separated; NLB internal only, one per subnet",
        "none: AWS-assigned addresses",
        "replace",
    ),
    AnnotationDoc(IP_ADDRESS_TYPE, "`ipv4`, `dualstack`", "`ipv4`", "in place"),
    AnnotationDoc(
        TARGET_NODE_LABELS,
        "`key=value` node labels, comma-separated; a node must carry all of them",
        "none: every eligible node",
        "in place",
    ),
    AnnotationDoc(
        PROXY_PROTOCOL, "`*` (proxy protocol v2 on every target group); NLB only", "off", "in place"
    ),
    AnnotationDoc(
        SECURITY_GROUPS,
        "security group IDs or `Name` tags, comma-separated; used "
        "as given, no frontend group is managed",
        "a frontend group managed by the driver",
        "in place",
    ),
    AnnotationDoc(MANAGE_BACKEND_SG, "`true`, `false`", "`true`", "in place"),
    AnnotationDoc(
        ADDITIONAL_TAGS,
        "`key=value` (or bare `key`), comma-separated; no `aws:` "
        "keys, no `kubernetes.io/cluster/*`, `kubernetes.io/service-name`, `ccm.dev/*`",
        "none",
        "in place",
    ),
    AnnotationDoc(
        SOURCE_RANGES,
        "CIDRs, comma-separated; ignored when `spec.loadBalancerSourceRanges` is set",
        "`0.0.0.0/0` (and `::/0` when dualstack)",
        "in place",
    ),
)


def annotation_field(name: str) -> str:
    return f"metadata.annotations[{name}]"


class _Annotations:
    """Reads annotations one name at a time, so a blank value counts as absent (as kubectl
    users expect when they clear one) and every error can name the field."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def get(self, name: str) -> str | None:
        value = self._raw.get(name)
        if value is None or not str(value).strip():
            return None
        return str(value).strip()

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list; an empty item is a typo worth reporting, not skipping."""
        value = self.get(name)
        if value is None:
            return ()
        items = tuple(item.strip() for item in value.split(","))
        if "" in items:
            raise _bad(name, "has an empty item", "a comma-separated list without empty items")
        if len(set(items)) != len(items):
            raise _bad(name, "lists an item twice", "a comma-separated list of distinct items")
        return items

    def pairs(self, name: str, *, bare_keys: bool = False) -> tuple[tuple[str, str], ...]:
        """A `k=v,k2=v2` map, sorted so that reordering it is not a change."""
        out: dict[str, str] = {}
        for item in self.items(name):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not key or (not sep and not bare_keys):
                raise _bad(name, f'"{item}" is not key=value', "key=value,key2=value2")
            if key in out:
                raise _bad(name, f'key "{key}" is set twice', "distinct keys")
            out[key] = value
        return tuple(sorted(out.items()))

    def choice(self, name: str, accepted: tuple[str, ...], default: str) -> str:
        """Case-insensitive match, returned in the accepted spelling."""
        value = self.get(name)
        if value is None:
            return default
        for option in accepted:
            if value.lower() == option.lower():
                return option
        raise _bad(name, f'"{value}" is not accepted', ", ".join(accepted))

    def boolean(self, name: str) -> bool | None:
        value = self.choice(name, ("true", "false"), "")
        return None if not value else value == "true"

    def number(self, name: str, low: int, high: int, default: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise _bad(name, f'"{value}" is not a whole number in range', f"{low}-{high}")
        return int(value)


def _bad(name: str, message: str, accepted: str = "") -> InvalidServiceSpec:
    return InvalidServiceSpec(annotation_field(name), message, accepted)


def parse_service(service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
    """The spec the driver ensures; pure, so the loop can compare two readings with `==`.
    `cluster` is part of the driver contract; nothing here depends on it yet."""
    del cluster
    meta = service.get("metadata") or {}
    body: Mapping[str, Any] = service.get("spec") or {}
    ann = _Annotations(meta.get("annotations") or {})

    kind = _kind(ann)
    scheme = _scheme(ann)
    ip_type = ann.choice(IP_ADDRESS_TYPE, ("ipv4", "dualstack"), "ipv4")
    policy = _spec_choice(body, "externalTrafficPolicy", ("Cluster", "Local"))
    affinity = _spec_choice(body, "sessionAffinity", ("None", "ClientIP"))
    listeners = _listeners(body, kind)
    subnets = ann.items(SUBNETS)
    health, hc_options = _health(ann, body, kind, policy)
    options: dict[str, Any] = {
        "type": kind,
        "scheme": scheme,
        "subnets": subnets,
        "target_type": "instance",
        **_tls(ann, listeners, kind),
        **hc_options,
        **_attributes(ann),
        **_addresses(ann, kind, scheme, subnets),
        "ip_address_type": ip_type,
        "target_node_labels": ann.pairs(TARGET_NODE_LABELS),
        "proxy_protocol": _proxy_protocol(ann, kind),
        "security_groups": ann.items(SECURITY_GROUPS),
        "manage_backend_sg_rules": ann.boolean(MANAGE_BACKEND_SG) is not False,
        "class": str(body.get("loadBalancerClass") or "") or None,
    }
    return LoadBalancerSpec(
        service=ServiceRef.of(service),
        kind=kind,
        listeners=listeners,
        scheme=scheme,
        source_ranges=_source_ranges(ann, body, ip_type),
        health_check=health,
        external_traffic_policy=policy,
        session_affinity=affinity,
        tags=_tags(ann),
        options=options,
        identity_options=IDENTITY_OPTIONS,
    )


def _spec_choice(body: Mapping[str, Any], key: str, accepted: tuple[str, ...]) -> str:
    value = str(body.get(key) or accepted[0])
    if value not in accepted:
        raise InvalidServiceSpec(f"spec.{key}", f'"{value}" is not accepted', ", ".join(accepted))
    return value


def _kind(ann: _Annotations) -> str:
    """NLB unless asked for ALB. Only instance targets exist so far, so every spelling that
    means ip targets is refused rather than quietly served with instance targets."""
    given = ann.get(TYPE) or "nlb"
    value = given.lower()
    if value not in TYPES:
        raise _bad(
            TYPE,
            f'"{given}" is not a load balancer type this driver builds',
            "nlb, external, nlb-ip, alb",
        )
    if value == "nlb-ip":
        raise _bad(
            TYPE, f"nlb-ip means ip targets: {NO_IP_TARGETS} (type external)", "nlb, external, alb"
        )
    target = ann.get(NLB_TARGET_TYPE)
    if target is not None and target.lower() == "ip":
        raise _bad(NLB_TARGET_TYPE, NO_IP_TARGETS, "instance")
    ann.choice(NLB_TARGET_TYPE, ("instance",), "instance")
    return TYPES[value]


def _scheme(ann: _Annotations) -> str:
    """The scheme annotation wins, but a legacy `internal` that says otherwise is a
    contradiction the user should resolve, not one we pick a side of."""
    scheme = ann.choice(SCHEME, ("internet-facing", "internal"), "")
    legacy = ann.choice(INTERNAL, ("true", "false", "0.0.0.0/0"), "")
    legacy_scheme = {"": "", "false": "internet-facing"}.get(legacy, "internal")
    if scheme and legacy_scheme and scheme != legacy_scheme:
        raise _bad(
            INTERNAL,
            f'"{ann.get(INTERNAL)}" means {legacy_scheme}, but {SCHEME} says {scheme}; remove one',
            f"absent, or agreeing with {SCHEME}",
        )
    return scheme or legacy_scheme or "internet-facing"


def _listeners(body: Mapping[str, Any], kind: str) -> tuple[Listener, ...]:
    ports = body.get("ports")
    if not isinstance(ports, list) or not ports:
        raise InvalidServiceSpec("spec.ports", "needs at least one port")
    need_node_ports = body.get("allocateLoadBalancerNodePorts") is False
    accepted = ("TCP",) if kind == "alb" else ("TCP", "UDP")
    seen: set[tuple[int, str]] = set()
    out = []
    for i, port in enumerate(ports):
        field = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            raise InvalidServiceSpec(field, "must be a mapping with `port`")
        number = _port_number(port.get("port"), f"{field}.port")
        protocol = str(port.get("protocol") or "TCP")
        if protocol not in accepted:
            raise InvalidServiceSpec(
                f"{field}.protocol",
                f'"{protocol}" is not a protocol an {kind.upper()} forwards',
                ", ".join(accepted),
            )
        if (number, protocol) in seen:
            raise InvalidServiceSpec(field, f"{number}/{protocol} is listed twice")
        seen.add((number, protocol))
        node_port = port.get("nodePort")
        if node_port is not None:
            node_port = _port_number(node_port, f"{field}.nodePort")
        elif need_node_ports:
            raise InvalidServiceSpec(
                f"{field}.nodePort",
                "instance targets need a node port, and allocateLoadBalancerNodePorts is false",
                "a nodePort on every port, or allocateLoadBalancerNodePorts true",
            )
        target = port.get("targetPort")
        out.append(
            Listener(
                port=number,
                protocol=protocol,
                node_port=node_port,
                name=str(port.get("name") or ""),
                target_port=target if isinstance(target, int | str) else None,
                app_protocol=str(port.get("appProtocol") or ""),
            )
        )
    return tuple(out)


def _port_number(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidServiceSpec(field, f"{value!r} is not a port number", "1-65535")
    return value


def _source_ranges(ann: _Annotations, body: Mapping[str, Any], ip_type: str) -> tuple[str, ...]:
    """spec first, then the annotation (as both upstream controllers do), then open to all.
    Host bits are dropped: EC2 wants network addresses in security group rules."""
    listed = body.get("loadBalancerSourceRanges") or []
    if listed:
        fields = [f"spec.loadBalancerSourceRanges[{i}]" for i in range(len(listed))]
        texts = [str(text).strip() for text in listed]
    else:
        texts = list(ann.items(SOURCE_RANGES))
        fields = [annotation_field(SOURCE_RANGES)] * len(texts)
    if not texts:
        return ("0.0.0.0/0", "::/0") if ip_type == "dualstack" else ("0.0.0.0/0",)
    out: list[str] = []
    for field, text in zip(fields, texts, strict=True):
        try:
            if "/" not in text:
                raise ValueError(text)
            cidr = str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InvalidServiceSpec(
                field, f'"{text}" is not a CIDR', "CIDRs, e.g. 203.0.113.0/24"
            ) from None
        if cidr not in out:
            out.append(cidr)
    return tuple(out)


def _tls(ann: _Annotations, listeners: tuple[Listener, ...], kind: str) -> dict[str, Any]:
    certs = ann.items(SSL_CERT)
    for cert in certs:
        if not cert.startswith("arn:"):
            raise _bad(SSL_CERT, f'"{cert}" is not an ARN', "ACM or IAM certificate ARNs")
    if not certs:
        for name in (SSL_PORTS, SSL_POLICY):
            if ann.get(name) is not None:
                raise _bad(
                    name,
                    f"applies to TLS listeners, and {SSL_CERT} is not set",
                    f"absent, or set together with {SSL_CERT}",
                )
    ports = _ssl_ports(ann, listeners) if certs else ()
    if kind == "nlb":
        backend = ann.choice(BACKEND_PROTOCOL, ("tcp", "tls", "ssl"), "tcp")
        backend = "tls" if backend == "ssl" else backend  # ssl: cloud-provider-aws spelling
    else:
        backend = ann.choice(BACKEND_PROTOCOL, ("http", "https"), "http")
    alpn = ann.choice(ALPN_POLICY, ALPN_POLICIES, "") or None
    if alpn is not None and (kind != "nlb" or not ports):
        raise _bad(
            ALPN_POLICY,
            "applies to NLB TLS listeners only (an NLB with ssl-cert)",
            f"absent, or an NLB with {SSL_CERT}",
        )
    return {
        "ssl_cert": certs,
        "ssl_ports": ports,
        "ssl_negotiation_policy": ann.get(SSL_POLICY),
        "backend_protocol": backend,
        "alpn_policy": alpn,
    }


def _ssl_ports(ann: _Annotations, listeners: tuple[Listener, ...]) -> tuple[int, ...]:
    """Port numbers that get TLS/HTTPS, in spec order. `*` means every port, as in
    cloud-provider-aws; a name or number that matches no port is refused, not ignored, since
    it would leave a port in clear text that the user meant to encrypt. UDP has no TLS."""
    tcp = [lis.port for lis in listeners if lis.protocol == "TCP"]
    items = ann.items(SSL_PORTS) or ("*",)
    if "*" in items:
        return tuple(dict.fromkeys(tcp))
    wanted: set[int] = set()
    for item in items:
        matches = [lis for lis in listeners if item in (lis.name, str(lis.port))]
        if not matches:
            raise _bad(
                SSL_PORTS,
                f'"{item}" is no port number or name in spec.ports',
                "*, or port numbers/names of spec.ports",
            )
        if not any(lis.protocol == "TCP" for lis in matches):
            raise _bad(SSL_PORTS, f'"{item}" is a UDP port; TLS needs TCP', "TCP ports")
        wanted.update(lis.port for lis in matches if lis.protocol == "TCP")
    return tuple(port for port in dict.fromkeys(tcp) if port in wanted)


def _health(
    ann: _Annotations, body: Mapping[str, Any], kind: str, policy: str
) -> tuple[HealthCheck, dict[str, Any]]:
    """With `Local`, kube-proxy's healthz on healthCheckNodePort tells which nodes have
    endpoints (the default of both upstream controllers); otherwise the traffic port."""
    local = policy == "Local"
    protocols = ("HTTP", "HTTPS") if kind == "alb" else ("TCP", "HTTP", "HTTPS")
    default_protocol = "HTTP" if local or kind == "alb" else "TCP"
    protocol = ann.choice(HC_PROTOCOL, protocols, default_protocol)
    port = _health_port(ann, body, local)
    path = ann.get(HC_PATH)
    if protocol == "TCP" and path is not None:
        raise _bad(HC_PATH, "a TCP health check has no path", f"HTTP or HTTPS in {HC_PROTOCOL}")
    if path is not None and not path.startswith("/"):
        raise _bad(HC_PATH, f'"{path}" does not start with "/"', "an absolute path")
    if protocol != "TCP" and path is None:
        path = KUBE_PROXY_HEALTHZ if local else "/"
    interval = ann.number(HC_INTERVAL, 5, 300, HC_INTERVAL_DEFAULT)
    # An ALB wants the timeout below the interval, an NLB at most equal to it: the default
    # shrinks to fit a short interval, a timeout the user wrote is checked instead.
    below = 1 if kind == "alb" else 0
    timeout = ann.number(HC_TIMEOUT, 2, 120, min(HC_TIMEOUT_DEFAULT[kind], interval - below))
    if timeout > interval - below:
        rule = "below" if below else "at most"
        raise _bad(
            HC_TIMEOUT,
            f"the timeout ({timeout}s) must be {rule} the interval ({interval}s)",
            f"2-{interval - below} with this interval",
        )
    return HealthCheck(protocol, port, path or ""), {
        "hc_interval": interval,
        "hc_timeout": timeout,
        "hc_healthy": ann.number(HC_HEALTHY, 2, 10, HC_THRESHOLD_DEFAULT),
        "hc_unhealthy": ann.number(HC_UNHEALTHY, 2, 10, HC_THRESHOLD_DEFAULT),
        "hc_success_codes": _success_codes(ann, kind, protocol),
    }


def _health_port(ann: _Annotations, body: Mapping[str, Any], local: bool) -> int | None:
    value = ann.get(HC_PORT)
    if value == "traffic-port" or (value is None and not local):
        return None
    if value is not None:
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise _bad(HC_PORT, f'"{value}" is not a port', "traffic-port, or 1-65535")
        return int(value)
    node_port = body.get("healthCheckNodePort")
    if node_port is None:
        raise InvalidServiceSpec(
            "spec.healthCheckNodePort",
            "externalTrafficPolicy Local needs a health check node port",
            f"a port, or {HC_PORT}",
        )
    return _port_number(node_port, "spec.healthCheckNodePort")


_CODES = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def _success_codes(ann: _Annotations, kind: str, protocol: str) -> str | None:
    value = ann.get(HC_SUCCESS_CODES)
    if protocol == "TCP":
        if value is not None:
            raise _bad(
                HC_SUCCESS_CODES,
                "a TCP health check has no status codes",
                f"HTTP or HTTPS in {HC_PROTOCOL}",
            )
        return None
    if value is None:
        return SUCCESS_CODES_DEFAULT
    high = 499 if kind == "alb" else 599
    accepted = f"codes or ranges within 200-{high}, e.g. 200,202 or 200-299"
    value = value.replace(" ", "")
    if not _CODES.match(value):
        raise _bad(HC_SUCCESS_CODES, f'"{value}" is not a list of codes', accepted)
    for part in value.split(","):
        low_text, _, high_text = part.partition("-")
        low, top = int(low_text), int(high_text or low_text)
        if not 200 <= low <= top <= high:
            raise _bad(HC_SUCCESS_CODES, f'"{part}" is out of range', accepted)
    return value


def _attributes(ann: _Annotations) -> dict[str, Any]:
    """The deprecated cross-zone annotation and the attributes map may both be set, as long
    as they agree; which one should win would otherwise be a guess."""
    cross_zone = ann.boolean(CROSS_ZONE)
    attributes = ann.pairs(ATTRIBUTES)
    listed = dict(attributes).get(CROSS_ZONE_ATTRIBUTE)
    if cross_zone is not None and listed is not None and listed.lower() != str(cross_zone).lower():
        raise _bad(
            ATTRIBUTES,
            f"{CROSS_ZONE_ATTRIBUTE}={listed} disagrees with {CROSS_ZONE}",
            "the same value in both, or only one of them",
        )
    return {
        "cross_zone": cross_zone,
        "attributes": attributes,
        "target_group_attributes": ann.pairs(TG_ATTRIBUTES),
    }


def _addresses(
    ann: _Annotations, kind: str, scheme: str, subnets: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """Fixed addresses are per subnet, NLB only, and each kind belongs to one scheme."""
    eips = ann.items(EIP_ALLOCATIONS)
    privates = ann.items(PRIVATE_IPV4)
    for name, values, wanted in (
        (EIP_ALLOCATIONS, eips, "internet-facing"),
        (PRIVATE_IPV4, privates, "internal"),
    ):
        if not values:
            continue
        if kind != "nlb" or scheme != wanted:
            raise _bad(
                name,
                f"applies to {wanted} NLBs only; this is an {scheme} {kind.upper()}",
                f"absent, or an {wanted} NLB",
            )
        if subnets and len(values) != len(subnets):
            raise _bad(
                name,
                f"has {len(values)} entries for {len(subnets)} subnets",
                f"one per subnet in {SUBNETS}",
            )
    for eip in eips:
        if not eip.startswith("eipalloc-"):
            raise _bad(EIP_ALLOCATIONS, f'"{eip}" is not an allocation ID', "eipalloc-...")
    for ip in privates:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise _bad(PRIVATE_IPV4, f'"{ip}" is not an IPv4 address', "IPv4 addresses") from None
    return {"eip_allocations": eips, "private_ipv4_addresses": privates}


def _proxy_protocol(ann: _Annotations, kind: str) -> bool:
    value = ann.get(PROXY_PROTOCOL)
    if value is None:
        return False
    if value != "*":
        raise _bad(PROXY_PROTOCOL, f'"{value}" is not accepted', "*")
    if kind != "nlb":
        raise _bad(PROXY_PROTOCOL, "an ALB has no proxy protocol", "absent on an ALB")
    return True


def _tags(ann: _Annotations) -> tuple[tuple[str, str], ...]:
    """User tags go next to ours on every resource, so they may not shadow the ones the
    leak detector trusts, nor use the `aws:` prefix AWS keeps for itself."""
    tags = ann.pairs(ADDITIONAL_TAGS, bare_keys=True)
    accepted = "key=value pairs; keys up to 128 and values up to 256 characters, not reserved"
    for key, value in tags:
        if (
            key.lower().startswith("aws:")
            or key in RESERVED_TAGS
            or key.startswith(RESERVED_TAG_PREFIXES)
        ):
            raise _bad(ADDITIONAL_TAGS, f'tag key "{key}" is reserved', accepted)
        if len(key) > 128 or len(value) > 256:
            raise _bad(ADDITIONAL_TAGS, f'tag "{key}" is too long', accepted)
    return tags

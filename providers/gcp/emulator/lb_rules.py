"""What GCP accepts for the load-balancing collections, and the defaults it fills in.

Forwarding rules, regional backend services, health checks and instance groups: the
pieces of a passthrough Network Load Balancer. Each ``prepare_*`` takes the client's
body (output-only fields already dropped), validates it against the state the way GCP
does on insert, patch or update, and returns the body to store.
"""

from __future__ import annotations

import re
from typing import Any

from providers.gcp.emulator import ipam
from providers.gcp.emulator.errors import invalid, required
from providers.gcp.emulator.urls import parse
from providers.gcp.emulator.world import (
    Body,
    World,
    check_labels,
    enum,
    integer,
    reference,
    region_of,
    string_list,
    subnetwork_for,
    zone_of,
)

SCHEMES = ("EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED")
PASSTHROUGH_SCHEMES = ("EXTERNAL", "INTERNAL")
RULE_PROTOCOLS = ("TCP", "UDP", "L3_DEFAULT", "ESP", "AH", "SCTP", "ICMP")
PASSTHROUGH_PROTOCOLS = ("TCP", "UDP", "UNSPECIFIED", "L3_DEFAULT")
SERVICE_PROTOCOLS = (*PASSTHROUGH_PROTOCOLS, "HTTP", "HTTPS", "HTTP2", "SSL", "GRPC")
AFFINITIES = (
    "NONE",
    "CLIENT_IP",
    "CLIENT_IP_PROTO",
    "CLIENT_IP_PORT_PROTO",
    "CLIENT_IP_NO_DESTINATION",
    "GENERATED_COOKIE",
    "HEADER_FIELD",
    "HTTP_COOKIE",
)
TIERS = ("PREMIUM", "STANDARD")
MAX_PORTS = 5
# health check type -> its settings field, and the port GCP defaults it to
HEALTH_CHECK_TYPES = {
    "TCP": ("tcpHealthCheck", 80),
    "SSL": ("sslHealthCheck", 443),
    "HTTP": ("httpHealthCheck", 80),
    "HTTPS": ("httpsHealthCheck", 443),
    "HTTP2": ("http2HealthCheck", 443),
    "GRPC": ("grpcHealthCheck", 80),
}
_PORT_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")

Span = tuple[int, int]


def _port(value: Any, field: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise invalid(field, value, "Must be a port number.") from None
    if not 1 <= number <= 65535:
        raise invalid(field, value, "Must be a port number between 1 and 65535.")
    return number


def _spans(body: Body, protocol: str) -> list[Span]:
    """The ports a forwarding rule takes, as ranges; checks ports/portRange/allPorts."""
    ports = string_list(body, "ports")
    port_range = str(body.get("portRange") or "")
    all_ports = bool(body.get("allPorts"))
    if sum((bool(ports), bool(port_range), all_ports)) > 1:
        raise invalid(
            "resource.ports", ports, "Only one of ports, portRange and allPorts may be set."
        )
    if len(ports) > MAX_PORTS:
        raise invalid(
            "resource.ports", ",".join(ports), f"At most {MAX_PORTS} ports may be specified."
        )
    if protocol == "L3_DEFAULT" and not all_ports:
        raise invalid("resource.allPorts", all_ports, "L3_DEFAULT forwarding rules need allPorts.")
    if ports:
        numbers = [_port(p, "resource.ports") for p in ports]
        if len(set(numbers)) != len(numbers):
            raise invalid("resource.ports", ",".join(ports), "Ports must be unique.")
        return [(n, n) for n in numbers]
    if port_range:
        low, _, high = port_range.partition("-")
        first = _port(low, "resource.portRange")
        last = _port(high or low, "resource.portRange")
        if last < first:
            raise invalid("resource.portRange", port_range, "The range is empty.")
        body["portRange"] = f"{first}-{last}"
        return [(first, last)]
    return [(1, 65535)]


def _overlap(a: list[Span], b: list[Span]) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


def prepare_forwarding_rule(world: World, path: str, body: Body, old: Body | None) -> Body:
    region = region_of(path)
    scheme = enum(body, "loadBalancingScheme", SCHEMES, "EXTERNAL")
    internal = scheme.startswith("INTERNAL")
    protocol = enum(body, "IPProtocol", RULE_PROTOCOLS, "TCP")
    spans = _spans(body, protocol)
    check_labels(body)
    found = reference(world, body, "backendService", ("backendServices",))
    if found is not None:
        service_path, service = found
        if region_of(service_path) != region:
            raise invalid(
                "resource.backendService",
                body["backendService"],
                f"The backend service must be in region {region}.",
            )
        if service.get("loadBalancingScheme") != scheme:
            raise invalid(
                "resource.backendService",
                body["backendService"],
                f"The backend service's loadBalancingScheme {service.get('loadBalancingScheme')} "
                f"does not match the forwarding rule's {scheme}.",
            )
    if internal:
        if body.get("networkTier", "PREMIUM") != "PREMIUM":
            raise invalid(
                "resource.networkTier", body["networkTier"], "Internal rules are PREMIUM tier."
            )
        body["networkTier"] = "PREMIUM"
        subnet_path, subnet = subnetwork_for(world, body, region, "resource")
    else:
        enum(body, "networkTier", TIERS, "PREMIUM")
        if body.get("allowGlobalAccess"):
            raise invalid(
                "resource.allowGlobalAccess",
                True,
                "allowGlobalAccess is only for INTERNAL forwarding rules.",
            )
        reference(world, body, "network", ("networks",))
        reference(world, body, "subnetwork", ("subnetworks",))
        subnet_path, subnet = "", {}
    ip = str(body.get("IPAddress") or "")
    if old is not None and ip == old.get("IPAddress"):
        return body  # the address was checked when the rule was made, and cannot change
    if ip and not ipam.is_ipv4(ip):
        _, address = world.resolve(ip, "resource.IPAddress", ("addresses",))
        if address.get("addressType", "EXTERNAL") != ("INTERNAL" if internal else "EXTERNAL"):
            raise invalid("resource.IPAddress", ip, f"The address is not an {scheme} address.")
        ip = str(address["address"])
    held = world.held()
    if internal:
        holders = ipam.internal_holders(held, subnet_path, world.project)
    else:
        holders = ipam.external_holders(held, world.project)
    if not ip:
        free = (
            ipam.next_internal(subnet["ipCidrRange"], holders)
            if internal
            else ipam.next_external(holders)
        )
        if free is None:
            raise invalid("resource.IPAddress", "", "No free IP address is left to allocate.")
        body["IPAddress"] = free
        return body
    users = [p for p in holders.get(ip, []) if p != path]
    addresses = [p for p in users if p.split("/")[-2] == "addresses"]
    if internal:
        if not ipam.in_range(ip, subnet["ipCidrRange"]):
            raise invalid(
                "resource.IPAddress", ip, "The IP address is not in the subnetwork's range."
            )
        if any(p.split("/")[-2] == "instances" for p in users):
            raise invalid("resource.IPAddress", ip, "The IP address is in use by an instance.")
    else:
        local = [p for p in addresses if region_of(p) == region]
        if not local:
            raise invalid(
                "resource.IPAddress",
                ip,
                f"Specified IP address is not reserved as a static address in region {region}.",
            )
        tier = dict(held)[local[0]].get("networkTier", "PREMIUM")
        if tier != body["networkTier"]:
            raise invalid(
                "resource.networkTier",
                body["networkTier"],
                f"The address {ip} is a {tier} tier address.",
            )
    state = dict(held)
    for other in users:
        rule = state[other]
        if other.split("/")[-2] != "forwardingRules":
            continue
        if rule.get("IPProtocol") == protocol and _overlap(_spans(dict(rule), protocol), spans):
            raise invalid(
                "resource.IPAddress",
                ip,
                "Specified IP address is in-use and would result in a conflict.",
            )
    body["IPAddress"] = ip
    return body


def prepare_backend_service(world: World, path: str, body: Body, old: Body | None) -> Body:
    region = region_of(path)
    scheme = enum(body, "loadBalancingScheme", SCHEMES, "EXTERNAL")
    passthrough = scheme in PASSTHROUGH_SCHEMES
    protocol = enum(body, "protocol", SERVICE_PROTOCOLS, "TCP")
    if passthrough and protocol not in PASSTHROUGH_PROTOCOLS:
        raise invalid(
            "resource.protocol", protocol, f"{scheme} backend services are TCP, UDP or L3_DEFAULT."
        )
    checks = string_list(body, "healthChecks")
    if passthrough and len(checks) > 1:
        raise invalid(
            "resource.healthChecks", ",".join(checks), "At most one health check is allowed."
        )
    urls = []
    for i, check in enumerate(checks):
        label = f"resource.healthChecks[{i}]"
        check_path, _ = world.resolve(check, label, ("healthChecks",))
        if check_path.split("/")[0] != "global" and region_of(check_path) != region:
            raise invalid(label, check, f"The health check must be global or in {region}.")
        urls.append(world.url(check_path))
    if "healthChecks" in body:
        body["healthChecks"] = urls
    backends = body.get("backends", [])
    if not isinstance(backends, list):
        raise invalid("resource.backends", backends, "Must be a list.")
    groups: set[str] = set()
    for i, backend in enumerate(backends):
        label = f"resource.backends[{i}]"
        if not isinstance(backend, dict) or not backend.get("group"):
            raise required(f"{label}.group")
        found = reference(world, backend, "group", ("instanceGroups",), label=f"{label}.group")
        assert found is not None
        group_path = found[0]
        if world.zone_region(zone_of(group_path)) != region:
            raise invalid(f"{label}.group", backend["group"], f"The group must be in {region}.")
        if group_path in groups:
            raise invalid(f"{label}.group", backend["group"], "Duplicate backend group.")
        groups.add(group_path)
        mode = enum(backend, "balancingMode", ("CONNECTION", "UTILIZATION", "RATE"), "CONNECTION")
        if passthrough and mode != "CONNECTION":
            raise invalid(f"{label}.balancingMode", mode, "Passthrough backends use CONNECTION.")
    enum(body, "sessionAffinity", AFFINITIES, "NONE")
    draining = body.setdefault("connectionDraining", {"drainingTimeoutSec": 0})
    if not isinstance(draining, dict):
        raise invalid("resource.connectionDraining", draining, "Must be an object.")
    integer(draining, "drainingTimeoutSec", 0, 0, 3600)
    integer(body, "timeoutSec", 30, 1, 86400)
    reference(world, body, "network", ("networks",))
    return body


def merge_health_check(old: Body, patch: Body) -> Body:
    """Patch semantics, except that a new `type` drops the old type's settings, as only
    the settings of the current type may be present."""
    base = dict(old)
    if patch.get("type") and patch["type"] != old.get("type"):
        for field, _ in HEALTH_CHECK_TYPES.values():
            base.pop(field, None)
    return merge(base, patch)


def merge(old: Body, patch: Body) -> Body:
    """PATCH semantics of Compute: objects merge field by field, lists and scalars replace."""
    out = dict(old)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def prepare_health_check(world: World, path: str, body: Body, old: Body | None) -> Body:
    present = [t for t, (field, _) in HEALTH_CHECK_TYPES.items() if field in body]
    kind = body.get("type") or (present[0] if len(present) == 1 else "")
    if not kind:
        raise required("resource.type")
    body["type"] = kind
    enum(body, "type", tuple(HEALTH_CHECK_TYPES))
    field, default_port = HEALTH_CHECK_TYPES[kind]
    if [t for t in present if t != kind]:
        raise invalid("resource.type", kind, "Only the settings of the check's type may be set.")
    settings = body.setdefault(field, {})
    if not isinstance(settings, dict):
        raise invalid(f"resource.{field}", settings, "Must be an object.")
    specification = enum(
        settings,
        "portSpecification",
        ("USE_FIXED_PORT", "USE_NAMED_PORT", "USE_SERVING_PORT"),
        "USE_FIXED_PORT",
    )
    if specification == "USE_FIXED_PORT":
        settings["port"] = _port(settings.get("port", default_port), f"resource.{field}.port")
    if kind in ("HTTP", "HTTPS", "HTTP2"):
        request_path = settings.setdefault("requestPath", "/")
        if not str(request_path).startswith("/"):
            raise invalid(f"resource.{field}.requestPath", request_path, "Must start with '/'.")
    if kind != "GRPC":
        enum(settings, "proxyHeader", ("NONE", "PROXY_V1"), "NONE")
    interval = integer(body, "checkIntervalSec", 5, 1, 300)
    timeout = integer(body, "timeoutSec", 5, 1, 300)
    integer(body, "healthyThreshold", 2, 1, 10)
    integer(body, "unhealthyThreshold", 2, 1, 10)
    if timeout is not None and interval is not None and timeout > interval:
        raise invalid(
            "resource.timeoutSec",
            timeout,
            "Timeout sec must be less than or equal to check interval sec.",
        )
    return body


def prepare_instance_group(world: World, path: str, body: Body, old: Body | None) -> Body:
    reference(world, body, "network", ("networks",))
    reference(world, body, "subnetwork", ("subnetworks",))
    ports = body.get("namedPorts", [])
    if not isinstance(ports, list):
        raise invalid("resource.namedPorts", ports, "Must be a list.")
    for i, named in enumerate(ports):
        if not isinstance(named, dict) or not _PORT_NAME.fullmatch(str(named.get("name", ""))):
            raise invalid(f"resource.namedPorts[{i}].name", named, "Must be a valid port name.")
        named["port"] = _port(named.get("port"), f"resource.namedPorts[{i}].port")
    return body


def instance_network(instance: Body, project: str) -> str:
    """The path of an instance's first NIC's network ('' if it has none)."""
    nics = instance.get("networkInterfaces") or [{}]
    network = nics[0].get("network", "")
    return parse(network, project).path if network else ""

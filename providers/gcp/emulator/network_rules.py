"""What GCP accepts for networks, subnetworks, firewalls, addresses and instances.

These are the cluster's surroundings: the driver reads them (instances' IPs and zones,
subnetworks to take internal IPs from) and writes firewalls and addresses. Instances
are minimal (name, machine type, NICs with allocated IPs, tags): enough to be load
balancer backends, with no disks or boot behaviour.
"""

from __future__ import annotations

import ipaddress
import re

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

DEFAULT_NETWORK = "global/networks/default"
# The ranges auto-mode networks get, per region (GCP's own table for these regions).
AUTO_MODE_RANGES = {
    "us-central1": "10.128.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "us-west1": "10.138.0.0/20",
    "asia-east1": "10.140.0.0/20",
    "us-east1": "10.142.0.0/20",
    "europe-west4": "10.164.0.0/20",
}
FIREWALL_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
_TAG = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_PORTS = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def prepare_network(world: World, path: str, body: Body, old: Body | None) -> Body:
    if "IPv4Range" in body:
        raise invalid("resource.IPv4Range", body["IPv4Range"], "Legacy networks are not supported.")
    body["autoCreateSubnetworks"] = bool(body.get("autoCreateSubnetworks", False))
    routing = body.setdefault("routingConfig", {})
    if not isinstance(routing, dict):
        raise invalid("resource.routingConfig", routing, "Must be an object.")
    enum(routing, "routingMode", ("REGIONAL", "GLOBAL"), "REGIONAL")
    integer(body, "mtu", 1460, 1300, 8896)
    return body


def auto_subnetworks(
    world: World, path: str, body: Body, regions: list[str]
) -> list[tuple[str, Body]]:
    """The subnetworks an auto-mode network comes with, one per region."""
    if not body.get("autoCreateSubnetworks"):
        return []
    name = path.rsplit("/", 1)[-1]
    out = []
    for i, region in enumerate(sorted(regions)):
        cidr = AUTO_MODE_RANGES.get(region, f"10.{200 + i}.0.0/20")
        subnet = {
            "name": name,
            "network": world.url(path),
            "ipCidrRange": cidr,
            "gatewayAddress": str(ipaddress.ip_network(cidr).network_address + 1),
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
            "privateIpGoogleAccess": False,
        }
        out.append((f"regions/{region}/subnetworks/{name}", subnet))
    return out


def prepare_subnetwork(world: World, path: str, body: Body, old: Body | None) -> Body:
    if not body.get("network"):
        raise required("resource.network")
    found = reference(world, body, "network", ("networks",))
    assert found is not None
    network_path = found[0]
    cidr = body.get("ipCidrRange")
    if not cidr:
        raise required("resource.ipCidrRange")
    try:
        net = ipaddress.ip_network(str(cidr))
    except ValueError:
        raise invalid("resource.ipCidrRange", cidr, "Must be an IPv4 CIDR range.") from None
    if not isinstance(net, ipaddress.IPv4Network) or not 8 <= net.prefixlen <= 29:
        raise invalid("resource.ipCidrRange", cidr, "Must be an IPv4 range of /8 to /29.")
    for other_path, other in world.held():
        if other_path == path or other_path.split("/")[-2] != "subnetworks":
            continue
        if parse(other["network"], world.project).path != network_path:
            continue
        if net.overlaps(ipaddress.ip_network(other["ipCidrRange"])):
            raise invalid(
                "resource.ipCidrRange",
                cidr,
                f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork "
                f"'{other['name']}' in region '{region_of(other_path)}'.",
            )
    body["ipCidrRange"] = str(net)
    body["gatewayAddress"] = str(net.network_address + 1)
    enum(
        body, "purpose", ("PRIVATE", "REGIONAL_MANAGED_PROXY", "PRIVATE_SERVICE_CONNECT"), "PRIVATE"
    )
    enum(body, "stackType", ("IPV4_ONLY",), "IPV4_ONLY")
    body["privateIpGoogleAccess"] = bool(body.get("privateIpGoogleAccess", False))
    return body


def _firewall_rules(body: Body, field: str) -> None:
    rules = body.get(field, [])
    if not isinstance(rules, list):
        raise invalid(f"resource.{field}", rules, "Must be a list.")
    for i, rule in enumerate(rules):
        label = f"resource.{field}[{i}]"
        if not isinstance(rule, dict) or not rule.get("IPProtocol"):
            raise required(f"{label}.IPProtocol")
        protocol = str(rule["IPProtocol"]).lower()
        if protocol not in FIREWALL_PROTOCOLS and not (
            protocol.isdigit() and 0 <= int(protocol) <= 255
        ):
            raise invalid(f"{label}.IPProtocol", rule["IPProtocol"], "Unknown protocol.")
        ports = string_list(rule, "ports")
        if ports and protocol not in ("tcp", "udp", "sctp", "all", "6", "17", "132"):
            raise invalid(f"{label}.ports", ports, "Ports are only for tcp, udp and sctp.")
        for port in ports:
            m = _PORTS.fullmatch(port)
            if m is None or not all(1 <= int(g) <= 65535 for g in m.groups() if g):
                raise invalid(f"{label}.ports", port, "Must be a port or a port range.")


def _cidrs(body: Body, field: str) -> list[str]:
    ranges = string_list(body, field)
    for cidr in ranges:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise invalid(f"resource.{field}", cidr, "Must be a CIDR range.") from None
    return ranges


def prepare_firewall(world: World, path: str, body: Body, old: Body | None) -> Body:
    reference(world, body, "network", ("networks",), default=DEFAULT_NETWORK)
    direction = enum(body, "direction", ("INGRESS", "EGRESS"), "INGRESS")
    integer(body, "priority", 1000, 0, 65535)
    allowed, denied = body.get("allowed") or [], body.get("denied") or []
    if bool(allowed) == bool(denied):
        raise invalid(
            "resource.allowed", allowed, "Exactly one of allowed and denied must be specified."
        )
    _firewall_rules(body, "allowed")
    _firewall_rules(body, "denied")
    sources = _cidrs(body, "sourceRanges")
    destinations = _cidrs(body, "destinationRanges")
    for tag in string_list(body, "targetTags") + string_list(body, "sourceTags"):
        if not _TAG.fullmatch(tag):
            raise invalid("resource.targetTags", tag, "Must be a valid network tag.")
    if direction == "INGRESS" and not (
        sources or body.get("sourceTags") or body.get("sourceServiceAccounts")
    ):
        body["sourceRanges"] = ["0.0.0.0/0"]
    if direction == "EGRESS" and not destinations:
        body["destinationRanges"] = ["0.0.0.0/0"]
    body["disabled"] = bool(body.get("disabled", False))
    return body


def _external_ip(world: World, ip: str, region: str, path: str, label: str) -> str:
    """An external IP for a resource: allocated, or one it may take (a reservation in its
    region that nothing else uses); 400 otherwise."""
    holders = ipam.external_holders(world.held(), world.project)
    if not ip:
        free = ipam.next_external(holders)
        if free is None:
            raise invalid(label, "", "No free external IP address is left to allocate.")
        return free
    if not ipam.is_ipv4(ip):
        raise invalid(label, ip, "Must be an IPv4 address.")
    users = [p for p in holders.get(ip, []) if p != path]
    reserved = [p for p in users if p.split("/")[-2] == "addresses" and region_of(p) == region]
    if not reserved or len(users) > len(reserved):
        raise invalid(label, ip, "The IP address is not reserved in this region or is in use.")
    return ip


def prepare_address(world: World, path: str, body: Body, old: Body | None) -> Body:
    region = region_of(path)
    kind = enum(body, "addressType", ("EXTERNAL", "INTERNAL"), "EXTERNAL")
    ip = str(body.get("address") or "")
    if ip and not ipam.is_ipv4(ip):
        raise invalid("resource.address", ip, "Must be an IPv4 address.")
    check_labels(body)
    held = world.held()
    if kind == "EXTERNAL":
        if body.get("subnetwork"):
            raise invalid(
                "resource.subnetwork", body["subnetwork"], "External addresses have none."
            )
        enum(body, "networkTier", ("PREMIUM", "STANDARD"), "PREMIUM")
        holders = ipam.external_holders(held, world.project)
        if not ip:
            free = ipam.next_external(holders)
            if free is None:
                raise invalid("resource.address", "", "No free external IP address is left.")
            ip = free
        else:
            users = [p for p in holders.get(ip, []) if p != path]
            if [p for p in users if p.split("/")[-2] == "addresses"]:
                raise invalid("resource.address", ip, "The IP address is already reserved.")
            elsewhere = [
                p for p in users if (region_of(p) or world.zone_region(zone_of(p))) != region
            ]
            if elsewhere or (not users and ipaddress.ip_address(ip) not in ipam.EXTERNAL_POOL):
                raise invalid(
                    "resource.address",
                    ip,
                    f"The IP address is not available in region {region} "
                    f"(the emulator's external pool is {ipam.EXTERNAL_POOL}).",
                )
    else:
        subnet_path, subnet = subnetwork_for(world, body, region, "resource")
        holders = ipam.internal_holders(held, subnet_path, world.project)
        if not ip:
            free = ipam.next_internal(subnet["ipCidrRange"], holders)
            if free is None:
                raise invalid("resource.address", "", "The subnetwork has no free IP address.")
            ip = free
        else:
            if not ipam.in_range(ip, subnet["ipCidrRange"]):
                raise invalid("resource.address", ip, "The IP is not in the subnetwork's range.")
            users = [p for p in holders.get(ip, []) if p != path]
            if [p for p in users if p.split("/")[-2] != "forwardingRules"]:
                raise invalid("resource.address", ip, "The IP address is already in use.")
        enum(
            body,
            "purpose",
            ("GCE_ENDPOINT", "SHARED_LOADBALANCER_VIP", "DNS_RESOLVER", "VPC_PEERING"),
            "GCE_ENDPOINT",
        )
    body["address"] = ip
    body["ipVersion"] = "IPV4"
    return body


def address_users(world: World, path: str, body: Body, held: list[tuple[str, Body]]) -> list[str]:
    """The paths of what uses an address's IP (forwarding rules, instances), other than itself."""
    region = region_of(path)
    ip = str(body.get("address", ""))
    if body.get("addressType") == "INTERNAL":
        subnet = parse(body["subnetwork"], world.project).path
        holders = ipam.internal_holders(held, subnet, world.project)
    else:
        holders = ipam.external_holders(held, world.project)
    users = [p for p in holders.get(ip, []) if p.split("/")[-2] != "addresses"]
    return sorted(p for p in users if (region_of(p) or world.zone_region(zone_of(p))) == region)


def _machine_type(body: Body, zone: str, world: World) -> None:
    value = str(body.get("machineType") or "")
    if not value:
        raise required("resource.machineType")
    m = re.fullmatch(r"(?:.*/)?(?:zones/([^/]+)/machineTypes/)?([a-z0-9-]+)", value)
    if m is None or (m[1] and m[1] != zone):
        raise invalid("resource.machineType", value, f"Must be a machine type in zone {zone}.")
    body["machineType"] = world.url(f"zones/{zone}/machineTypes/{m[2]}")


def prepare_instance(world: World, path: str, body: Body, old: Body | None) -> Body:
    zone = zone_of(path)
    region = world.zone_region(zone)
    _machine_type(body, zone, world)
    check_labels(body)
    nics = body.get("networkInterfaces")
    if not nics or not isinstance(nics, list):
        raise required("resource.networkInterfaces")
    taken: dict[str, set[str]] = {}  # IPs this request already took, per subnetwork
    for i, nic in enumerate(nics):
        label = f"resource.networkInterfaces[{i}]"
        if not isinstance(nic, dict):
            raise invalid(label, nic, "Must be an object.")
        subnet_path, subnet = subnetwork_for(
            world, nic, region, label, default_network=DEFAULT_NETWORK
        )
        holders = ipam.internal_holders(world.held(), subnet_path, world.project)
        mine = taken.setdefault(subnet_path, set())
        ip = str(nic.get("networkIP") or "")
        if ip:
            if not ipam.in_range(ip, subnet["ipCidrRange"]):
                raise invalid(f"{label}.networkIP", ip, "The IP is not in the subnetwork's range.")
            users = [p for p in holders.get(ip, []) if p.split("/")[-2] != "addresses"]
            if users or ip in mine:
                raise invalid(f"{label}.networkIP", ip, "The IP address is already in use.")
        else:
            free = ipam.next_internal(subnet["ipCidrRange"], [*holders, *mine])
            if free is None:
                raise invalid(f"{label}.networkIP", "", "The subnetwork has no free IP address.")
            ip = free
        mine.add(ip)
        nic.update({"networkIP": ip, "name": f"nic{i}", "kind": "compute#networkInterface"})
        nic.setdefault("stackType", "IPV4_ONLY")
        configs = nic.get("accessConfigs", [])
        for j, config in enumerate(configs):
            config.setdefault("type", "ONE_TO_ONE_NAT")
            config.setdefault("name", "External NAT")
            enum(config, "networkTier", ("PREMIUM", "STANDARD"), "PREMIUM")
            config["kind"] = "compute#accessConfig"
            config["natIP"] = _external_ip(
                world, str(config.get("natIP") or ""), region, path, f"{label}.accessConfigs[{j}]"
            )
    tags = body.setdefault("tags", {})
    if not isinstance(tags, dict):
        raise invalid("resource.tags", tags, "Must be an object.")
    for tag in string_list(tags, "items"):
        if not _TAG.fullmatch(tag):
            raise invalid("resource.tags.items", tag, "Must be a valid network tag.")
    body["status"] = "RUNNING"
    return body

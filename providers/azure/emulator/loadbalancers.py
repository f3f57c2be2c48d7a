"""Load balancers: one body holding frontends, backend pools, probes and rules.

On Azure a cluster shares one Standard load balancer among its Services, so a driver
edits a single body that many Services share: it adds or removes a frontend, its rules
and probes, and keeps the backend pool in step with the nodes. Azure validates the whole
body on every PUT, which is what this module does: frontends must reference an existing
public IP (held by nobody else) or subnet, pool addresses an existing virtual network,
and every rule a frontend, pool and probe of the same body (see lb_rules).
"""

from __future__ import annotations

from typing import Any

from providers.azure.emulator import lb_rules
from providers.azure.emulator.errors import bad_request, invalid_format, invalid_reference
from providers.azure.emulator.ids import Ref, child_id, key
from providers.azure.emulator.ipam import address
from providers.azure.emulator.ipconfigs import attach_public_ip, place_private
from providers.azure.emulator.shapes import (
    assemble,
    children,
    enum,
    integer,
    location,
    make_child,
    properties_of,
    ref,
    writable,
)
from providers.azure.emulator.world import Body, World

KIND = "loadBalancers"
CHILDREN = (
    "frontendIPConfigurations",
    "backendAddressPools",
    "loadBalancingRules",
    "probes",
    "inboundNatRules",
    "outboundRules",
    "inboundNatPools",
)
_FRONTEND_READ_ONLY = {"loadBalancingRules", "inboundNatRules", "inboundNatPools", "outboundRules"}
_POOL_READ_ONLY = {
    "loadBalancingRules",
    "backendIPConfigurations",
    "outboundRule",
    "outboundRules",
    "inboundNatRules",
}
_ADDRESS_READ_ONLY = {"networkInterfaceIPConfiguration", "inboundNatRulesPortMapping"}


def prepare(world: World, resource: Ref, body: Body, old: Body | None) -> Body:
    """What Azure stores for a PUT of this load balancer (raises what Azure refuses)."""
    lb_id = resource.id
    where = location(body, old, lb_id)
    raw = properties_of(body, lb_id)
    props = writable(raw, CHILDREN)
    frontends = _frontends(world, lb_id, raw.get("frontendIPConfigurations"), old)
    pools = _pools(world, lb_id, raw.get("backendAddressPools"))
    probes = _probes(lb_id, raw.get("probes"))
    rules = lb_rules.balancing_rules(lb_id, raw.get("loadBalancingRules"), frontends, pools, probes)
    nats = lb_rules.nat_rules(lb_id, raw.get("inboundNatRules"), frontends, pools)
    outbound = lb_rules.outbound_rules(lb_id, raw.get("outboundRules"), frontends, pools)
    lb_rules.back_reference(frontends, pools, probes, rules, nats, outbound)
    nat_pools = [
        make_child(lb_id, KIND, "inboundNatPools", name, writable(p))
        for name, p in children(lb_id, "inboundNatPools", raw.get("inboundNatPools"))
    ]
    props.update(
        frontendIPConfigurations=frontends,
        backendAddressPools=pools,
        loadBalancingRules=rules,
        probes=probes,
        inboundNatRules=nats,
        outboundRules=outbound,
        inboundNatPools=nat_pools,
        provisioningState="Succeeded",
    )
    return assemble(body, where, props, sku=_sku(body))


def _sku(body: Body) -> Body:
    sku = body.get("sku") or {}
    if not isinstance(sku, dict):
        raise invalid_format("'sku' must be an object.")
    return {
        "name": enum(sku.get("name"), ("Basic", "Standard", "Gateway"), "sku.name", "Standard"),
        "tier": enum(sku.get("tier"), ("Regional", "Global"), "sku.tier", "Regional"),
    }


def _frontends(world: World, lb_id: str, items: Any, old: Body | None) -> list[Body]:
    owner = key(lb_id)
    before = {
        fe["name"].lower(): fe["properties"]
        for fe in (old or {}).get("properties", {}).get("frontendIPConfigurations", [])
    }
    held_ips: dict[str, str] = {}
    held_private: dict[str, str] = {}
    out: list[Body] = []
    facing: set[str] = set()
    for name, raw in children(lb_id, "frontendIPConfigurations", items):
        props = writable(raw, _FRONTEND_READ_ONLY)
        fe_id = child_id(lb_id, "frontendIPConfigurations", name)
        public, internal = props.get("publicIPAddress") is not None, props.get("subnet") is not None
        if public == internal:
            raise invalid_format(
                f"Frontend IP configuration {fe_id} must reference exactly one of "
                "publicIPAddress and subnet."
            )
        if public:
            attach_public_ip(world, owner, fe_id, props, held_ips)
            props.pop("privateIPAddress", None)
            props["privateIPAllocationMethod"] = "Dynamic"
            facing.add("public")
        else:
            place_private(world, owner, fe_id, props, before.get(name.lower()), held_private)
            facing.add("internal")
        out.append(make_child(lb_id, KIND, "frontendIPConfigurations", name, props))
    if len(facing) > 1:
        raise bad_request(
            "LoadBalancerFrontendIPConfigurationsMixPublicAndPrivate",
            f"Load balancer {lb_id} cannot have both public and private frontend IP "
            "configurations; use one public and one internal load balancer.",
        )
    return out


def _pools(world: World, lb_id: str, items: Any) -> list[Body]:
    out: list[Body] = []
    for name, raw in children(lb_id, "backendAddressPools", items):
        props = writable(raw, _POOL_READ_ONLY)
        pool_id = child_id(lb_id, "backendAddressPools", name)
        props["loadBalancerBackendAddresses"] = _addresses(
            world, pool_id, props.get("loadBalancerBackendAddresses")
        )
        out.append(make_child(lb_id, KIND, "backendAddressPools", name, props))
    return out


def _addresses(world: World, pool_id: str, items: Any) -> list[Body]:
    """IP-based pool members: a name, an address and the virtual network it lives in."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid_format("'loadBalancerBackendAddresses' must be an array.")
    out: list[Body] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise invalid_format(f"Every backend address of {pool_id} needs a name.")
        if item["name"].lower() in seen:
            raise bad_request(
                "DuplicateResourceName",
                f"Backend address pool {pool_id} has two addresses named {item['name']}.",
            )
        seen.add(item["name"].lower())
        props = writable(properties_of(item, item["name"]), _ADDRESS_READ_ONLY)
        if props.get("ipAddress") is not None:
            props["ipAddress"] = str(address(props["ipAddress"], "ipAddress"))
        for field, kind_label in (("virtualNetwork", "virtualNetwork"), ("subnet", "subnet")):
            target = ref(props.get(field), kind_label)
            if target is None:
                continue
            found = world.lookup(target)
            if found is None:
                raise invalid_reference(target, pool_id)
            props[field] = {"id": found["id"]}
        out.append({"name": item["name"], "properties": props})
    return out


def _probes(lb_id: str, items: Any) -> list[Body]:
    out: list[Body] = []
    for name, raw in children(lb_id, "probes", items):
        props = writable(raw, {"loadBalancingRules"})
        probe_id = child_id(lb_id, "probes", name)
        protocol = enum(props.get("protocol"), ("Tcp", "Http", "Https"), "probes.protocol")
        path = props.get("requestPath")
        if protocol == "Tcp" and path:
            raise invalid_format(f"Probe {probe_id}: requestPath is only for Http and Https.")
        if protocol != "Tcp" and (not isinstance(path, str) or not path.startswith("/")):
            raise invalid_format(f"Probe {probe_id}: an {protocol} probe needs a requestPath.")
        props.update(
            protocol=protocol,
            port=integer(props.get("port"), "probes.port", 1, 65535),
            intervalInSeconds=integer(
                props.get("intervalInSeconds"), "intervalInSeconds", 5, 2147483646, default=15
            ),
            numberOfProbes=integer(props.get("numberOfProbes"), "numberOfProbes", 1, 100, 2),
            probeThreshold=integer(props.get("probeThreshold"), "probeThreshold", 1, 100, 1),
        )
        out.append(make_child(lb_id, KIND, "probes", name, props))
    return out

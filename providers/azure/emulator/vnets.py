"""Virtual networks and subnets: where internal frontends and node addresses come from.

Internal load balancer frontends take their private address from a subnet, and
IP-based backend pools name the virtual network their addresses live in, so the driver
needs both to exist. Azure checks that subnets lie inside the network's address space
and do not overlap, and refuses to remove or renumber a subnet something still uses.
A PUT of the network replaces its subnet list (a classic way to delete subnets by
accident); ``subnets/{name}`` writes one subnet.
"""

from __future__ import annotations

import ipaddress
from itertools import combinations

from providers.azure.emulator.errors import (
    ArmError,
    bad_request,
    invalid_format,
    invalid_reference,
)
from providers.azure.emulator.ids import Ref, child_id
from providers.azure.emulator.ipam import network
from providers.azure.emulator.shapes import (
    assemble,
    children,
    location,
    make_child,
    properties_of,
    ref,
    writable,
)
from providers.azure.emulator.usage import subnet_users
from providers.azure.emulator.world import Body, World

KIND = "virtualNetworks"
_SUBNET_READ_ONLY = frozenset(
    {
        "ipConfigurations",
        "ipConfigurationProfiles",
        "purpose",
        "privateEndpoints",
        "resourceNavigationLinks",
        "serviceAssociationLinks",
    }
)


def prepare(world: World, resource: Ref, body: Body, old: Body | None) -> Body:
    vnet_id = resource.id
    where = location(body, old, vnet_id)
    raw = properties_of(body, vnet_id)
    props = writable(raw, {"subnets"})
    space = _address_space(vnet_id, props.get("addressSpace"))
    subnets: list[Body] = []
    placed: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, sub_raw in children(vnet_id, "subnets", raw.get("subnets")):
        sub = writable(sub_raw, _SUBNET_READ_ONLY)
        for net in _subnet_prefixes(vnet_id, name, sub):
            if not any(net.subnet_of(outer) for outer in space):
                raise bad_request(
                    "NetcfgSubnetRangeOutsideVnet",
                    f"Subnet '{name}' is not valid because its IP address range is outside the "
                    f"IP address range of virtual network '{resource.name}'.",
                )
            for other, other_net in placed:
                if net.overlaps(other_net):
                    raise bad_request(
                        "NetcfgSubnetRangesOverlap",
                        f"Subnet '{name}' is not valid because its IP address range overlaps "
                        f"with that of an existing subnet '{other}' in virtual network "
                        f"'{resource.name}'.",
                    )
            placed.append((name, net))
        nsg = ref(sub.get("networkSecurityGroup"), "networkSecurityGroup")
        if nsg is not None:
            found = world.lookup(nsg)
            if found is None:
                raise invalid_reference(nsg, child_id(vnet_id, "subnets", name))
            sub["networkSecurityGroup"] = {"id": found["id"]}
        subnets.append(make_child(vnet_id, KIND, "subnets", name, sub))
    _check_in_use(world, old, subnets)
    props.update(
        addressSpace={"addressPrefixes": [str(n) for n in space]},
        subnets=subnets,
        provisioningState="Succeeded",
    )
    return assemble(body, where, props)


def _address_space(vnet_id: str, value: object) -> list[ipaddress.IPv4Network]:
    prefixes = value.get("addressPrefixes") if isinstance(value, dict) else None
    if not isinstance(prefixes, list) or not prefixes:
        raise invalid_format(f"Virtual network {vnet_id} needs addressSpace.addressPrefixes.")
    nets = [network(p, "addressSpace") for p in prefixes]
    for a, b in combinations(nets, 2):
        if a.overlaps(b):
            raise bad_request(
                "NetcfgInvalidAddressSpace", f"Address prefixes {a} and {b} of {vnet_id} overlap."
            )
    return nets


def _subnet_prefixes(vnet_id: str, name: str, sub: Body) -> list[ipaddress.IPv4Network]:
    if sub.get("addressPrefix"):
        return [network(sub["addressPrefix"], f"subnet {name}")]
    prefixes = sub.get("addressPrefixes")
    if isinstance(prefixes, list) and prefixes:
        return [network(p, f"subnet {name}") for p in prefixes]
    raise invalid_format(f"Subnet {name} of {vnet_id} needs an addressPrefix.")


def _prefixes(subnet: Body) -> list[str]:
    props = subnet["properties"]
    return (
        [props["addressPrefix"]]
        if props.get("addressPrefix")
        else list(props.get("addressPrefixes", []))
    )


def _check_in_use(world: World, old: Body | None, subnets: list[Body]) -> None:
    """A subnet that something uses may be neither dropped nor given another range."""
    kept = {s["name"].lower(): s for s in subnets}
    for before in (old or {}).get("properties", {}).get("subnets", []):
        users = subnet_users(world, before["id"], claimed=True)
        if not users:
            continue
        after = kept.get(before["name"].lower())
        if after is None:
            raise _in_use(before["name"], users[0])
        if _prefixes(after) != _prefixes(before):
            raise bad_request(
                "InUseSubnetCannotBeUpdated",
                f"Subnet {before['name']} is in use by {users[0]} and its address prefix cannot "
                "be updated.",
            )


def _in_use(name: str, user: str) -> ArmError:
    return bad_request(
        "InUseSubnetCannotBeDeleted",
        f"Subnet {name} is in use by {user} and cannot be deleted. In order to delete the "
        "subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
    )


def view(world: World, body: Body) -> Body:
    """Adds each subnet's ``ipConfigurations``: the committed frontends and NICs in it."""
    for subnet in body["properties"].get("subnets", []):
        users = subnet_users(world, subnet["id"], claimed=False)
        if users:
            subnet["properties"]["ipConfigurations"] = [{"id": u} for u in users]
    return body


def check_delete(world: World, body: Body) -> None:
    for subnet in body["properties"].get("subnets", []):
        users = subnet_users(world, subnet["id"], claimed=True)
        if users:
            raise _in_use(subnet["name"], users[0])

"""Who uses what: the IP configurations that hold public IPs, subnet addresses and NSGs.

Azure keeps these relations in both directions (a public IP's ``ipConfiguration``, a
subnet's ``ipConfigurations``) and refuses to delete or re-use what is held. The emulator
derives them from the holders instead of storing back-references, so they cannot drift:
load balancer frontends and NIC IP configurations hold public IPs and private
addresses, subnets and NICs hold network security groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from providers.azure.emulator.ids import key
from providers.azure.emulator.world import World

_HOLDERS = (
    ("loadBalancers", "frontendIPConfigurations"),
    ("networkInterfaces", "ipConfigurations"),
)


@dataclass(frozen=True)
class IpConfiguration:
    owner: str  # key of the resource that holds it
    id: str
    public_ip: str  # key, or ""
    subnet: str  # key, or ""
    private_ip: str


def ip_configurations(
    world: World, *, claimed: bool, exclude: str = ""
) -> Iterator[IpConfiguration]:
    """Every frontend and NIC IP configuration, of committed (or also in-flight) bodies,
    except those of the resource keyed `exclude` (the one being written)."""
    for kind, collection in _HOLDERS:
        for body in world.claimed(kind) if claimed else world.committed(kind):
            owner = key(body["id"])
            if owner == exclude:
                continue
            for config in body.get("properties", {}).get(collection, []):
                props = config.get("properties", {})
                yield IpConfiguration(
                    owner,
                    config["id"],
                    key(props.get("publicIPAddress", {}).get("id", "")),
                    key(props.get("subnet", {}).get("id", "")),
                    props.get("privateIPAddress", ""),
                )


def public_ip_holder(world: World, public_ip_id: str, *, claimed: bool, exclude: str = "") -> str:
    """The ID of the IP configuration that holds a public IP, or ""."""
    wanted = key(public_ip_id)
    for config in ip_configurations(world, claimed=claimed, exclude=exclude):
        if config.public_ip == wanted:
            return config.id
    return ""


def subnet_holders(
    world: World, subnet_id: str, *, claimed: bool, exclude: str = ""
) -> dict[str, str]:
    """Private address -> ID of the IP configuration holding it, in one subnet."""
    wanted = key(subnet_id)
    return {
        config.private_ip: config.id
        for config in ip_configurations(world, claimed=claimed, exclude=exclude)
        if config.subnet == wanted and config.private_ip
    }


def subnet_users(world: World, subnet_id: str, *, claimed: bool, exclude: str = "") -> list[str]:
    wanted = key(subnet_id)
    return [
        config.id
        for config in ip_configurations(world, claimed=claimed, exclude=exclude)
        if config.subnet == wanted
    ]


def nsg_users(world: World, nsg_id: str, *, claimed: bool) -> list[tuple[str, str]]:
    """``(kind, ID)`` of the subnets and NICs that a network security group is attached to."""
    wanted = key(nsg_id)
    out: list[tuple[str, str]] = []
    for vnet in world.claimed("virtualNetworks") if claimed else world.committed("virtualNetworks"):
        for subnet in vnet.get("properties", {}).get("subnets", []):
            attached = subnet.get("properties", {}).get("networkSecurityGroup", {}).get("id", "")
            if key(attached) == wanted:
                out.append(("subnets", subnet["id"]))
    for nic in (
        world.claimed("networkInterfaces") if claimed else world.committed("networkInterfaces")
    ):
        attached = nic.get("properties", {}).get("networkSecurityGroup", {}).get("id", "")
        if key(attached) == wanted:
            out.append(("networkInterfaces", nic["id"]))
    return list(dict.fromkeys(out))  # an in-flight update claims a subnet twice

"""IP configurations (load balancer frontends, NIC configurations): their addresses.

Both kinds hold a private address from a subnet or a public IP resource, under the same
rules: the referenced subnet or IP must exist, a public IP can be held by one
configuration only, and a private address is Dynamic (the lowest free, kept across
updates) or Static (the requested one, which must be in the subnet and free).
"""

from __future__ import annotations

import ipaddress

from providers.azure.emulator.errors import bad_request, invalid_format, invalid_reference
from providers.azure.emulator.ids import key
from providers.azure.emulator.ipam import address, allocate_private, network, usable
from providers.azure.emulator.shapes import enum, ref
from providers.azure.emulator.usage import public_ip_holder, subnet_holders
from providers.azure.emulator.world import Body, World


def attach_public_ip(
    world: World, owner: str, config_id: str, props: Body, held_here: dict[str, str]
) -> None:
    """Resolve ``publicIPAddress`` (an ID to a committed IP no one else holds)."""
    pip_id = ref(props["publicIPAddress"], "publicIPAddress")
    assert pip_id is not None
    pip = world.lookup(pip_id)
    if pip is None or "ipAddress" not in pip.get("properties", {}):
        raise invalid_reference(pip_id, config_id)
    holder = held_here.get(key(pip_id)) or public_ip_holder(
        world, pip_id, claimed=True, exclude=owner
    )
    if holder:
        raise bad_request(
            "PublicIPAddressInUse",
            f"Resource {config_id} is referencing public IP address {pip['id']} that is "
            f"already allocated to resource {holder}.",
        )
    held_here[key(pip_id)] = config_id
    props["publicIPAddress"] = {"id": pip["id"]}


def place_private(
    world: World,
    owner: str,
    config_id: str,
    props: Body,
    old: Body | None,
    held_here: dict[str, str],
) -> None:
    """Resolve ``subnet`` and set ``privateIPAddress``/``privateIPAllocationMethod``;
    `old` is this configuration's properties before the write, if it existed."""
    subnet_id = ref(props["subnet"], "subnet")
    assert subnet_id is not None
    subnet = world.lookup(subnet_id)
    if subnet is None:
        raise invalid_reference(subnet_id, config_id)
    subnet_props = subnet.get("properties", {})
    prefix = subnet_props.get("addressPrefix") or (subnet_props.get("addressPrefixes") or [""])[0]
    net = network(prefix, f"subnet {subnet['id']}")
    holders = subnet_holders(world, subnet_id, claimed=True, exclude=owner)
    holders.update(held_here)
    method = enum(
        props.get("privateIPAllocationMethod"),
        ("Dynamic", "Static"),
        "privateIPAllocationMethod",
        default="Dynamic",
    )
    if method == "Static":
        ip = _static(config_id, subnet["id"], net, props.get("privateIPAddress"), holders)
    else:
        ip = _kept(subnet_id, net, old, holders) or allocate_private(net, holders)
    held_here[ip] = config_id
    props.update(
        subnet={"id": subnet["id"]},
        privateIPAddress=ip,
        privateIPAllocationMethod=method,
        privateIPAddressVersion="IPv4",
    )


def _static(
    config_id: str,
    subnet_id: str,
    net: ipaddress.IPv4Network,
    wanted: object,
    holders: dict[str, str],
) -> str:
    if not isinstance(wanted, str) or not wanted:
        raise invalid_format(
            f"{config_id}: a Static privateIPAllocationMethod needs privateIPAddress."
        )
    ip = address(wanted, "privateIPAddress")
    if ip not in net:
        raise bad_request(
            "PrivateIPAddressNotInSubnet",
            f"IP configuration {config_id} is referencing private IP address {ip} which does "
            f"not belong to subnet {subnet_id} ({net}).",
        )
    if not usable(net, ip):
        raise bad_request(
            "PrivateIPAddressIsReserved",
            f"Private IP address {ip} is reserved by Azure in subnet {subnet_id} and cannot be "
            f"assigned to {config_id}.",
        )
    if str(ip) in holders:
        raise bad_request(
            "PrivateIPAddressInUse",
            f"IP configuration {config_id} is using the private IP address {ip} which is "
            f"already allocated to resource {holders[str(ip)]}.",
        )
    return str(ip)


def _kept(
    subnet_id: str, net: ipaddress.IPv4Network, old: Body | None, holders: dict[str, str]
) -> str:
    """A Dynamic configuration keeps its address while it stays in the same subnet."""
    if old is None or key(old.get("subnet", {}).get("id", "")) != key(subnet_id):
        return ""
    ip = old.get("privateIPAddress", "")
    if ip and ip not in holders and ipaddress.ip_address(ip) in net:
        return str(ip)
    return ""

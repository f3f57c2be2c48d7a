"""IP addresses: public ones from a fake public range, private ones from their subnet.

Tests assert on addresses, so allocation is deterministic: always the lowest free one.
Azure reserves five addresses of every subnet (the network address, .1 for the gateway,
.2 and .3 for DNS, and the broadcast address), so the first address a subnet hands out
is ``x.x.x.4``; a driver that hardcodes anything else would be wrong on Azure too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from providers.azure.emulator.errors import bad_request, invalid_format

PUBLIC_RANGE = ipaddress.ip_network("20.62.0.0/16")
_SUBNET_RESERVED_HOSTS = 3  # .1, .2 and .3; hosts() already skips network and broadcast


def network(prefix: str, field: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(prefix, strict=True)
    except ValueError as e:
        raise bad_request(
            "InvalidAddressPrefixFormat", f"Address prefix {prefix} of {field} is not valid: {e}."
        ) from e
    if not isinstance(net, ipaddress.IPv4Network):
        raise invalid_format(f"{field}: the emulator only supports IPv4 prefixes ({prefix}).")
    return net


def address(value: str, field: str) -> ipaddress.IPv4Address:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError as e:
        raise invalid_format(f"'{field}' is not a valid IP address: {value!r}.") from e
    if not isinstance(ip, ipaddress.IPv4Address):
        raise invalid_format(f"{field}: the emulator only supports IPv4 ({value}).")
    return ip


def allocate_public(taken: Collection[str]) -> str:
    for host in PUBLIC_RANGE.hosts():
        if str(host) not in taken:
            return str(host)
    raise bad_request("PublicIPCountLimitReached", "The emulator's public IP range is exhausted.")


def usable(subnet: ipaddress.IPv4Network, ip: ipaddress.IPv4Address) -> bool:
    """Whether Azure would assign this address of the subnet to anything."""
    if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
        return False
    return int(ip) - int(subnet.network_address) > _SUBNET_RESERVED_HOSTS


def allocate_private(subnet: ipaddress.IPv4Network, taken: Collection[str]) -> str:
    for host in subnet.hosts():
        if usable(subnet, host) and str(host) not in taken:
            return str(host)
    raise bad_request(
        "SubnetIsFull", f"Subnet with address prefix {subnet} has no free IP addresses left."
    )

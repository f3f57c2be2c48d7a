"""Address specs of a pool: CIDRs, a-b ranges and single IPs, walked lazily.

A pool may hold an IPv6 /64, so nothing here ever builds a list of its addresses: a range
is two integers, membership and size are arithmetic, and iteration is a generator.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ACCEPTED_FORMS = (
    "a CIDR like 192.168.10.0/24 or fc00::/120, a range a-b like "
    "192.168.1.10-192.168.1.20, or a single IP like 192.168.1.7"
)

_FAMILIES = {4: "IPv4", 6: "IPv6"}


def family_of(ip: IPAddress) -> str:
    return _FAMILIES[ip.version]


def parse_ip(text: str) -> IPAddress:
    """One address; zone-scoped IPv6 is refused because no load-balancer IP carries one."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f'"{text}" is not an IP address') from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        raise ValueError(f'"{text}" is not an IP address (zone-scoped IPv6 is not accepted)')
    return ip


@dataclass(frozen=True)
class Skips:
    """Which addresses a pool refuses to hand out, though its ranges cover them.

    `buggy`: IPv4 addresses ending in .0 or .255, which some consumer routers drop
    (MetalLB's avoidBuggyIPs). `network_and_broadcast`: the first and last address of an
    IPv4 CIDR of /30 or wider, for networks where those are not usable hosts.
    """

    buggy: bool = False
    network_and_broadcast: bool = False


NO_SKIPS = Skips()


@dataclass(frozen=True)
class AddressRange:
    """An inclusive span of addresses of one family, remembered as the operator wrote it."""

    text: str
    version: int
    first: int
    last: int
    prefixlen: int | None = None  # set when written as a CIDR

    @property
    def family(self) -> str:
        return _FAMILIES[self.version]

    def __str__(self) -> str:
        return self.text

    def covers(self, ip: IPAddress) -> bool:
        """Inside the span, whether or not the pool would hand it out."""
        return ip.version == self.version and self.first <= int(ip) <= self.last

    def contains(self, ip: IPAddress, skips: Skips = NO_SKIPS) -> bool:
        return self.covers(ip) and not self._skipped(int(ip), skips)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            try:
                item = parse_ip(item)
            except ValueError:
                return False
        if not isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return self.contains(item)

    def addresses(self, skips: Skips = NO_SKIPS, after: int | None = None) -> Iterator[IPAddress]:
        """Lazily, in order; `after` (an address as an int) resumes a walk past it."""
        make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        start = self.first if after is None else max(self.first, after + 1)
        for value in range(start, self.last + 1):
            if not self._skipped(value, skips):
                yield make(value)

    def __iter__(self) -> Iterator[IPAddress]:
        return self.addresses()

    def size(self, skips: Skips = NO_SKIPS) -> int:
        """How many addresses `addresses(skips)` yields, without walking them."""
        total = self.last - self.first + 1
        if self.version != 4:
            return total
        if skips.buggy:
            total -= _count(self.first, self.last, 0) + _count(self.first, self.last, 255)
        if self._has_network_and_broadcast(skips):
            ends = {self.first, self.last}
            total -= sum(1 for end in ends if not (skips.buggy and _is_buggy(end)))
        return total

    def overlaps(self, other: AddressRange) -> bool:
        return (
            self.version == other.version and self.first <= other.last and other.first <= self.last
        )

    def _has_network_and_broadcast(self, skips: Skips) -> bool:
        return (
            skips.network_and_broadcast
            and self.version == 4
            and self.prefixlen is not None
            and self.prefixlen < 31
        )

    def _skipped(self, value: int, skips: Skips) -> bool:
        if self.version != 4:
            return False
        if skips.buggy and _is_buggy(value):
            return True
        return self._has_network_and_broadcast(skips) and value in (self.first, self.last)


def _is_buggy(value: int) -> bool:
    return value & 0xFF in (0, 255)


def _count(first: int, last: int, last_octet: int) -> int:
    """How many values in [first, last] end in `last_octet`."""
    return (last - last_octet) // 256 - (first - 1 - last_octet) // 256


def parse_range(text: str) -> AddressRange:
    """Raises ValueError naming the text and the accepted forms."""
    spec = text.strip() if isinstance(text, str) else ""
    if not spec:
        raise ValueError(_bad(text))
    if "/" in spec:
        return _parse_cidr(text, spec)
    if "-" in spec:
        return _parse_span(text, spec)
    try:
        ip = parse_ip(spec)
    except ValueError:
        raise ValueError(_bad(text)) from None
    return AddressRange(spec, ip.version, int(ip), int(ip), ip.max_prefixlen)


def _parse_cidr(text: str, spec: str) -> AddressRange:
    try:
        net = ipaddress.ip_network(spec, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(spec, strict=False)
        except ValueError:
            raise ValueError(_bad(text)) from None
        raise ValueError(
            f'"{text}" has host bits set (did you mean {loose}?); accepted: {ACCEPTED_FORMS}'
        ) from None
    return AddressRange(
        spec,
        net.version,
        int(net.network_address),
        int(net.broadcast_address),
        net.prefixlen,
    )


def _parse_span(text: str, spec: str) -> AddressRange:
    parts = spec.split("-")
    if len(parts) != 2:
        raise ValueError(_bad(text))
    try:
        start, end = parse_ip(parts[0]), parse_ip(parts[1])
    except ValueError:
        raise ValueError(_bad(text)) from None
    if start.version != end.version:
        raise ValueError(
            f'"{text}" mixes {family_of(start)} and {family_of(end)}; '
            "both ends of a range must be of the same family"
        )
    if int(start) > int(end):
        raise ValueError(f'"{text}" starts after it ends; write the lower address first')
    return AddressRange(f"{start}-{end}", start.version, int(start), int(end))


def _bad(text: object) -> str:
    return f'"{text}" is not an IP, CIDR or a-b range (accepted: {ACCEPTED_FORMS})'

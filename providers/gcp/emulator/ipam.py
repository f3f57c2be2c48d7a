"""IP addresses: who holds which, and the next free one, external or in a subnetwork.

Allocation is deterministic (the lowest free address), so tests can predict IPs. An IP is
held by an address resource that reserved it, by a forwarding rule or a VM NIC using it,
or by a pending operation about to create one of those, so two concurrent requests never
get the same address. GCP reserves four addresses of every subnetwork range: the
network, the gateway (first host), the second-to-last and the broadcast address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from providers.gcp.emulator.urls import parse

# Fake public range for external addresses (Google's own 34.0.0.0/8 space).
EXTERNAL_POOL = ipaddress.ip_network("34.118.0.0/16")

Held = Iterable[tuple[str, Mapping[str, Any]]]


def _same(url: object, path: str, project: str) -> bool:
    return isinstance(url, str) and bool(url) and parse(url, project).path == path


def external_holders(held: Held, project: str) -> dict[str, list[str]]:
    """External IP -> paths of what holds it (addresses, forwarding rules, VM NAT configs)."""
    out: dict[str, list[str]] = {}
    for path, body in held:
        collection = path.split("/")[-2]
        ips: list[str] = []
        if collection == "addresses" and body.get("addressType", "EXTERNAL") == "EXTERNAL":
            ips.append(str(body.get("address", "")))
        elif collection == "forwardingRules" and not is_internal(body):
            ips.append(str(body.get("IPAddress", "")))
        elif collection == "instances":
            for nic in body.get("networkInterfaces", []):
                ips += [str(c.get("natIP", "")) for c in nic.get("accessConfigs", [])]
        for ip in ips:
            if ip:
                out.setdefault(ip, []).append(path)
    return out


def internal_holders(held: Held, subnetwork: str, project: str) -> dict[str, list[str]]:
    """Internal IP in one subnetwork (a path) -> paths of what holds it."""
    out: dict[str, list[str]] = {}
    for path, body in held:
        collection = path.split("/")[-2]
        ips: list[str] = []
        if collection == "addresses" and body.get("addressType") == "INTERNAL":
            if _same(body.get("subnetwork"), subnetwork, project):
                ips.append(str(body.get("address", "")))
        elif collection == "forwardingRules" and is_internal(body):
            if _same(body.get("subnetwork"), subnetwork, project):
                ips.append(str(body.get("IPAddress", "")))
        elif collection == "instances":
            for nic in body.get("networkInterfaces", []):
                if _same(nic.get("subnetwork"), subnetwork, project):
                    ips.append(str(nic.get("networkIP", "")))
        for ip in ips:
            if ip:
                out.setdefault(ip, []).append(path)
    return out


def is_internal(forwarding_rule: Mapping[str, Any]) -> bool:
    return str(forwarding_rule.get("loadBalancingScheme", "EXTERNAL")).startswith("INTERNAL")


def usable(cidr: str) -> list[ipaddress.IPv4Address]:
    """A subnetwork range's assignable addresses: all but the four GCP reserves."""
    net = ipaddress.ip_network(cidr)
    hosts = list(net.hosts())
    return [ip for ip in hosts[1:-1] if isinstance(ip, ipaddress.IPv4Address)]


def in_range(ip: str, cidr: str) -> bool:
    """Whether `ip` is one of the range's assignable addresses."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    net = ipaddress.ip_network(cidr)
    if addr not in net:
        return False
    reserved = (net.network_address, net.network_address + 1, net.broadcast_address - 1)
    return addr not in (*reserved, net.broadcast_address)


def next_internal(cidr: str, used: Iterable[str]) -> str | None:
    taken = set(used)
    for ip in usable(cidr):
        if str(ip) not in taken:
            return str(ip)
    return None


def next_external(used: Iterable[str]) -> str | None:
    taken = set(used)
    for ip in EXTERNAL_POOL.hosts():
        if str(ip) not in taken and int(ip) & 0xFF not in (0, 1, 255):
            return str(ip)
    return None


def is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False

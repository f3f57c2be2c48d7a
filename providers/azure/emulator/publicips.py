"""Public IP addresses: allocation, DNS labels, and the refusal to delete one in use.

A Kubernetes LoadBalancer Service on Azure is a frontend on a shared load balancer plus a
public IP resource, either made by the controller or owned by the user (named in
``loadBalancerIP`` or an annotation). What a driver must get right, and what this models:
an address that stays the same across updates, ``dnsSettings.domainNameLabel`` producing
``<label>.<location>.cloudapp.azure.com`` unique per location, ``ipConfiguration``
naming the frontend that holds the IP, and Azure refusing to delete an IP still held.
"""

from __future__ import annotations

import re

from providers.azure.emulator.errors import bad_request, invalid_format
from providers.azure.emulator.ids import Ref, key
from providers.azure.emulator.ipam import address, allocate_public
from providers.azure.emulator.shapes import (
    assemble,
    enum,
    integer,
    location,
    properties_of,
    writable,
)
from providers.azure.emulator.usage import public_ip_holder
from providers.azure.emulator.world import Body, World

KIND = "publicIPAddresses"
LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
READ_ONLY = frozenset({"ipConfiguration"})


def prepare(world: World, resource: Ref, body: Body, old: Body | None) -> Body:
    """What Azure stores for a PUT of this public IP (raises what Azure refuses)."""
    rid = resource.id
    where = location(body, old, rid)
    sku_in = body.get("sku") or {}
    if not isinstance(sku_in, dict):
        raise invalid_format("'sku' must be an object.")
    sku = enum(sku_in.get("name"), ("Basic", "Standard"), "sku.name", default="Standard")
    tier = enum(sku_in.get("tier"), ("Regional", "Global"), "sku.tier", default="Regional")
    props = writable(properties_of(body, rid), READ_ONLY)
    method = enum(
        props.get("publicIPAllocationMethod"),
        ("Static", "Dynamic"),
        "publicIPAllocationMethod",
        default="Static" if sku == "Standard" else "Dynamic",
    )
    if sku == "Standard" and method == "Dynamic":
        raise bad_request(
            "StandardSkuPublicIPAddressesMustBeStatic",
            f"Standard sku publicIp {rid} must have AllocationMethod set to Static.",
        )
    version = enum(
        props.get("publicIPAddressVersion"), ("IPv4", "IPv6"), "publicIPAddressVersion", "IPv4"
    )
    if version != "IPv4":
        raise invalid_format("The emulator only allocates IPv4 public addresses.")
    props.update(
        publicIPAllocationMethod=method,
        publicIPAddressVersion=version,
        idleTimeoutInMinutes=integer(
            props.get("idleTimeoutInMinutes"), "idleTimeoutInMinutes", 4, 30, default=4
        ),
        ipAddress=_address(world, resource, props.get("ipAddress"), old),
    )
    dns = _dns_settings(world, resource, where, props.get("dnsSettings"))
    if dns is None:
        props.pop("dnsSettings", None)
    else:
        props["dnsSettings"] = dns
    props["provisioningState"] = "Succeeded"
    return assemble(body, where, props, sku={"name": sku, "tier": tier})


def _address(world: World, resource: Ref, sent: object, old: Body | None) -> str:
    """The address keeps what it was given at creation; a new one takes the lowest free
    address of the fake public range (or the one sent, which the emulator allows)."""
    if old is not None and old.get("properties", {}).get("ipAddress"):
        kept: str = old["properties"]["ipAddress"]
        return kept
    me = key(resource.id)
    taken = {
        b.get("properties", {}).get("ipAddress", ""): b["id"]
        for b in world.claimed(KIND)
        if key(b["id"]) != me
    }
    if sent is None or sent == "":
        return allocate_public(taken)
    if not isinstance(sent, str):
        raise invalid_format("'ipAddress' must be a string.")
    value = str(address(sent, "ipAddress"))
    if value in taken:
        raise bad_request(
            "PublicIPAddressAlreadyAllocated",
            f"Public IP address {value} requested by {resource.id} is already allocated to "
            f"{taken[value]}.",
        )
    return value


def _dns_settings(world: World, resource: Ref, where: str, settings: object) -> Body | None:
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise invalid_format("'dnsSettings' must be an object.")
    out: Body = {k: v for k, v in settings.items() if k != "fqdn"}
    label = out.get("domainNameLabel")
    if not label:
        out.pop("domainNameLabel", None)
        return out or None
    if not isinstance(label, str) or not LABEL.match(label):
        raise bad_request(
            "InvalidDomainNameLabel",
            f"The domain name label {label} is invalid. It must conform to the following "
            f"regular expression: {LABEL.pattern}.",
        )
    fqdn = f"{label}.{where}.cloudapp.azure.com"
    me = key(resource.id)
    for other in world.claimed(KIND):
        theirs = other.get("properties", {}).get("dnsSettings", {}).get("fqdn", "")
        if key(other["id"]) != me and theirs.lower() == fqdn:
            raise bad_request(
                "DnsRecordInUse", f"DNS record {fqdn} is already used by another public IP."
            )
    out["fqdn"] = fqdn
    return out


def view(world: World, body: Body) -> Body:
    """Adds ``ipConfiguration``: the committed frontend or NIC configuration holding it."""
    holder = public_ip_holder(world, body["id"], claimed=False)
    if holder:
        body["properties"]["ipConfiguration"] = {"id": holder}
    return body


def check_delete(world: World, body: Body) -> None:
    holder = public_ip_holder(world, body["id"], claimed=True)
    if holder:
        raise bad_request(
            "PublicIPAddressCannotBeDeleted",
            f"Public IP address {body['id']} can not be deleted since it is still allocated "
            f"to resource {holder}. In order to delete the public IP, disassociate/detach the "
            "Public IP address from the resource.  To learn how to do this, see "
            "aka.ms/deletepublicip.",
        )

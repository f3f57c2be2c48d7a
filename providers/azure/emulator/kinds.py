"""The resource types the emulator serves, and which of their child collections are routes.

ARM exposes some children of a resource as resources of their own (a security rule, a
subnet, a backend pool can be PUT on its own URL) and others only for reading (a
frontend or a load balancing rule changes only with its load balancer). A write to a
child is a write of its parent, so it runs the parent's validation and counts as an
operation on the parent; this table says which children allow it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from providers.azure.emulator import loadbalancers, nics, nsgs, publicips, vnets
from providers.azure.emulator.ids import Ref
from providers.azure.emulator.world import Body, World

Prepare = Callable[[World, Ref, Body, Body | None], Body]
View = Callable[[World, Body], Body]
CheckDelete = Callable[[World, Body], None]


def _as_stored(world: World, body: Body) -> Body:
    return body


def _deletable(world: World, body: Body) -> None:
    return None


@dataclass(frozen=True)
class Child:
    name: str  # the collection, as in the URL and in properties: "securityRules"
    singular: str  # for operation names: "SecurityRule"
    writable: bool


@dataclass(frozen=True)
class Kind:
    name: str  # "loadBalancers"
    singular: str  # "LoadBalancer", as in "PutLoadBalancerOperation"
    prepare: Prepare
    children: tuple[Child, ...] = ()
    view: View = _as_stored
    check_delete: CheckDelete = _deletable

    def child(self, name: str) -> Child | None:
        return next((c for c in self.children if c.name.lower() == name.lower()), None)


KINDS: tuple[Kind, ...] = (
    Kind(
        "loadBalancers",
        "LoadBalancer",
        loadbalancers.prepare,
        (
            Child("frontendIPConfigurations", "FrontendIPConfiguration", writable=False),
            Child("backendAddressPools", "BackendAddressPool", writable=True),
            Child("loadBalancingRules", "LoadBalancingRule", writable=False),
            Child("probes", "Probe", writable=False),
            Child("inboundNatRules", "InboundNatRule", writable=True),
            Child("outboundRules", "OutboundRule", writable=False),
        ),
    ),
    Kind(
        "publicIPAddresses",
        "PublicIpAddress",
        publicips.prepare,
        view=publicips.view,
        check_delete=publicips.check_delete,
    ),
    Kind(
        "networkSecurityGroups",
        "NetworkSecurityGroup",
        nsgs.prepare,
        (
            Child("securityRules", "SecurityRule", writable=True),
            Child("defaultSecurityRules", "DefaultSecurityRule", writable=False),
        ),
        view=nsgs.view,
        check_delete=nsgs.check_delete,
    ),
    Kind(
        "virtualNetworks",
        "VirtualNetwork",
        vnets.prepare,
        (Child("subnets", "Subnet", writable=True),),
        view=vnets.view,
        check_delete=vnets.check_delete,
    ),
    Kind(
        "networkInterfaces",
        "NetworkInterface",
        nics.prepare,
        (Child("ipConfigurations", "NetworkInterfaceIPConfiguration", writable=False),),
    ),
)
_BY_NAME = {k.name.lower(): k for k in KINDS}


def kind_of(name: str) -> Kind | None:
    """The kind for a URL segment, whatever its casing (``publicIpAddresses`` works)."""
    return _BY_NAME.get(name.lower())

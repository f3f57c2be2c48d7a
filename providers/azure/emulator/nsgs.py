"""Network security groups and their rules.

A cloud controller on Azure opens each Service's ports in the cluster's NSG, one rule per
port range, and every rule needs a priority that no other rule *of the same direction*
has, between 100 and 4096. Choosing priorities is the part drivers get wrong (two
Services reconciled concurrently pick the same one), so the emulator refuses exactly as
Azure does: SecurityRuleInvalidPriority and SecurityRuleConflict. Rules arrive inline in
an NSG PUT or one at a time under ``securityRules/{name}``; both end up here.
"""

from __future__ import annotations

from typing import Any

from providers.azure.emulator.errors import bad_request, invalid_format
from providers.azure.emulator.ids import Ref, child_id
from providers.azure.emulator.shapes import (
    assemble,
    children,
    enum,
    location,
    make_child,
    properties_of,
    writable,
)
from providers.azure.emulator.usage import nsg_users
from providers.azure.emulator.world import Body, World

KIND = "networkSecurityGroups"
READ_ONLY = frozenset({"defaultSecurityRules", "subnets", "networkInterfaces", "flowLogs"})
PROTOCOLS = ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*")
LOWEST, HIGHEST = 100, 4096
# Azure's default rules, in every NSG: (name, priority, direction, access, source, destination)
_DEFAULTS = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)


def prepare(world: World, resource: Ref, body: Body, old: Body | None) -> Body:
    """What Azure stores for a PUT of this NSG; a PUT replaces the whole rule list."""
    nsg_id = resource.id
    where = location(body, old, nsg_id)
    raw = properties_of(body, nsg_id)
    props = writable(raw, READ_ONLY | {"securityRules"})
    rules = [
        make_child(nsg_id, KIND, "securityRules", name, rule_properties(nsg_id, name, p))
        for name, p in children(nsg_id, "securityRules", raw.get("securityRules"))
    ]
    _check_priorities(rules)
    props.update(
        securityRules=rules,
        defaultSecurityRules=default_rules(nsg_id),
        provisioningState="Succeeded",
    )
    return assemble(body, where, props)


def rule_properties(nsg_id: str, name: str, raw: Body) -> Body:
    props = writable(raw)
    rule_id = child_id(nsg_id, "securityRules", name)
    priority: Any = props.get("priority", 0)
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not LOWEST <= priority <= HIGHEST
    ):
        raise bad_request(
            "SecurityRuleInvalidPriority",
            f"Security rule has invalid Priority. Value provided: {priority} "
            f"Allowed range {LOWEST}-{HIGHEST}.",
        )
    props.update(
        direction=enum(props.get("direction"), ("Inbound", "Outbound"), "direction"),
        access=enum(props.get("access"), ("Allow", "Deny"), "access"),
        protocol=enum(props.get("protocol"), PROTOCOLS, "protocol"),
    )
    for side in ("source", "destination"):
        if not (props.get(f"{side}PortRange") or props.get(f"{side}PortRanges")):
            raise invalid_format(f"Security rule {rule_id} needs {side}PortRange(s).")
        if not (
            props.get(f"{side}AddressPrefix")
            or props.get(f"{side}AddressPrefixes")
            or props.get(f"{side}ApplicationSecurityGroups")
        ):
            raise invalid_format(f"Security rule {rule_id} needs {side}AddressPrefix(es).")
    return props


def _check_priorities(rules: list[Body]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for rule in rules:
        slot = (rule["properties"]["direction"], rule["properties"]["priority"])
        if slot in seen:
            raise bad_request(
                "SecurityRuleConflict",
                f"Security rule {seen[slot]} conflicts with rule {rule['name']}. Rules cannot "
                "have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
            )
        seen[slot] = rule["name"]


def default_rules(nsg_id: str) -> list[Body]:
    out: list[Body] = []
    for name, priority, direction, access, source, destination in _DEFAULTS:
        props: Body = {
            "description": f"Azure default rule {name}",
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": access,
            "priority": priority,
            "direction": direction,
        }
        out.append(make_child(nsg_id, KIND, "defaultSecurityRules", name, props))
    return out


def view(world: World, body: Body) -> Body:
    """Adds ``subnets`` and ``networkInterfaces``: what the NSG is attached to."""
    users = nsg_users(world, body["id"], claimed=False)
    for kind in ("subnets", "networkInterfaces"):
        ids = [{"id": user} for user_kind, user in users if user_kind == kind]
        if ids:
            body["properties"][kind] = ids
    return body


def check_delete(world: World, body: Body) -> None:
    users = nsg_users(world, body["id"], claimed=True)
    if users:
        raise bad_request(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            f"Network security group {body['id']} cannot be deleted because it is in use by "
            f"the following resources: {', '.join(user for _, user in users)}. In order to "
            "delete the Network security group, remove the association with the resource(s).",
        )

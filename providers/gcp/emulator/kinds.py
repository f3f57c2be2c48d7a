"""The collections the emulator serves: where each lives, which methods it has, its rules.

One :class:`Kind` per collection ties the per-collection knowledge together (scopes,
methods, validation, references, fields computed on read) so the store and the server
stay generic: adding a collection is adding an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from providers.gcp.emulator import lb_rules, network_rules
from providers.gcp.emulator.errors import ApiError
from providers.gcp.emulator.urls import parse
from providers.gcp.emulator.world import Body, World

Prepare = Callable[[World, str, Body, "Body | None"], Body]
Merge = Callable[[Body, Body], Body]
Refs = Callable[[Body, str], list[str]]

READ = frozenset({"list", "get"})


def _paths(values: list[object], project: str) -> list[str]:
    out = []
    for value in values:
        if isinstance(value, str) and value:
            try:
                out.append(parse(value, project).path)
            except ApiError:
                continue
    return out


def _fields(*names: str) -> Refs:
    def refs(body: Body, project: str) -> list[str]:
        return _paths([body.get(n) for n in names], project)

    return refs


def _backend_service_refs(body: Body, project: str) -> list[str]:
    values: list[object] = [*body.get("healthChecks", []), body.get("network")]
    values += [b.get("group") for b in body.get("backends", []) if isinstance(b, dict)]
    return _paths(values, project)


def _instance_refs(body: Body, project: str) -> list[str]:
    values: list[object] = []
    for nic in body.get("networkInterfaces", []):
        values += [nic.get("network"), nic.get("subnetwork")]
    return _paths(values, project)


@dataclass(frozen=True)
class Kind:
    collection: str
    kind: str  # "compute#forwardingRule"
    noun: str  # how GCP names the type in "resource in use" messages
    scopes: frozenset[str]  # of "global", "regions", "zones"
    methods: frozenset[str]
    prepare: Prepare
    refs: Refs
    merge: Merge = lb_rules.merge
    fingerprint: bool = False  # has a `fingerprint` that changes with every write
    labels: bool = False  # has `labels` and `labelFingerprint` (setLabels)
    patchable: frozenset[str] | None = None  # None: any field but the immutable ones
    immutable: frozenset[str] = frozenset()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


KINDS: dict[str, Kind] = {
    k.collection: k
    for k in (
        Kind(
            "forwardingRules",
            "compute#forwardingRule",
            "forwarding_rule",
            frozenset({"regions"}),
            READ | {"insert", "delete", "patch", "setLabels"},
            lb_rules.prepare_forwarding_rule,
            _fields("backendService", "network", "subnetwork"),
            fingerprint=True,
            labels=True,
            patchable=frozenset({"allowGlobalAccess", "allowPscGlobalAccess", "networkTier"}),
        ),
        Kind(
            "backendServices",
            "compute#backendService",
            "backend_service",
            frozenset({"regions"}),
            READ | {"insert", "delete", "patch", "update", "getHealth"},
            lb_rules.prepare_backend_service,
            _backend_service_refs,
            fingerprint=True,
            immutable=frozenset({"loadBalancingScheme"}),
        ),
        Kind(
            "healthChecks",
            "compute#healthCheck",
            "health_check",
            frozenset({"regions", "global"}),
            READ | {"insert", "delete", "patch", "update"},
            lb_rules.prepare_health_check,
            _fields(),
            merge=lb_rules.merge_health_check,
        ),
        Kind(
            "addresses",
            "compute#address",
            "address",
            frozenset({"regions"}),
            READ | {"insert", "delete", "setLabels"},
            network_rules.prepare_address,
            _fields("subnetwork", "network"),
            labels=True,
        ),
        Kind(
            "firewalls",
            "compute#firewall",
            "firewall",
            frozenset({"global"}),
            READ | {"insert", "delete", "patch", "update"},
            network_rules.prepare_firewall,
            _fields("network"),
            immutable=frozenset({"network", "direction"}),
        ),
        Kind(
            "instanceGroups",
            "compute#instanceGroup",
            "instance_group",
            frozenset({"zones"}),
            READ
            | {"insert", "delete", "addInstances", "removeInstances", "listInstances"}
            | {"setNamedPorts"},
            lb_rules.prepare_instance_group,
            _fields("network", "subnetwork"),
            fingerprint=True,
        ),
        Kind(
            "instances",
            "compute#instance",
            "instance",
            frozenset({"zones"}),
            READ | {"insert", "delete"},
            network_rules.prepare_instance,
            _instance_refs,
            fingerprint=True,
            labels=True,
        ),
        Kind(
            "networks",
            "compute#network",
            "network",
            frozenset({"global"}),
            READ | {"insert", "delete"},
            network_rules.prepare_network,
            _fields(),
        ),
        Kind(
            "subnetworks",
            "compute#subnetwork",
            "subnetwork",
            frozenset({"regions"}),
            READ | {"insert", "delete"},
            network_rules.prepare_subnetwork,
            _fields("network"),
            fingerprint=True,
        ),
    )
}

# Fields GCP sets itself: ignored when a client sends them (fingerprints are checked first).
OUTPUT_ONLY = frozenset(
    {
        "id",
        "kind",
        "selfLink",
        "selfLinkWithId",
        "creationTimestamp",
        "region",
        "zone",
        "status",
        "users",
        "size",
        "fingerprint",
        "labelFingerprint",
        "gatewayAddress",
        "subnetworks",
    }
)


def kind_of(path: str) -> Kind:
    return KINDS[path.split("/")[-2]]


def render(world: World, path: str, body: Body) -> Body:
    """A stored body as GCP answers with it, with the fields it computes on read."""
    out = dict(body)
    collection = path.split("/")[-2]
    if collection == "addresses":
        users = network_rules.address_users(world, path, body, world.committed())
        out["status"] = "IN_USE" if users else "RESERVED"
        if users:
            out["users"] = [world.url(p) for p in users]
    elif collection == "networks":
        subnets = [
            world.url(p)
            for p, b in world.committed()
            if p.split("/")[-2] == "subnetworks" and parse(b["network"], world.project).path == path
        ]
        if subnets:
            out["subnetworks"] = sorted(subnets)
    elif collection == "instanceGroups":
        out["size"] = len(world.members(path))
    return out

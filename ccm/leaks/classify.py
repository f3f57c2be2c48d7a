"""Which owned resources no live Service wants, and why: a pure function of the driver's
inventory and the cluster's Services, so every rule is testable without a cloud.

An orphan needs a positive reason. Anything the rules cannot decide (a Service whose spec
does not parse, a resource a Service's status still points at) is kept: a leak can be
removed on the next sweep, a deleted load balancer in use cannot be undeleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ccm.driver import Driver, LeakAwareDriver
from ccm.model import JSON, OURS, ClusterInfo, InvalidServiceSpec, OwnedResource, ServiceRef


class Reason(StrEnum):
    SERVICE_GONE = "service-gone"
    NOT_LOAD_BALANCER = "not-load-balancer"
    REPLACED = "replaced"
    UNUSED_SHARED = "unused-shared"
    LEGACY = "legacy"


class Spared(StrEnum):
    """Why a resource that looks unwanted is left alone (reported, never deleted)."""

    KEEP_TAG = "ccm.dev/keep"
    USER_OWNED = "named-in-annotation"
    OTHER_CLUSTER = "other-cluster"
    UNPARSEABLE = "service-spec-invalid"
    IN_STATUS = "still-in-status"


@dataclass(frozen=True)
class Orphan:
    resource: OwnedResource
    reason: Reason
    detail: str  # one line a user can act on


@dataclass
class Classification:
    orphans: list[Orphan] = field(default_factory=list)
    spared: list[tuple[OwnedResource, Spared]] = field(default_factory=list)
    wanted: list[OwnedResource] = field(default_factory=list)


Owns = Callable[[JSON], bool]


def classify(
    owned: Iterable[OwnedResource],
    services: Sequence[JSON],
    cluster: ClusterInfo,
    driver: Driver,
    owns: Owns,
) -> Classification:
    by_uid = {str(s["metadata"].get("uid")): s for s in services}
    by_key = {_key(s): s for s in services}
    protected = _protected(services, driver)
    wants = _Wants(cluster, driver, owns)
    owned = list(owned)
    serving = _serving(owned, by_uid)
    out = Classification()
    shared: list[OwnedResource] = []
    for r in owned:
        spared = _spared(r, cluster, protected)
        if spared is not None:
            out.spared.append((r, spared))
        elif r.managed_by != OURS:
            _legacy(r, by_key.get(r.owner.key) if r.owner else None, driver, out)
        elif r.shared or r.owner is None:
            shared.append(r)
        else:
            _ours(r, by_uid.get(r.owner.uid), wants, serving, out)
    in_use = any(owns(s) for s in services) or any(r.managed_by == OURS for r in out.wanted)
    for r in shared:
        if in_use:
            out.wanted.append(r)
        else:
            out.orphans.append(
                Orphan(r, Reason.UNUSED_SHARED, "no Service of this cluster uses this provider")
            )
    return out


def _spared(r: OwnedResource, cluster: ClusterInfo, protected: set[str]) -> Spared | None:
    if r.cluster != cluster.name:
        return Spared.OTHER_CLUSTER
    if r.keep:
        return Spared.KEEP_TAG
    if r.id in protected or (r.name and r.name in protected):
        return Spared.USER_OWNED
    return None


def _serving(
    owned: Sequence[OwnedResource], by_uid: dict[str, JSON]
) -> set[tuple[str, tuple[Any, ...]]]:
    """(owner uid, identity) of every load balancer its Service's status points at: that
    load balancer and its children (target groups, security groups, which have no address
    of their own) are in use, whatever the spec now asks for."""
    out = set()
    for r in owned:
        svc = by_uid.get(r.owner.uid) if r.owner else None
        if svc is not None and r.owner is not None and set(r.addresses) & _status_addresses(svc):
            out.add((r.owner.uid, tuple(r.identity)))
    return out


def _ours(
    r: OwnedResource,
    svc: JSON | None,
    wants: _Wants,
    serving: set[tuple[str, tuple[Any, ...]]],
    out: Classification,
) -> None:
    assert r.owner is not None
    if svc is None:
        out.orphans.append(Orphan(r, Reason.SERVICE_GONE, f"Service {r.owner.key} is gone"))
        return
    if svc["metadata"].get("deletionTimestamp"):
        out.orphans.append(Orphan(r, Reason.SERVICE_GONE, f"Service {r.owner.key} is deleting"))
        return
    if not wants.owns(svc):
        spec = svc.get("spec") or {}
        what = (
            f"type {spec.get('type')}"
            if spec.get("type") != "LoadBalancer"
            else f"loadBalancerClass {spec.get('loadBalancerClass')!r}"
        )
        out.orphans.append(
            Orphan(r, Reason.NOT_LOAD_BALANCER, f"Service {r.owner.key} now has {what}")
        )
        return
    identity = wants.identity(svc)
    if identity is None:
        out.spared.append((r, Spared.UNPARSEABLE))
    elif tuple(r.identity) == identity:
        out.wanted.append(r)
    elif (r.owner.uid, tuple(r.identity)) in serving:
        out.spared.append((r, Spared.IN_STATUS))  # mid-replacement: status not switched yet
    else:
        out.orphans.append(
            Orphan(r, Reason.REPLACED, f"Service {r.owner.key} now wants another load balancer")
        )


def _legacy(r: OwnedResource, svc: JSON | None, driver: Driver, out: Classification) -> None:
    if not isinstance(driver, LeakAwareDriver) or driver.legacy_wanted(r, svc):
        out.wanted.append(r)
        return
    owner = r.owner.key if r.owner else "?"
    state = "is gone" if svc is None else "no longer wants it"
    out.orphans.append(Orphan(r, Reason.LEGACY, f"made by {r.managed_by}; {owner} {state}"))


class _Wants:
    """The identity each owned Service wants now, parsed once per sweep."""

    def __init__(self, cluster: ClusterInfo, driver: Driver, owns: Owns) -> None:
        self.cluster = cluster
        self.driver = driver
        self.owns = owns
        self._memo: dict[str, tuple[Any, ...] | None] = {}

    def identity(self, svc: JSON) -> tuple[Any, ...] | None:
        uid = str(svc["metadata"].get("uid"))
        if uid not in self._memo:
            try:
                spec = self.driver.parse(svc, self.cluster)
            except InvalidServiceSpec:
                self._memo[uid] = None
            else:
                self._memo[uid] = (
                    tuple(self.driver.resource_identity(spec))
                    if isinstance(self.driver, LeakAwareDriver)
                    else spec.identity()
                )
        return self._memo[uid]


def _protected(services: Sequence[JSON], driver: Driver) -> set[str]:
    if not isinstance(driver, LeakAwareDriver):
        return set()
    out: set[str] = set()
    for s in services:
        out |= driver.protected_ids(s)
    return out


def _status_addresses(svc: JSON) -> set[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return {str(i.get(k)) for i in ingress for k in ("ip", "hostname") if i.get(k)}


def _key(svc: JSON) -> str:
    return ServiceRef.of(svc).key

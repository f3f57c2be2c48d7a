"""The orphan rules, on the real pool driver's parser and hand-made inventories."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccm.controller import owns
from ccm.driver import DeleteOutcome, DriverOptions, load_driver
from ccm.leaks.classify import Reason, Spared, classify
from ccm.leaks.sweep import Action, Mode, SweepConfig, Sweeper
from ccm.model import (
    ClusterInfo,
    IncompleteListing,
    LoadBalancerSpec,
    OwnedResource,
    PriceBook,
    ServiceRef,
)

CLUSTER = ClusterInfo("c1")
POOLS = {
    "pools.yaml": "pools:\n  - name: a\n    addresses: ['192.0.2.0/28']\n"
    "  - name: b\n    addresses: ['192.0.2.16/28']\n"
}


def pool() -> Any:
    return load_driver("pool", DriverOptions(CLUSTER, POOLS))


def svc(name: str, uid: str, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", "name": name, "uid": uid, "annotations": {}}
    for key in ("annotations", "deletionTimestamp"):
        if key in spec:
            meta[key] = spec.pop(key)
    body = {
        "type": "LoadBalancer",
        "loadBalancerClass": "ccm.dev/lb",
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}],
        **spec,
    }
    return {"metadata": meta, "spec": body, "status": spec.pop("status", {})}


def mine(s: dict[str, Any]) -> bool:
    return owns(s, "ccm.dev/lb", False)


def identity_of(service: dict[str, Any]) -> tuple[Any, ...]:
    spec: LoadBalancerSpec = pool().parse(service, CLUSTER)
    return spec.identity()


def res(uid: str, ident: tuple[Any, ...] = (), rid: str = "192.0.2.1", **kw: Any) -> OwnedResource:
    owner = kw.pop("owner", ServiceRef("ns", f"s-{uid}", uid) if uid else None)
    kind = kw.pop("kind", "address")
    return OwnedResource("pool", kind, rid, kw.pop("cluster", "c1"), owner, ident, **kw)


def reasons(services: list[dict[str, Any]], owned: list[OwnedResource]) -> list[str]:
    found = classify(owned, services, CLUSTER, pool(), mine)
    return [o.reason.value for o in found.orphans] + [s.value for _, s in found.spared]


def test_wanted_resource_is_not_an_orphan() -> None:
    live = svc("s-u1", "u1")
    found = classify([res("u1", identity_of(live))], [live], CLUSTER, pool(), mine)
    assert found.orphans == [] and len(found.wanted) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "ClusterIP"}, "not-load-balancer"),
        ({"loadBalancerClass": "someone.else/lb"}, "not-load-balancer"),
        ({"deletionTimestamp": "2026-01-01T00:00:00Z"}, "service-gone"),
        ({"annotations": {"metallb.io/address-pool": "b"}}, "replaced"),
    ],
)
def test_each_way_a_live_service_stops_wanting_it(change: dict[str, Any], reason: str) -> None:
    ident = identity_of(svc("s-u1", "u1"))
    assert reasons([svc("s-u1", "u1", **change)], [res("u1", ident)]) == [reason]


def test_gone_service_by_uid_even_if_the_name_came_back() -> None:
    recreated = svc("s-u1", "u2")  # same namespace/name, new object
    assert reasons([recreated], [res("u1", identity_of(svc("s-u1", "u1")))]) == ["service-gone"]


def test_spared_never_orphaned() -> None:
    live = svc("s-u1", "u1", annotations={"metallb.io/address-pool": "b"})
    old = identity_of(svc("s-u1", "u1"))
    bad = svc("s-u3", "u3", annotations={"metallb.io/address-pool": "nope"})
    in_status = svc(
        "s-u4",
        "u4",
        annotations={"metallb.io/address-pool": "b"},
        status={"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}},
    )
    owned = [
        res("u9", (), keep=True),
        res("u9", (), cluster="other"),
        res("u3", old),
        res("u4", old, rid="192.0.2.9", addresses=("192.0.2.9",)),
    ]
    got = reasons([live, bad, in_status], owned)
    assert sorted(got) == sorted(
        [Spared.KEEP_TAG, Spared.OTHER_CLUSTER, Spared.UNPARSEABLE, Spared.IN_STATUS]
    )


def test_shared_resources_are_unused_only_when_no_service_wants_this_controller() -> None:
    shared = res("", (), rid="sg-1", shared=True)
    live = svc("s-u1", "u1")
    assert reasons([live], [shared]) == []
    assert reasons([svc("s-u1", "u1", type="ClusterIP")], [shared]) == ["unused-shared"]


# ---------------------------------------------------------------- sweeps


class Recorded:
    """A driver over a fixed inventory that records what it was asked to delete: the
    sweep's own decisions are under test here, not a driver's."""

    name = "fake"

    def __init__(self, owned: list[OwnedResource], fail: str = "") -> None:
        self.owned = owned
        self.deleted: list[str] = []
        self.fail = fail
        self.broken: Exception | None = None

    def parse(self, service: dict[str, Any], cluster: ClusterInfo) -> LoadBalancerSpec:
        return pool().parse(service, cluster)  # type: ignore[no-any-return]

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Any]) -> Any:
        raise AssertionError("a sweep never ensures")

    def delete(self, ref: ServiceRef) -> None:
        raise AssertionError("resource-level deletes only")

    def inventory(self) -> Iterable[OwnedResource]:
        if self.broken:
            raise self.broken
        return [r for r in self.owned if r.id not in self.deleted]

    def prices(self) -> PriceBook:
        return PriceBook("fake", "r", hourly={"address": 0.01})

    def resource_identity(self, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        return spec.identity()

    def delete_resources(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        out = []
        for r in resources:
            if r.id == self.fail:
                out.append(DeleteOutcome(r, "InUse: still attached"))
            else:
                self.deleted.append(r.id)
                out.append(DeleteOutcome(r))
        return out

    def protected_ids(self, service: dict[str, Any]) -> set[str]:
        return {(service["metadata"].get("annotations") or {}).get("user-owned", "")} - {""}

    def legacy_wanted(self, resource: OwnedResource, service: dict[str, Any] | None) -> bool:
        return service is not None


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def sweeper(driver: Recorded, clock: Clock, **config: Any) -> Sweeper:
    return Sweeper(driver, CLUSTER, mine, SweepConfig(**config), clock=clock)


KUBERNETES = {
    "metadata": {"namespace": "default", "name": "kubernetes", "uid": "k"},
    "spec": {"type": "ClusterIP"},
}


def test_two_sightings_min_age_apart_and_old_enough() -> None:
    clock = Clock()
    young = datetime.fromtimestamp(clock.now, UTC)
    old = young - timedelta(hours=1)
    d = Recorded([res("gone1", rid="a", created_at=old), res("gone2", rid="b", created_at=young)])
    s = sweeper(d, clock, min_age=600)
    assert {f.action for f in s.sweep(lambda: [KUBERNETES]).findings} == {Action.CONFIRMING}
    clock.now += 599
    assert {f.action for f in s.sweep(lambda: [KUBERNETES]).findings} == {Action.CONFIRMING}
    clock.now += 1
    s.sweep(lambda: [KUBERNETES])
    assert d.deleted == ["a", "b"]


def test_sightings_gap_and_resource_age_are_separate_gates() -> None:
    clock = Clock()
    young = datetime.fromtimestamp(clock.now, UTC)
    old = young - timedelta(hours=1)
    d = Recorded([res("gone1", rid="a", created_at=old), res("gone2", rid="b", created_at=young)])
    s = sweeper(d, clock, min_age=600, min_gap=10)
    s.sweep(lambda: [KUBERNETES])
    clock.now += 10
    rep = s.sweep(lambda: [KUBERNETES])
    assert d.deleted == ["a"]
    by_id = {f.orphan.resource.id: f for f in rep.findings}
    assert by_id["a"].action is Action.DELETED and by_id["b"].action is Action.CONFIRMING
    assert by_id["a"].monthly_cost == 7.3


def test_an_orphan_that_is_wanted_again_starts_over() -> None:
    clock = Clock()
    d = Recorded([res("u1", identity_of(svc("s-u1", "u1")), rid="a")])
    s = sweeper(d, clock, min_age=10)
    s.sweep(lambda: [KUBERNETES])
    clock.now += 20
    s.sweep(lambda: [KUBERNETES, svc("s-u1", "u1")])  # the Service came back (a restore)
    clock.now += 20
    assert [f.action for f in s.sweep(lambda: [KUBERNETES]).findings] == [Action.CONFIRMING]
    assert d.deleted == []


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("inventory", "cloud inventory failed"),
        ("truncated", "page 3 missing"),
        ("services", "listing Services failed"),
        ("empty", "no Services at all"),
    ],
)
def test_fail_safe_refusals_delete_nothing(setup: str, words: str) -> None:
    clock = Clock()
    d = Recorded([res("gone", rid="a")])
    s = sweeper(d, clock, min_age=0)
    s.sweep(lambda: [KUBERNETES])
    clock.now += 1

    def broken() -> list[dict[str, Any]]:
        raise OSError("connection refused")

    listing = {"services": broken, "empty": lambda: []}.get(setup, lambda: [KUBERNETES])
    if setup == "inventory":
        d.broken = OSError("throttled")
    if setup == "truncated":
        d.broken = IncompleteListing("page 3 missing")
    rep = s.sweep(listing)
    assert words in rep.refused and rep.findings == [] and d.deleted == []


def test_failed_delete_is_reported_and_retried_next_sweep() -> None:
    clock = Clock()
    d = Recorded([res("gone", rid="a")], fail="a")
    s = sweeper(d, clock, min_age=0)
    s.sweep(lambda: [KUBERNETES])
    clock.now += 1
    rep = s.sweep(lambda: [KUBERNETES])
    assert [(f.action, f.error) for f in rep.findings] == [(Action.FAILED, "InUse: still attached")]
    d.fail = ""
    clock.now += 1
    assert [f.action for f in s.sweep(lambda: [KUBERNETES]).findings] == [Action.DELETED]


def test_budget_takes_whole_groups_in_delete_order() -> None:
    clock = Clock()
    group = [res("g", ("i",), rid=f"child{i}", kind="x", delete_order=1) for i in range(2)]
    parent = res("g", ("i",), rid="parent", delete_order=0)
    other = [res("h", ("j",), rid="h1")]
    d = Recorded([*group, parent, *other])
    s = sweeper(d, clock, min_age=0, max_deletions=2)
    s.sweep(lambda: [KUBERNETES])
    clock.now += 1
    s.sweep(lambda: [KUBERNETES])
    assert d.deleted == ["parent", "child0"]  # first group over budget: in delete order


def test_legacy_needs_the_flag_and_user_owned_is_never_touched() -> None:
    clock = Clock()
    legacy = res("", rid="clb", managed_by="cloud-provider-aws", owner=ServiceRef("ns", "old", ""))
    named = res("", rid="sg-user", shared=True)
    d = Recorded([legacy, named])
    user = svc("s-u1", "u1", type="ClusterIP", annotations={"user-owned": "sg-user"})
    s = sweeper(d, clock, min_age=0)
    s.sweep(lambda: [KUBERNETES, user])
    clock.now += 1
    rep = s.sweep(lambda: [KUBERNETES, user])
    assert [(f.orphan.reason, f.action) for f in rep.findings] == [
        (Reason.LEGACY, Action.LEGACY_KEPT)
    ]
    assert [why for _, why in rep.spared] == [Spared.USER_OWNED]
    s.config = SweepConfig(min_age=0, delete_legacy=True)
    clock.now += 1
    s.sweep(lambda: [KUBERNETES, user])
    assert d.deleted == ["clb"]


def test_report_mode_never_deletes() -> None:
    clock = Clock()
    d = Recorded([res("gone", rid="a")])
    s = sweeper(d, clock, min_age=0, mode=Mode.REPORT)
    for _ in range(3):
        clock.now += 5
        s.sweep(lambda: [KUBERNETES])
    assert d.deleted == []

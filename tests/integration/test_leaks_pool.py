"""The leak detector with the pool driver, in the running controller, over the sandbox."""

from __future__ import annotations

import json

from kubernetes import client

from ccm.controller import Controller
from ccm.leaks.classify import Reason
from ccm.leaks.loop import EventTarget, attach
from ccm.leaks.sweep import Action, Mode, SweepConfig
from ccm.metrics import sample
from ccm.model import FINALIZER
from ccm.sandbox.server import Sandbox
from tests.integration.harness import Loop, wait_for
from tests.integration.test_loop_pool import finalizers, ingress_ips, lb

TINY = {"metallb.io/address-pool": "tiny"}
TARGET = EventTarget("kube-system", "ccm-test")


def _held(driver: object) -> list[str]:
    return [r.id for r in driver.inventory()]  # type: ignore[attr-defined]


def _clusterip_and_strip(core: client.CoreV1Api, name: str) -> None:
    """One update that both leaves LoadBalancer and drops our finalizer, as a hand edit
    (or another tool) does: the controller sees an object it no longer owns and that asks
    for no cleanup, so only the detector can give the address back."""
    core.patch_namespaced_service(
        name,
        "default",
        {"metadata": {"finalizers": None}, "spec": {"type": "ClusterIP"}},
    )


def _informer_sees_clusterip(ctl: Controller, *names: str) -> None:
    wait_for(
        lambda: all(
            (ctl.services.get(f"default/{n}") or {}).get("spec", {}).get("type") == "ClusterIP"
            for n in names
        ),
        what="the controller's cache to see the edit",
    )


def _leak_events(core: client.CoreV1Api) -> list[tuple[str, str]]:
    raw = json.loads(core.list_namespaced_event("kube-system", _preload_content=False).data)
    return [(e["reason"], e["message"]) for e in raw["items"]]


def test_address_leaked_by_a_hand_edit_is_released_and_reused(
    loop: Loop, core: client.CoreV1Api
) -> None:
    ctl = loop.start()
    leaks = attach(ctl, SweepConfig(min_age=0.0), interval=3600, target=TARGET)
    core.create_namespaced_service("default", lb("first", annotations=TINY))
    wait_for(lambda: ingress_ips(core, "first") == ["198.51.100.7"], what="first gets tiny")
    assert leaks.sweep_now().findings == []  # a live Service's address is wanted

    _clusterip_and_strip(core, "first")
    core.create_namespaced_service("default", lb("second", annotations=TINY))
    wait_for(lambda: "198.51.100.7" in _held(ctl.driver), what="leak visible")
    assert ingress_ips(core, "second") == []  # the pool is exhausted by the leak

    one = leaks.sweep_now()
    assert [(f.orphan.reason, f.action) for f in one.findings] == [
        (Reason.NOT_LOAD_BALANCER, Action.CONFIRMING)
    ]
    assert "198.51.100.7" in _held(ctl.driver)  # one sighting never deletes
    assert (
        sample(
            "ccm_orphaned_resources",
            {"provider": "pool", "kind": "address", "reason": "not-load-balancer"},
        )
        == 1
    )
    before = sample(
        "ccm_leak_deletions_total",
        {"provider": "pool", "kind": "address", "reason": "not-load-balancer", "result": "deleted"},
    )
    two = leaks.sweep_now()
    assert [f.action for f in two.findings] == [Action.DELETED]
    assert (
        sample(
            "ccm_leak_deletions_total",
            {
                "provider": "pool",
                "kind": "address",
                "reason": "not-load-balancer",
                "result": "deleted",
            },
        )
        == before + 1
    )
    wait_for(
        lambda: ingress_ips(core, "second") == ["198.51.100.7"],
        timeout=30,
        what="second gets the released address",
    )
    wait_for(
        lambda: any(
            r == "DeletedOrphanedResource" and "198.51.100.7" in m and "default/first" in m
            for r, m in _leak_events(core)
        ),
        what="a deletion Event in the controller's namespace",
    )
    assert leaks.sweep_now().findings == []


def test_report_mode_and_budget_delete_nothing_beyond_their_limits(
    loop: Loop, core: client.CoreV1Api
) -> None:
    ctl = loop.start()
    names = [f"svc-{i}" for i in range(4)]
    for n in names:
        core.create_namespaced_service("default", lb(n))
    wait_for(lambda: all(ingress_ips(core, n) for n in names), what="four addresses")
    for n in names:
        _clusterip_and_strip(core, n)
    _informer_sees_clusterip(ctl, *names)

    report = attach(ctl, SweepConfig(mode=Mode.REPORT, min_age=0.0), 3600, TARGET)
    for _ in range(3):
        rep = report.sweep_now()
        assert {f.action for f in rep.findings} == {Action.REPORTED}
    assert len(_held(ctl.driver)) == 4

    capped = attach(ctl, SweepConfig(min_age=0.0, max_deletions=3), 3600, TARGET)
    capped.sweep_now()
    rep = capped.sweep_now()
    assert sorted(f.action for f in rep.findings) == [Action.DEFERRED] + [Action.DELETED] * 3
    assert len(_held(ctl.driver)) == 1
    assert [f.action for f in capped.sweep_now().findings] == [Action.DELETED]
    assert _held(ctl.driver) == []


def test_min_age_waits_for_two_sightings_far_enough_apart(
    loop: Loop, core: client.CoreV1Api
) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("aged"))
    wait_for(lambda: ingress_ips(core, "aged"), what="address")
    _clusterip_and_strip(core, "aged")
    _informer_sees_clusterip(ctl, "aged")
    leaks = attach(ctl, SweepConfig(min_age=3600.0), 3600, TARGET)
    for _ in range(3):
        assert [f.action for f in leaks.sweep_now().findings] == [Action.CONFIRMING]
    assert len(_held(ctl.driver)) == 1


def test_unsynced_informer_refuses(loop: Loop, sandbox: Sandbox) -> None:
    ctl = loop.start()
    leaks = attach(ctl, SweepConfig(min_age=0.0), 3600, TARGET)
    ctl.services.synced.clear()  # as before the first list completes
    rep = leaks.sweep_now()
    assert "not synced" in rep.refused and rep.findings == []


def test_background_sweeps_run_on_the_interval(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("bg"))
    wait_for(lambda: ingress_ips(core, "bg"), what="address")
    _clusterip_and_strip(core, "bg")
    leaks = attach(ctl, SweepConfig(min_age=0.0), interval=0.2, target=TARGET)
    leaks.start()
    try:
        wait_for(lambda: _held(ctl.driver) == [], timeout=20, what="background release")
    finally:
        leaks.stop()
    assert FINALIZER not in finalizers(core, "bg")

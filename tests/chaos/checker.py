"""After quiescence: does the cloud hold exactly what the live Services want?

Read from the cloud directly (a driver of the test's own, straight to the emulator) and
from the API server; the controller's word is used only where the cloud is the
controller itself (the pool driver's address book, through its /metrics). Every problem
is one line; an empty list means the run converged:

- orphans: a resource owned by no live Service, or by a live one but built for a spec it
  no longer has (a replacement's leftover: its identity tag differs from the spec's);
- missing / duplicate: exactly one load balancer (AWS) / forwarding rule (GCP) / frontend
  (Azure) / address (pool) per LoadBalancer Service, and its per-port children;
- wrong status: status.loadBalancer.ingress names that resource's DNS name or address;
- wrong shape: kind and scheme in the cloud are what the annotations ask for;
- finalizers: nothing terminating is left, a ClusterIP Service has neither our finalizer
  nor a load-balancer status.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from kubernetes import client

from ccm.driver import Driver, LeakAwareDriver
from ccm.model import FINALIZER, OURS, ClusterInfo, OwnedResource
from tests.chaos.process import CcmProcess
from tests.chaos.profiles import PROFILES, in_pool
from tests.chaos.runner import LB_CLASS, services
from tests.chaos.worlds import World

PRIMARY = {"aws": "load-balancer", "gcp": "forwarding-rule", "azure": "frontend"}


def check(world: World, core: client.CoreV1Api, ccm: CcmProcess | None) -> list[str]:
    """Every problem found, one line each; `ccm` None: no controller to ask (the pool
    driver's checks then cannot run), as in the checker's own tests."""
    svcs = services(core)
    problems = _kube(svcs)
    live = [s for s in svcs if _is_lb(s)]
    view = world.view()
    if view is None:
        if ccm is not None:
            problems += _pool(live, ccm)
    else:
        problems += _cloud(world.driver, view, live, world.cluster)
        problems += world.member_problems(_nodes(core))
    orphaned = ccm.total("ccm_orphaned_resources") if ccm is not None else 0
    if orphaned:
        problems.append(f"the leak detector's last sweep still counts {orphaned:g} orphans")
    return problems


def summary(world: World, core: client.CoreV1Api) -> str:
    """What a clean check looked at, for the operation log."""
    live = [s for s in services(core) if _is_lb(s)]
    view = world.view()
    owned = [r for r in view.inventory() if r.managed_by == OURS] if view is not None else []
    kinds = Counter(r.kind for r in owned)
    return f"{len(live)} LoadBalancer Services; cloud: " + (
        ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing owned"
    )


def _nodes(core: client.CoreV1Api) -> list[dict[str, Any]]:
    resp: Any = core.list_node(_preload_content=False)
    return list(json.loads(resp.data)["items"])


def _is_lb(s: dict[str, Any]) -> bool:
    spec = s["spec"]
    return bool(spec.get("type") == "LoadBalancer" and spec.get("loadBalancerClass") == LB_CLASS)


def _name(s: dict[str, Any]) -> str:
    return str(s["metadata"]["name"])


def _ingress(s: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def _kube(svcs: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for s in svcs:
        finalizers = s["metadata"].get("finalizers") or []
        if s["metadata"].get("deletionTimestamp"):
            out.append(f"{_name(s)}: deleted but still there, finalizers {finalizers}")
        elif not _is_lb(s):
            if FINALIZER in finalizers:
                out.append(f"{_name(s)}: {s['spec'].get('type')} but keeps {FINALIZER}")
            if _ingress(s):
                out.append(f"{_name(s)}: {s['spec'].get('type')} but keeps status {_ingress(s)}")
        elif FINALIZER not in finalizers:
            out.append(f"{_name(s)}: LoadBalancer without {FINALIZER}")
    return out


def _wanted_identity(view: Driver, svc: dict[str, Any], cluster: ClusterInfo) -> tuple[Any, ...]:
    """The identity the Service's current spec wants, as the leak detector computes it;
    a resource of the Service tagged with another one is a replacement's leftover."""
    spec = view.parse(svc, cluster)
    if isinstance(view, LeakAwareDriver):
        return tuple(view.resource_identity(spec))
    return tuple(spec.identity())


def _cloud(
    driver: str, view: Driver, live: Sequence[dict[str, Any]], cluster: ClusterInfo
) -> list[str]:
    """Per-Service resources against the live Services. Shared ones (the Azure LBs, GCP
    instance groups, the AWS backend security group) are not per-Service; a shared
    leftover shows in the leak detector's orphan gauge, which `check` also reads."""
    owned = [r for r in view.inventory() if r.managed_by == OURS]
    by_uid: dict[str, list[OwnedResource]] = defaultdict(list)
    out = []
    wanted = {str(s["metadata"]["uid"]): s for s in live}
    for r in owned:
        if r.shared or r.owner is None:
            continue
        if r.owner.uid not in wanted:
            out.append(
                f"orphan: {r.kind} {r.name or r.id} of gone {r.owner.namespace}/"
                f"{r.owner.name} ({r.owner.uid})"
            )
            continue
        by_uid[r.owner.uid].append(r)
    for uid, svc in wanted.items():
        name = _name(svc)
        mine = by_uid.get(uid, [])
        identity = _wanted_identity(view, svc, cluster)
        current = []
        for r in mine:
            if r.identity and tuple(r.identity) != identity:
                out.append(
                    f"orphan: {name}: {r.kind} {r.name or r.id} built for identity "
                    f"{r.identity}, the Service now wants {identity}"
                )
            else:
                current.append(r)
        out += _shape(driver, svc, current)
    return out


def _children(driver: str, svc: dict[str, Any], expected: dict[str, str]) -> dict[str, int]:
    """How many of each per-Service resource kind a Service of this shape must own."""
    ports = len(svc["spec"].get("ports") or [])
    if driver == "aws":
        return {"load-balancer": 1, "target-group": ports, "security-group": 1}
    if driver == "gcp":
        return {
            "forwarding-rule": 1,
            "backend-service": 1,
            "address": 1,
            "firewall": 1,
        }
    internal = expected["internal"] == "true"
    return {
        "frontend": 1,
        "rule": ports,
        "probe": ports,
        "public-ip": 0 if internal else 1,
        "security-rule": 1,
    }


def _shape(driver: str, svc: dict[str, Any], mine: list[OwnedResource]) -> list[str]:
    name = _name(svc)
    annotations = svc["metadata"].get("annotations") or {}
    expected = PROFILES[driver].expected(annotations)
    out = []
    counts = Counter(r.kind for r in mine)
    for kind, n in _children(driver, svc, expected).items():
        if counts.get(kind, 0) != n:
            what = "missing" if counts.get(kind, 0) < n else "duplicate"
            out.append(f"{what}: {name}: {counts.get(kind, 0)} {kind} (wants {n})")
    primary = [r for r in mine if r.kind == PRIMARY[driver]]
    if len(primary) != 1:
        return out
    lb = primary[0]
    for key, want in expected.items():
        have = str(lb.details.get(key, "")).lower()
        if have != want.lower():
            out.append(
                f"wrong shape: {name}: {lb.kind} {lb.name} has {key}={have}, "
                f"annotations want {want}"
            )
    ingress = _ingress(svc)
    shown = sorted(str(i.get("hostname") or i.get("ip") or "") for i in ingress)
    real = sorted(a for a in lb.addresses if a)
    if driver == "gcp":
        real = [str(lb.details.get("ip", ""))]
    if shown != real:
        out.append(f"wrong status: {name}: ingress {shown}, the {lb.kind} serves {real}")
    return out


def _pool(live: Sequence[dict[str, Any]], ccm: CcmProcess) -> list[str]:
    """The pool driver's cloud is its address book in the controller: addresses must be
    unique, from the annotated pool, one each; the book (owned-resource gauge) must hold
    exactly that many."""
    out = []
    seen: dict[str, str] = {}
    for s in live:
        name = _name(s)
        ips = [str(i.get("ip", "")) for i in _ingress(s)]
        pool = PROFILES["pool"].expected(s["metadata"].get("annotations") or {})["pool"]
        if len(ips) != 1:
            out.append(f"wrong status: {name}: {ips} (wants one address)")
            continue
        if not in_pool(ips[0], pool):
            out.append(f"wrong shape: {name}: {ips[0]} is not in pool {pool or '(any)'}")
        if ips[0] in seen:
            out.append(f"duplicate: {name} and {seen[ips[0]]} both hold {ips[0]}")
        seen[ips[0]] = name
    held = ccm.total("ccm_owned_resources", provider="pool", kind="address")
    if held != len(live):
        out.append(f"orphan/missing: the pool holds {held:g} addresses for {len(live)} Services")
    return out

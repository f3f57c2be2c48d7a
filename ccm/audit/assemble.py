"""Join each cluster's Services with its priced inventory into one `ccm.dev/audit/v1`
document (docs/audit-schema.md).

Attribution follows the leak detector's classification, so the audit and the detector
never disagree: what it calls wanted (or spares because a status still points at it) is
billed to its Service; what it calls orphaned is billed to nobody and listed as such.
"""

from __future__ import annotations

import ipaddress
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from ccm.audit.collect import Snapshot
from ccm.audit.findings import Finding, find
from ccm.leaks.classify import Classification, classify
from ccm.model import (
    JSON,
    READY_CONDITION,
    CostLine,
    InvalidServiceSpec,
    OwnedResource,
    ServiceRef,
)
from ccm.pricing import (
    HOURS_PER_MONTH,
    PriceFileError,
    consolidated_cost,
    exact,
    hourly,
    line,
    monthly,
    resource_costs,
)

SCHEMA = "ccm.dev/audit/v1"
CAPACITY_ANNOTATION = "ccm.dev/capacity-units"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
SHARED_IP_ANNOTATION = "metallb.io/allow-shared-ip"
INTERNET_FACING = "internet-facing"
INTERNAL = "internal"
NO_CONTROLLER = "none"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class AuditOptions:
    capacity_units: float | None = None
    pending_after: float = 300.0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Cluster:
    """One snapshot's rows and orphans, and the figures findings need from its driver."""

    snap: Snapshot
    rows: list[JSON] = field(default_factory=list)
    orphans: list[JSON] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # Service uids given a row


def assemble(
    snapshots: Sequence[Snapshot], options: AuditOptions, warn: TextIO = sys.stderr
) -> JSON:
    clusters = [_price_cluster(s, options, warn) for s in snapshots]
    _unclaimed(clusters, options)
    rows = sorted(
        (r for c in clusters for r in c.rows),
        key=lambda r: (r["cluster"], r["namespace"], r["name"]),
    )
    orphans = sorted(
        (o for c in clusters for o in c.orphans),
        key=lambda o: (o["cluster"], -o["monthly"], o["id"]),
    )
    consolidated = {c.snap.member.cluster_name: _consolidated(c.snap) for c in clusters}
    findings = find(rows, orphans, consolidated, options.pending_after, _leaks_command(clusters))
    return {
        "schema": SCHEMA,
        "generated": options.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "currency": _currency(clusters),
        "hours_per_month": int(HOURS_PER_MONTH),
        "clusters": [_cluster_summary(c) for c in clusters],
        "services": [_public(r) for r in rows],
        "orphans": orphans,
        "findings": [f.as_json() for f in findings],
        "totals": _totals(rows, orphans, findings),
    }


# ---------------------------------------------------------------- per cluster


def _price_cluster(snap: Snapshot, options: AuditOptions, warn: TextIO) -> _Cluster:
    by_uid = {str(s["metadata"].get("uid")): s for s in snap.services}
    by_key = {ServiceRef.of(s).key: s for s in snap.services}
    out = _Cluster(snap)

    def owner_of(r: OwnedResource) -> JSON | None:
        if r.owner is None:
            return None
        if r.owner.uid:
            return by_uid.get(r.owner.uid)
        return by_key.get(r.owner.key)  # legacy controllers tag the name, not the uid

    units = _CapacityUnits(options.capacity_units, owner_of, snap.member.label, warn)
    try:
        costs = resource_costs(snap.driver, snap.owned, snap.prices, units)
    except PriceFileError as e:
        raise PriceFileError(f"{snap.member.label}: prices: {e}") from e
    verdict: Classification = classify(
        snap.owned, snap.services, snap.cluster, snap.driver, snap.owns
    )
    attached: dict[str, list[OwnedResource]] = defaultdict(list)
    for r in verdict.wanted:
        svc = owner_of(r)
        if svc is not None:
            attached[str(svc["metadata"].get("uid"))].append(r)
    for r, why in verdict.spared:
        svc = owner_of(r)
        if svc is not None and not svc["metadata"].get("deletionTimestamp"):
            attached[str(svc["metadata"].get("uid"))].append(r)
        elif costs.get(r.key):
            out.orphans.append(_orphan(snap, r, costs[r.key], str(why), _spared_detail(why)))
    for o in verdict.orphans:
        out.orphans.append(
            _orphan(snap, o.resource, costs.get(o.resource.key, []), o.reason, o.detail)
        )
    for svc in snap.services:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        uid = str(svc["metadata"].get("uid"))
        mine = attached.get(uid, [])
        if not mine and not snap.owns(svc):
            continue  # another controller's class: another fleet member may claim it
        out.claimed.add(uid)
        out.rows.append(_row(snap, svc, mine, costs, options))
    return out


def _row(
    snap: Snapshot,
    svc: JSON,
    resources: list[OwnedResource],
    costs: dict[tuple[str, str, str], list[CostLine]],
    options: AuditOptions,
    controller: str | None = None,
) -> JSON:
    meta = svc["metadata"]
    spec = svc.get("spec") or {}
    addresses = _status_addresses(svc)
    # The billed load balancer first: it names the row's kind and controller.
    resources = sorted(resources, key=lambda r: (not costs.get(r.key), r.delete_order, r.id))
    billed = [r for r in resources if costs.get(r.key)]
    primary = billed[0] if billed else (resources[0] if resources else None)
    lines = [c for r in resources for c in costs.get(r.key, [])]
    if addresses and not resources and snap.prices.flat_rate:
        lines = [
            line(
                snap.prices,
                snap.prices.flat_rate,
                1,
                exact=False,
                note="no resource tagged for this cluster explains this address: flat rate",
            )
        ]
    if controller is None:
        controller = primary.managed_by if primary else (UNKNOWN if addresses else NO_CONTROLLER)
    parsed = _parsed_kind_scheme(snap, svc)
    kind = _kind(primary) if primary else (parsed[0] or UNKNOWN)
    scheme = (
        str(primary.details.get("scheme") or "") if primary is not None else ""
    ) or _scheme_of(addresses, parsed[1])
    ipv4 = sum(c.quantity for c in lines if c.item == "public_ipv4")
    return {
        "cluster": snap.member.cluster_name,
        "provider": snap.member.provider,
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": str(meta.get("uid", "")),
        "kind": kind,
        "scheme": scheme,
        "controller": controller,
        "load_balancer_class": spec.get("loadBalancerClass"),
        "ports": [f"{p.get('protocol', 'TCP')}/{p.get('port')}" for p in spec.get("ports") or []],
        "app_protocols": [str(p.get("appProtocol") or "") for p in spec.get("ports") or []],
        "addresses": addresses,
        "public_ips": int(ipv4) if ipv4 else sum(1 for a in addresses if _is_public_ip(a)),
        "source_ranges": _source_ranges(svc),
        "state": "active" if addresses else "pending",
        "pending_seconds": None if addresses else _age(meta.get("creationTimestamp"), options.now),
        "message": "" if addresses else _ready_message(svc),
        "ready_endpoints": _ready_endpoints(snap.slices, meta.get("namespace"), meta.get("name")),
        "shared_ip_key": str((meta.get("annotations") or {}).get(SHARED_IP_ANNOTATION) or ""),
        "hourly": round(hourly(lines), 6),
        "monthly": monthly(lines),
        "monthly_estimated": monthly([c for c in lines if not c.exact]),
        "exact": exact(lines),
        "lines": [_line(c) for c in lines],
        "resources": [r.id for r in resources],
    }


_INTERNAL_ONLY = ("app_protocols", "shared_ip_key", "monthly_estimated")


def _public(row: JSON) -> JSON:
    """The row as documented: helper fields the findings use stay out of the JSON."""
    return {k: v for k, v in row.items() if k not in _INTERNAL_ONLY}


def _unclaimed(clusters: list[_Cluster], options: AuditOptions) -> None:
    """LoadBalancer Services no fleet member owns: a load balancer nobody here made
    (priced at the flat rate) or one nobody will make (pending forever)."""
    by_place: dict[tuple[str | None, str | None], list[_Cluster]] = defaultdict(list)
    for c in clusters:
        by_place[(c.snap.member.kubeconfig, c.snap.member.context)].append(c)
    for group in by_place.values():
        claimed = set().union(*(c.claimed for c in group))
        first = group[0]
        for svc in first.snap.services:
            uid = str(svc["metadata"].get("uid"))
            if (svc.get("spec") or {}).get("type") == "LoadBalancer" and uid not in claimed:
                row = _row(first.snap, svc, [], {}, options)
                first.rows.append(row)


def _orphan(
    snap: Snapshot, r: OwnedResource, lines: list[CostLine], reason: str, detail: str
) -> JSON:
    age = (datetime.now(UTC) - r.created_at).total_seconds() if r.created_at is not None else None
    return {
        "cluster": snap.member.cluster_name,
        "provider": r.provider,
        "kind": _kind(r),
        "id": r.id,
        "name": r.name or r.id,
        "owner": (
            {"namespace": r.owner.namespace, "name": r.owner.name, "uid": r.owner.uid}
            if r.owner
            else None
        ),
        "controller": r.managed_by,
        "reason": str(reason),
        "deletable": reason not in _SPARED_REASONS,
        "detail": detail,
        "age_seconds": None if age is None else round(max(age, 0.0), 1),
        "hourly": round(hourly(lines), 6),
        "monthly": monthly(lines),
        "exact": exact(lines),
    }


_SPARED_REASONS = {"ccm.dev/keep", "named-in-annotation", "other-cluster", "still-in-status"}


def _spared_detail(why: object) -> str:
    return {
        "ccm.dev/keep": "no Service uses it, but it is tagged ccm.dev/keep=true: kept",
        "named-in-annotation": "a Service's annotation names it as the user's: kept",
        "other-cluster": "tagged for another cluster: kept",
    }.get(str(why), f"kept: {why}")


# ---------------------------------------------------------------- figures


class _CapacityUnits:
    """Capacity units per load balancer: the Service's annotation, else the flag."""

    def __init__(
        self,
        default: float | None,
        owner_of: Callable[[OwnedResource], JSON | None],
        label: str,
        warn: TextIO,
    ) -> None:
        self.default = default
        self.owner_of = owner_of
        self.label = label
        self.warn = warn
        self.warned: set[str] = set()

    def __call__(self, r: OwnedResource) -> float | None:
        svc = self.owner_of(r)
        if svc is None:
            return self.default
        raw = ((svc["metadata"].get("annotations") or {}).get(CAPACITY_ANNOTATION) or "").strip()
        if not raw:
            return self.default
        try:
            value = float(raw)
            if value < 0 or value != value or value == float("inf"):
                raise ValueError
        except ValueError:
            key = ServiceRef.of(svc).key
            if key not in self.warned:
                self.warned.add(key)
                print(
                    f"ccm audit: {self.label}: Service {key}: annotation {CAPACITY_ANNOTATION}: "
                    f"{raw!r} is not a number >= 0; ignored",
                    file=self.warn,
                )
            return self.default
        return value


def _kind(r: OwnedResource) -> str:
    """A driver's display kind (`lb_kind`), else its price key, else the resource kind."""
    return str(r.details.get("lb_kind") or r.details.get("price_key") or r.kind)


def _consolidated(snap: Snapshot) -> Callable[[str], float]:
    def cost(scheme: str) -> float:
        return monthly(consolidated_cost(snap.driver, snap.prices, scheme))

    return cost


def _parsed_kind_scheme(snap: Snapshot, svc: JSON) -> tuple[str, str]:
    if not snap.owns(svc):
        return "", ""
    try:
        spec = snap.driver.parse(svc, snap.cluster)
    except InvalidServiceSpec:
        return "", ""
    return spec.kind, spec.scheme


def _scheme_of(addresses: list[str], parsed: str) -> str:
    if any(_is_public_ip(a) for a in addresses):
        return INTERNET_FACING
    if addresses and all(_is_ip(a) for a in addresses):
        return INTERNAL
    if parsed in (INTERNET_FACING, INTERNAL):
        return parsed
    return {"external": INTERNET_FACING}.get(parsed, parsed or UNKNOWN)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def _status_addresses(svc: JSON) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [
        str(i.get("ip") or i.get("hostname")) for i in ingress if i.get("ip") or i.get("hostname")
    ]


def _source_ranges(svc: JSON) -> list[str]:
    spec = svc.get("spec") or {}
    ranges = [str(r) for r in spec.get("loadBalancerSourceRanges") or []]
    if ranges:
        return ranges
    raw = ((svc.get("metadata") or {}).get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION, "")
    return [r.strip() for r in str(raw).split(",") if r.strip()]


def _ready_endpoints(slices: list[JSON] | None, namespace: Any, name: Any) -> int | None:
    if slices is None:
        return None
    count = 0
    for s in slices:
        meta = s.get("metadata") or {}
        if meta.get("namespace") != namespace:
            continue
        if (meta.get("labels") or {}).get("kubernetes.io/service-name") != name:
            continue
        for ep in s.get("endpoints") or []:
            # An unset "ready" means ready (discovery.k8s.io/v1 EndpointConditions).
            if (ep.get("conditions") or {}).get("ready") is not False:
                count += 1
    return count


def _ready_message(svc: JSON) -> str:
    for c in (svc.get("status") or {}).get("conditions") or []:
        if c.get("type") == READY_CONDITION and c.get("status") != "True":
            return str(c.get("message") or c.get("reason") or "")
    return ""


def _age(timestamp: Any, now: datetime) -> float | None:
    if not timestamp:
        return None
    try:
        born = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round(max((now - born).total_seconds(), 0.0), 1)


def _line(c: CostLine) -> JSON:
    return {
        "item": c.item,
        "description": c.description,
        "quantity": c.quantity,
        "rate": c.rate,
        "hourly": round(c.hourly, 6),
        "exact": c.exact,
        "note": c.note,
    }


# ---------------------------------------------------------------- summaries


def _currency(clusters: Sequence[_Cluster]) -> str:
    currencies = {c.snap.prices.currency for c in clusters}
    if len(currencies) > 1:
        raise PriceFileError(f"price files disagree on currency: {', '.join(sorted(currencies))}")
    return currencies.pop() if currencies else "USD"


def _cluster_summary(c: _Cluster) -> JSON:
    p = c.snap.prices
    rows_monthly = sum(r["monthly"] for r in c.rows)
    orphans = sum(o["monthly"] for o in c.orphans)
    estimated = sum(r["monthly_estimated"] for r in c.rows) + sum(
        o["monthly"] for o in c.orphans if not o["exact"]
    )
    return {
        "context": c.snap.member.context,
        "provider": c.snap.member.provider,
        "cluster": c.snap.member.cluster_name,
        "region": p.region,
        "prices": {"source": p.source, "date": p.date, "file": p.file},
        "services": len(c.rows),
        "load_balancers": sum(1 for r in c.rows if r["resources"] and r["state"] == "active"),
        "pending": sum(1 for r in c.rows if r["state"] == "pending"),
        "monthly": round(rows_monthly + orphans, 2),
        "monthly_estimated": round(estimated, 2),
        "orphans_monthly": round(orphans, 2),
    }


def _totals(rows: list[JSON], orphans: list[JSON], findings: Sequence[Finding]) -> JSON:
    by_ns: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_kind: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        by_ns[(r["cluster"], r["namespace"])].append(r["monthly"])
        by_kind[(r["provider"], r["kind"])].append(r["monthly"])
    for o in orphans:
        by_ns[(o["cluster"], "(orphaned)")].append(o["monthly"])
        by_kind[(o["provider"], "orphaned")].append(o["monthly"])
    total = sum(r["monthly"] for r in rows) + sum(o["monthly"] for o in orphans)
    estimated = sum(r["monthly_estimated"] for r in rows) + sum(
        o["monthly"] for o in orphans if not o["exact"]
    )
    return {
        "hourly": round(sum(r["hourly"] for r in rows) + sum(o["hourly"] for o in orphans), 6),
        "monthly": round(total, 2),
        "monthly_estimated": round(estimated, 2),
        "orphans_monthly": round(sum(o["monthly"] for o in orphans), 2),
        "savings_monthly": round(sum(f.monthly_saving for f in findings), 2),
        "by_namespace": [
            {"cluster": k[0], "namespace": k[1], "services": len(v), "monthly": round(sum(v), 2)}
            for k, v in sorted(by_ns.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        ],
        "by_kind": [
            {"provider": k[0], "kind": k[1], "count": len(v), "monthly": round(sum(v), 2)}
            for k, v in sorted(by_kind.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        ],
    }


def _leaks_command(clusters: Sequence[_Cluster]) -> dict[str, str]:
    out = {}
    for c in clusters:
        m = c.snap.member
        ctx = f" --context {m.context}" if m.context else ""
        out[m.cluster_name] = (
            f"ccm leaks --provider {m.provider} --cluster-name {m.cluster_name}{ctx} --delete"
        )
    return out

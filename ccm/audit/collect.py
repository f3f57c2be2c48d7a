"""Read what the audit prices: per cluster of the fleet its Services, EndpointSlices, the
driver's inventory and the price book.

Every read either succeeds or stops the audit with a message naming the cluster and
what failed: an audit that printed $0 for a cluster it could not reach would be worse
than no audit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ccm.controller import has_finalizer, owns
from ccm.driver import CostAwareDriver, Driver, ObservingDriver
from ccm.kube import Kube
from ccm.model import JSON, ClusterInfo, OwnedResource, PriceBook
from ccm.pricing import PriceFileError, parse_price_file
from ccm.run import build

DEFAULT_CLASS = "ccm.dev/lb"
PER_CLUSTER = (
    "provider",
    "cluster_name",
    "context",
    "kubeconfig",
    "load_balancer_class",
    "provider_config",
)


class AuditError(Exception):
    """The audit cannot give a true figure; the message says which cluster and why."""


@dataclass(frozen=True)
class Member:
    """One cluster of the fleet and the driver that prices it."""

    provider: str
    cluster_name: str
    context: str | None
    kubeconfig: str | None
    load_balancer_class: str
    provider_config: str | None = None

    @property
    def label(self) -> str:
        where = f"context {self.context}" if self.context else "current context"
        return f"cluster {self.cluster_name} ({self.provider}, {where})"


@dataclass
class Snapshot:
    member: Member
    driver: Driver
    cluster: ClusterInfo
    default_class: bool
    services: list[JSON]
    slices: list[JSON] | None  # None: the cluster would not list EndpointSlices
    owned: list[OwnedResource]
    prices: PriceBook

    def owns(self, service: JSON) -> bool:
        return owns(service, self.cluster.load_balancer_class, self.default_class)


def members(args: argparse.Namespace) -> list[Member]:
    """Pair the repeated per-cluster flags by position; a flag given once applies to all."""
    given = {name: list(getattr(args, name) or []) for name in PER_CLUSTER}
    for name in ("provider", "cluster_name"):
        if not given[name]:
            raise AuditError(f"--{name.replace('_', '-')}: required (once, or once per cluster)")
    count = max(len(v) for v in given.values())
    for name, values in given.items():
        if len(values) not in (0, 1, count):
            flag = "--" + name.replace("_", "-")
            raise AuditError(
                f"{flag}: given {len(values)} times for {count} clusters; give a per-cluster "
                "flag once (it applies to every cluster) or once per cluster, in the same order"
            )

    def nth(name: str, i: int, default: str | None = None) -> str | None:
        values = given[name]
        if not values:
            return default
        return str(values[i] if len(values) == count else values[0])

    out = [
        Member(
            provider=str(nth("provider", i)),
            cluster_name=str(nth("cluster_name", i)),
            context=nth("context", i),
            kubeconfig=nth("kubeconfig", i),
            load_balancer_class=str(nth("load_balancer_class", i, DEFAULT_CLASS)),
            provider_config=nth("provider_config", i),
        )
        for i in range(count)
    ]
    seen = {(m.context, m.kubeconfig, m.cluster_name) for m in out}
    if len(seen) != len(out):
        raise AuditError("--cluster-name/--context: the same cluster is listed twice")
    return out


def price_overrides(paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """provider -> (file, text) from `--prices`, told apart by each file's own provider."""
    out: dict[str, tuple[str, str]] = {}
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise AuditError(f"--prices: cannot read {path}: {e.strerror}") from e
        try:
            provider = json.loads(text).get("provider")
        except (json.JSONDecodeError, AttributeError) as e:
            raise AuditError(f"--prices: {path}: not a JSON object: {e}") from e
        if not isinstance(provider, str) or not provider:
            raise AuditError(f"--prices: {path}: provider: a provider name is required")
        if provider in out:
            raise AuditError(f"--prices: two files for provider {provider!r}")
        out[provider] = (path, text)
    return out


def _prices(driver: Driver, override: tuple[str, str] | None) -> PriceBook:
    if override is None:
        return driver.prices()
    file, text = override
    region = driver.price_region if isinstance(driver, CostAwareDriver) else None
    if region is None:
        region = driver.prices().region
    return parse_price_file(text, file=file, provider=driver.name, region=region)


def collect(
    args: argparse.Namespace, fleet: Sequence[Member], progress: TextIO = sys.stderr
) -> list[Snapshot]:
    overrides = price_overrides(args.prices)
    unused = set(overrides) - {m.provider for m in fleet}
    if unused:
        raise AuditError(f"--prices: no cluster uses provider {', '.join(sorted(unused))}")
    out = []
    for i, member in enumerate(fleet, 1):
        print(f"ccm audit: [{i}/{len(fleet)}] reading {member.label}", file=progress, flush=True)
        snap = _snapshot(args, member, overrides.get(member.provider), progress)
        print(
            f"ccm audit: [{i}/{len(fleet)}] {len(snap.services)} Services, "
            f"{len(snap.owned)} cloud resources",
            file=progress,
            flush=True,
        )
        out.append(snap)
    return out


def _snapshot(
    args: argparse.Namespace, member: Member, override: tuple[str, str] | None, progress: TextIO
) -> Snapshot:
    single = argparse.Namespace(**{**vars(args), **member.__dict__})
    kube, driver = _step(member, "set up", lambda: build(single))
    cluster = ClusterInfo(member.cluster_name, member.load_balancer_class)
    try:
        prices = _prices(driver, override)
    except PriceFileError as e:
        raise AuditError(f"{member.label}: prices: {e}") from e
    snap = Snapshot(member, driver, cluster, args.default_class, [], None, [], prices)
    if isinstance(driver, ObservingDriver):
        # Its inventory is rebuilt from the Services' status, so they come first.
        snap.services = _services(member, kube, progress)
        driver.observe([s for s in snap.services if snap.owns(s) or has_finalizer(s)], cluster)
        snap.owned = _step(
            member, "list cloud resources", lambda: list(snap.driver.inventory()), progress
        )
    else:
        # Inventory first, as the leak detector does: a Service created between the two
        # reads is then in the list, so its new load balancer is not taken for an orphan.
        snap.owned = _step(
            member, "list cloud resources", lambda: list(driver.inventory()), progress
        )
        snap.services = _services(member, kube, progress)
    try:
        snap.slices = kube.list_all("endpointslices")[0]
    except Exception as e:  # ready endpoints become unknown, not zero
        print(f"ccm audit: {member.label}: EndpointSlices unreadable: {e}", file=sys.stderr)
    return snap


def _services(member: Member, kube: Kube, progress: TextIO) -> list[JSON]:
    items: list[JSON] = _step(
        member, "list Services", lambda: kube.list_all("services")[0], progress
    )
    return items


def _step(member: Member, what: str, fn: Any, progress: TextIO | None = None) -> Any:
    if progress is not None:
        print(f"ccm audit:   {what} ...", file=progress, flush=True)
    try:
        return fn()
    except (AuditError, SystemExit):
        raise
    except Exception as e:  # any failure here means no true figure
        detail = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise AuditError(f"{member.label}: cannot {what}: {type(e).__name__}: {detail}") from e

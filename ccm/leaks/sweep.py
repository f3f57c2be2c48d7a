"""One leak-detector sweep: fail-safe checks, two sightings, a deletion budget.

The order of reads matters. The cloud inventory is taken first and the Service list
second, so every resource in the inventory whose Service exists finds it in the list: a
Service created between the two reads cannot make its brand-new load balancer look
orphaned. A resource is deleted only after two sightings at least `min_gap` apart, once
it is older than `min_age`, and at most `max_deletions` a sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ccm.driver import DeleteOutcome, Driver, LeakAwareDriver
from ccm.leaks.classify import Classification, Orphan, Owns, Reason, Spared, classify
from ccm.metrics import LEAK_DELETIONS, LEAK_SWEEPS, ORPHANED, OWNED, OWNED_HOURLY_COST
from ccm.model import JSON, ClusterInfo, OwnedResource, PriceBook
from ccm.pricing import PriceFileError, hourly, monthly, resource_costs

log = logging.getLogger(__name__)


class Mode(StrEnum):
    REPORT = "report"
    DELETE = "delete"


class Action(StrEnum):
    """What this sweep did about one orphan."""

    DELETED = "deleted"
    FAILED = "failed"
    REPORTED = "reported"  # report mode
    CONFIRMING = "confirming"  # first sighting, or too young: wait for the next sweep
    DEFERRED = "deferred"  # over this sweep's deletion budget
    LEGACY_KEPT = "legacy-needs-flag"
    UNSUPPORTED = "driver-cannot-delete"


@dataclass(frozen=True)
class SweepConfig:
    mode: Mode = Mode.DELETE
    min_age: float = 300.0  # seconds: sightings this far apart, resources at least this old
    max_deletions: int = 10
    delete_legacy: bool = False
    min_gap: float | None = None  # between the two sightings; None: min_age

    @property
    def gap(self) -> float:
        return self.min_age if self.min_gap is None else self.min_gap


@dataclass(frozen=True)
class Finding:
    orphan: Orphan
    action: Action
    age: float | None  # seconds since created (or first seen)
    monthly_cost: float
    error: str = ""


@dataclass
class SweepReport:
    provider: str
    started: datetime
    refused: str = ""  # non-empty: nothing was deleted, and this is why
    findings: list[Finding] = field(default_factory=list)
    spared: list[tuple[OwnedResource, Spared]] = field(default_factory=list)
    owned: int = 0
    services: int = 0
    seconds: float = 0.0

    @property
    def deleted(self) -> list[Finding]:
        return [f for f in self.findings if f.action is Action.DELETED]

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.action is Action.FAILED]


class SweepRefused(Exception):
    """A precondition for trusting the sweep's view failed; the message says which."""


ListServices = Callable[[], Sequence[JSON]]
OnDeleted = Callable[[Finding], None]


class Sweeper:
    """Keeps the first-sighting memory between sweeps; one per driver."""

    def __init__(
        self,
        driver: Driver,
        cluster: ClusterInfo,
        owns: Owns,
        config: SweepConfig,
        on_deleted: OnDeleted | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.driver = driver
        self.cluster = cluster
        self.owns = owns
        self.config = config
        self.on_deleted = on_deleted
        self.clock = clock
        self._first_seen: dict[tuple[str, str, str], float] = {}
        self._prices: PriceBook | None = None

    def sweep(self, list_services: ListServices) -> SweepReport:
        started = self.clock()
        report = SweepReport(self.driver.name, datetime.fromtimestamp(started, UTC))
        try:
            owned, services = self._views(list_services)
        except SweepRefused as e:
            report.refused = str(e)
            report.seconds = self.clock() - started
            LEAK_SWEEPS.labels(self.driver.name, "refused").inc()
            log.warning("leak sweep (%s): deleting nothing: %s", self.driver.name, e)
            return report
        report.owned, report.services = len(owned), len(services)
        try:
            found = classify(owned, services, self.cluster, self.driver, self.owns)
        except Exception as e:  # a driver hook failed: the view cannot be trusted
            log.exception("leak sweep (%s): classification failed", self.driver.name)
            report.refused = f"classifying the inventory failed: {e!r}"
            LEAK_SWEEPS.labels(self.driver.name, "refused").inc()
            return report
        report.spared = found.spared

        def recheck() -> Classification:
            return classify(owned, list(list_services()), self.cluster, self.driver, self.owns)

        report.findings = self._act(found, started, recheck)
        self._publish(found)
        self._publish_owned(owned)
        report.seconds = self.clock() - started
        LEAK_SWEEPS.labels(self.driver.name, "found" if found.orphans else "clean").inc()
        return report

    # ------------------------------------------------------------ views

    def _views(self, list_services: ListServices) -> tuple[list[OwnedResource], list[JSON]]:
        try:
            owned = list(self.driver.inventory())
        except Exception as e:
            raise SweepRefused(f"cloud inventory failed: {e}") from e
        try:
            services = list(list_services())
        except Exception as e:
            raise SweepRefused(f"listing Services failed: {e}") from e
        if not services and owned:
            # A real API server always has default/kubernetes: an empty list is a wrong
            # context, a broken proxy or an RBAC filter, not a cluster with no Services.
            raise SweepRefused(
                f"the cluster shows no Services at all (not even default/kubernetes) while "
                f"{len(owned)} resources are tagged for {self.cluster.name!r}"
            )
        return owned, services

    # ------------------------------------------------------------ decisions

    def _act(
        self, found: Classification, now: float, recheck: Callable[[], Classification]
    ) -> list[Finding]:
        seen_now = {o.resource.key for o in found.orphans}
        for key in list(self._first_seen):
            if key not in seen_now:
                del self._first_seen[key]  # wanted again, or gone: start over next time
        for key in seen_now:
            self._first_seen.setdefault(key, now)
        decided: list[tuple[Orphan, Action]] = []
        ready: list[Orphan] = []
        for o in found.orphans:
            action = self._gate(o, now)
            if action is None:
                ready.append(o)
            else:
                decided.append((o, action))
        take, over = _budget(ready, self.config.max_deletions)
        decided += [(o, Action.DEFERRED) for o in over]
        take, changed = self._still_unwanted(take, recheck)
        decided += [(o, Action.CONFIRMING) for o in changed]
        results = self._delete(take) if take else {}
        findings = [self._finding(o, a, now) for o, a in decided]
        for o in take:
            error = results.get(o.resource.key, "")
            f = self._finding(o, Action.FAILED if error else Action.DELETED, now, error)
            findings.append(f)
            self._record(f)
        return findings

    def _still_unwanted(
        self, take: list[Orphan], recheck: Callable[[], Classification]
    ) -> tuple[list[Orphan], list[Orphan]]:
        """Judge the orphans about to go against the Services as they are now.

        The inventory scan takes seconds to minutes, and a Service can change under it: a
        load balancer flipped back to the kind it had wants its old public IP again, and
        the reconcile that reuses it may already be running. Deleting on the snapshot
        taken before the scan would pull a resource from under a live Service. Whatever
        the fresh view no longer calls an orphan (for the same reason) starts over."""
        if not take:
            return take, []
        try:
            now_unwanted = {(o.resource.key, o.reason) for o in recheck().orphans}
        except Exception as e:  # no fresh view: delete nothing this sweep
            log.warning(
                "leak sweep (%s): re-checking before deletion failed: %s", self.driver.name, e
            )
            now_unwanted = set()
        keep = [o for o in take if (o.resource.key, o.reason) in now_unwanted]
        changed = [o for o in take if (o.resource.key, o.reason) not in now_unwanted]
        for o in changed:
            self._first_seen.pop(o.resource.key, None)
        return keep, changed

    def _gate(self, o: Orphan, now: float) -> Action | None:
        """None when the orphan may be deleted on this sweep; else why not yet."""
        if self.config.mode is Mode.REPORT:
            return Action.REPORTED
        if o.reason is Reason.LEGACY and not self.config.delete_legacy:
            return Action.LEGACY_KEPT
        if not self._can_delete(o):
            return Action.UNSUPPORTED
        first = self._first_seen[o.resource.key]
        created = o.resource.created_at
        old_enough = created is None or now - created.timestamp() >= self.config.min_age
        if now - first < self.config.gap or now == first or not old_enough:
            return Action.CONFIRMING
        return None

    def _can_delete(self, o: Orphan) -> bool:
        if isinstance(self.driver, LeakAwareDriver):
            return True
        # delete(ref) removes everything a Service owns: right only when all of it is
        # unwanted, which is what "gone" and "not a load balancer" mean.
        return (
            o.reason in (Reason.SERVICE_GONE, Reason.NOT_LOAD_BALANCER)
            and o.resource.owner is not None
        )

    def _delete(self, orphans: list[Orphan]) -> dict[tuple[str, str, str], str]:
        errors: dict[tuple[str, str, str], str] = {}
        if isinstance(self.driver, LeakAwareDriver):
            outcomes: Iterable[DeleteOutcome] = self.driver.delete_resources(
                [o.resource for o in orphans]
            )
            for out in outcomes:
                errors[out.resource.key] = out.error
            for o in orphans:
                errors.setdefault(o.resource.key, "the driver reported no outcome")
            return errors
        for ref in {o.resource.owner for o in orphans if o.resource.owner is not None}:
            try:
                self.driver.delete(ref)
                error = ""
            except Exception as e:
                error = str(e) or type(e).__name__
            for o in orphans:
                if o.resource.owner == ref:
                    errors[o.resource.key] = error
        return errors

    def _finding(self, o: Orphan, action: Action, now: float, error: str = "") -> Finding:
        created = o.resource.created_at
        since = created.timestamp() if created else self._first_seen.get(o.resource.key)
        age = None if since is None else max(0.0, now - since)
        return Finding(o, action, age, self.monthly_cost(o.resource), error)

    def _price_book(self) -> PriceBook:
        if self._prices is None:
            try:
                self._prices = self.driver.prices()
            except Exception as e:
                log.warning("leak sweep: no prices from %s: %s", self.driver.name, e)
                self._prices = PriceBook(self.driver.name, "")
        return self._prices

    def monthly_cost(self, r: OwnedResource) -> float:
        prices = self._price_book()
        if not prices.hourly:
            return 0.0
        try:
            return monthly(resource_costs(self.driver, [r], prices).get(r.key, []))
        except PriceFileError as e:
            log.warning("leak sweep: cannot price %s: %s", r.id, e)
            return 0.0

    # ------------------------------------------------------------ reporting

    def _record(self, f: Finding) -> None:
        r = f.orphan.resource
        result = "failed" if f.error else "deleted"
        LEAK_DELETIONS.labels(r.provider, r.kind, f.orphan.reason.value, result).inc()
        if f.error:
            log.warning(
                "leak sweep: could not delete %s %s (%s: %s): %s",
                r.kind,
                r.name or r.id,
                f.orphan.reason,
                f.orphan.detail,
                f.error,
            )
        else:
            log.info(
                "leak sweep: deleted %s %s (%s: %s)",
                r.kind,
                r.name or r.id,
                f.orphan.reason,
                f.orphan.detail,
            )
        if self.on_deleted is not None:
            self.on_deleted(f)

    def _publish(self, found: Classification) -> None:
        counts: dict[tuple[str, str], int] = {}
        for o in found.orphans:
            k = (o.resource.kind, o.reason.value)
            counts[k] = counts.get(k, 0) + 1
        ORPHANED.clear()
        for (kind, reason), n in counts.items():
            ORPHANED.labels(self.driver.name, kind, reason).set(n)

    def _publish_owned(self, owned: Sequence[OwnedResource]) -> None:
        """What the cluster holds and bills an hour, by kind, from the inventory the sweep
        already took: the cost gauge needs no cloud call of its own."""
        counts: dict[str, int] = {}
        for r in owned:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        costs: dict[str, float] = dict.fromkeys(counts, 0.0)
        prices = self._price_book()
        if prices.hourly:
            try:
                lines = resource_costs(self.driver, list(owned), prices)
            except PriceFileError as e:
                log.warning("leak sweep: cannot price the inventory: %s", e)
                lines = {}
            for r in owned:
                costs[r.kind] += hourly(lines.get(r.key, []))
        OWNED.clear()
        OWNED_HOURLY_COST.clear()
        for kind, n in counts.items():
            OWNED.labels(self.driver.name, kind).set(n)
            OWNED_HOURLY_COST.labels(self.driver.name, kind).set(round(costs[kind], 6))


def _budget(ready: list[Orphan], limit: int) -> tuple[list[Orphan], list[Orphan]]:
    """Whole groups (one Service's load balancer and its children) while they fit, so a
    target group is not taken without the load balancer that still uses it; a first group
    larger than the budget is taken in delete order up to the budget."""
    groups: dict[tuple[object, ...], list[Orphan]] = {}
    for o in ready:
        r = o.resource
        groups.setdefault((r.owner.uid if r.owner else "", r.identity, r.shared), []).append(o)
    take: list[Orphan] = []
    over: list[Orphan] = []
    for members in groups.values():
        members.sort(key=lambda o: o.resource.delete_order)
        room = limit - len(take)
        if len(members) <= room:
            take += members
        elif not take:
            take += members[:room]
            over += members[room:]
        else:
            over += members
    return take, over

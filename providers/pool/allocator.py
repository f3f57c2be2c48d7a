"""The allocation table: which Service holds which address.

The core ensures up to four Services at once, so every read-decide-write happens under one
lock; a decision is computed in full before anything changes, which is what lets a Service
keep its old address when no new one can be found.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ccm.model import RetryableError
from providers.pool.addresses import family_of, parse_ip
from providers.pool.config import Pool, pool_of

ALLOCATION_FAILED = "AllocationFailed"


@dataclass(frozen=True)
class Holder:
    """One Service's claim on one address, with what sharing rules need to know."""

    key: str  # namespace/name
    uid: str
    pool: str
    sharing_key: str | None
    ports: frozenset[tuple[int, str]]
    policy: str = "Cluster"
    selector: tuple[tuple[str, str], ...] = ()
    identity: tuple[Any, ...] = ()

    def is_service(self, key: str, uid: str) -> bool:
        """By UID, so a re-created Service of the same name is a different holder; by key
        only when one side has no UID to compare."""
        if uid and self.uid:
            return uid == self.uid
        return key == self.key


def sharing_conflict(new: Holder, old: Holder) -> str | None:
    """Why two Services may not share an address, or None when they may (MetalLB's rules)."""
    if new.sharing_key is None or old.sharing_key is None:
        return f"not shareable: both need the same {_SHARED} key"
    if new.sharing_key != old.sharing_key:
        return f'{_SHARED} keys differ ("{new.sharing_key}" vs "{old.sharing_key}")'
    overlap = new.ports & old.ports
    if overlap:
        return "ports overlap: " + ", ".join(f"{p}/{proto}" for p, proto in sorted(overlap))
    if new.policy != old.policy:
        return f"externalTrafficPolicy differs ({new.policy} vs {old.policy})"
    if new.policy == "Local" and new.selector != old.selector:
        return "externalTrafficPolicy Local needs both Services to have the same selector"
    return None


_SHARED = "metallb.io/allow-shared-ip"


@dataclass(frozen=True)
class Request:
    """What one Service asks of the table."""

    tenant: Holder  # its facts; `pool` is filled in per address
    namespace: str
    families: tuple[str, ...]
    pool: str | None = None
    requested: tuple[str, ...] = ()
    current: tuple[str, ...] = ()  # what its status shows, kept when still free


@dataclass(frozen=True)
class Step:
    ip: str
    pool: str
    shared_with: tuple[str, ...] = ()
    position: tuple[int, int] | None = None  # where a pool walk found it (for the next walk)


@dataclass(frozen=True)
class Decision:
    ips: tuple[str, ...]  # one per family, in the order the Service listed its families
    keep: tuple[Step, ...]
    allocate: tuple[Step, ...]
    release: tuple[str, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        by_ip = {s.ip: s for s in (*self.keep, *self.allocate)}
        return tuple(by_ip[ip] for ip in self.ips)


class Allocator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: dict[str, list[Holder]] = {}
        # Indexes that keep one ensure O(1) in the number of allocations: the addresses each
        # Service key holds, where the last walk of each (pool, family) stopped, and the
        # addresses freed since (the only free ones behind a walk's position).
        self._owned: dict[str, dict[str, None]] = {}
        self._walked: dict[tuple[str, str], tuple[int, int]] = {}
        self._released: set[str] = set()

    def decide(self, request: Request, pools: Sequence[Pool]) -> Decision:
        """What `assign` would do; raises RetryableError(reason=AllocationFailed)."""
        with self._lock:
            return self._decide(request, pools)

    def assign(self, request: Request, pools: Sequence[Pool]) -> Decision:
        with self._lock:
            decision = self._decide(request, pools)
            self._apply(request.tenant, decision)
            return decision

    def release(self, key: str, uid: str) -> tuple[str, ...]:
        with self._lock:
            held = self._held_by(key, uid)
            for ip in held:
                self._drop(ip, key, uid)
            return held

    def rebuild(self, claims: Iterable[tuple[str, Holder]]) -> list[str]:
        """Replace the table; claims come oldest Service first, so on a conflict the older
        keeps the address. Returns one message per refused claim."""
        table: dict[str, list[Holder]] = {}
        refused: list[str] = []
        for ip, holder in claims:
            holders = table.setdefault(ip, [])
            if _find(holders, holder.key, holder.uid) is not None:
                continue
            reason = next(
                (f"{h.key} keeps it ({r})" for h in holders if (r := sharing_conflict(holder, h))),
                None,
            )
            if reason:
                refused.append(f"{ip} shown by {holder.key} too; {reason}")
            else:
                holders.append(holder)
        with self._lock:
            self._table = {ip: hs for ip, hs in table.items() if hs}
            self._owned = {}
            for ip, hs in self._table.items():
                for h in hs:
                    self._owned.setdefault(h.key, {})[ip] = None
            self._walked = {}
            self._released = set()
        return refused

    def holdings(self) -> list[tuple[str, Holder]]:
        with self._lock:
            return [(ip, h) for ip, hs in self._table.items() for h in hs]

    def _decide(self, request: Request, pools: Sequence[Pool]) -> Decision:
        tenant = request.tenant
        own = list(self._held_by(tenant.key, tenant.uid))
        steps = [self._choose(request, family, pools, own) for family in request.families]
        ips = tuple(s.ip for s in steps)
        return Decision(
            ips=ips,
            keep=tuple(s for s in steps if s.ip in own),
            allocate=tuple(s for s in steps if s.ip not in own),
            release=tuple(ip for ip in own if ip not in ips),
        )

    def _choose(self, request: Request, family: str, pools: Sequence[Pool], own: list[str]) -> Step:
        key = request.tenant.key
        requested = [ip for ip in request.requested if _family(ip) == family]
        if requested:
            ip = requested[0]
            problem = self._unfit(request, ip, pools)
            if problem:
                raise RetryableError(
                    f"cannot give requested {ip} to {key}: {problem}", reason=ALLOCATION_FAILED
                )
            return self._step(request, ip, pools)
        for ip in (*own, *request.current):
            if _family(ip) == family and self._unfit(request, ip, pools) is None:
                return self._step(request, ip, pools)
        candidates = self._candidates(request, pools)
        for pool in candidates:
            step = self._search(request.tenant, pool, family)
            if step is not None:
                return step
        raise RetryableError(_exhausted(request, family, pools, candidates), ALLOCATION_FAILED)

    def _candidates(self, request: Request, pools: Sequence[Pool]) -> list[Pool]:
        if request.pool is None:
            return [p for p in pools if p.auto_assign and p.serves(request.namespace)]
        named = next((p for p in pools if p.name == request.pool), None)
        key = request.tenant.key
        if named is None:
            raise RetryableError(
                f'no available IPs for {key}: pool "{request.pool}" is not configured',
                ALLOCATION_FAILED,
            )
        if not named.serves(request.namespace):
            raise RetryableError(
                f'no available IPs for {key}: pool "{named.name}" does not serve namespace '
                f'"{request.namespace}"',
                ALLOCATION_FAILED,
            )
        return [named]

    def _search(self, tenant: Holder, pool: Pool, family: str) -> Step | None:
        """The first address of the pool this Service may take, in pool order.

        A Service that may share walks the whole pool (the first shareable address wins).
        Any other takes the lowest freed address, else continues the walk where the last
        pick stopped (everything before it is taken), wrapping once to stay exact.
        """
        if tenant.sharing_key is not None:
            return self._first_fit(tenant, pool, pool.walk(family))
        freed = sorted(
            (
                parse_ip(ip)
                for ip in self._released
                if _family(ip) == family and pool.contains(parse_ip(ip))
            ),
        )
        for address in freed:
            ip = str(address)
            if self._conflict(tenant, ip) is None:
                return Step(ip, pool.name, self._sharers(tenant, ip))
        mark = self._walked.get((pool.name, family))
        step = self._first_fit(tenant, pool, pool.walk(family, mark))
        if step is None and mark is not None:
            step = self._first_fit(tenant, pool, pool.walk(family), until=mark)
        return step

    def _first_fit(
        self,
        tenant: Holder,
        pool: Pool,
        walk: Iterable[tuple[tuple[int, int], Any]],
        until: tuple[int, int] | None = None,
    ) -> Step | None:
        for position, address in walk:
            if until is not None and position > until:
                return None
            ip = str(address)
            if self._conflict(tenant, ip) is None:
                return Step(ip, pool.name, self._sharers(tenant, ip), position)
        return None

    def _held_by(self, key: str, uid: str) -> tuple[str, ...]:
        return tuple(
            ip
            for ip in self._owned.get(key, ())
            if _find(self._table.get(ip, ()), key, uid) is not None
        )

    def _unfit(self, request: Request, ip: str, pools: Sequence[Pool]) -> str | None:
        """Why this Service may not have (or keep) this address now, or None."""
        if not pools:
            return "no pools are configured"
        pool = pool_of(parse_ip(ip), pools)
        if pool is None:
            return f"{ip} is not in any pool"
        if request.pool is not None and pool.name != request.pool:
            return f'{ip} is in pool "{pool.name}", not in pool "{request.pool}"'
        if not pool.serves(request.namespace):
            return f'pool "{pool.name}" does not serve namespace "{request.namespace}"'
        return self._conflict(request.tenant, ip)

    def _conflict(self, tenant: Holder, ip: str) -> str | None:
        for holder in self._table.get(ip, ()):
            if holder.is_service(tenant.key, tenant.uid):
                continue
            reason = sharing_conflict(tenant, holder)
            if reason:
                return f"{ip} is held by {holder.key} ({reason})"
        return None

    def _sharers(self, tenant: Holder, ip: str) -> tuple[str, ...]:
        return tuple(
            h.key for h in self._table.get(ip, ()) if not h.is_service(tenant.key, tenant.uid)
        )

    def _step(self, request: Request, ip: str, pools: Sequence[Pool]) -> Step:
        pool = pool_of(parse_ip(ip), pools)
        assert pool is not None  # _unfit said it fits
        return Step(ip, pool.name, self._sharers(request.tenant, ip))

    def _apply(self, tenant: Holder, decision: Decision) -> None:
        for step in decision.steps:
            holder = replace(tenant, pool=step.pool)
            holders = self._table.setdefault(step.ip, [])
            index = _find(holders, tenant.key, tenant.uid)
            if index is None:
                holders.append(holder)
            elif holders[index] != holder:
                holders[index] = holder
            self._owned.setdefault(tenant.key, {})[step.ip] = None
            self._released.discard(step.ip)
            if step.position is not None:
                walked = (step.pool, _family(step.ip))
                self._walked[walked] = max(self._walked.get(walked, step.position), step.position)
        for ip in decision.release:
            self._drop(ip, tenant.key, tenant.uid)

    def _drop(self, ip: str, key: str, uid: str) -> None:
        remaining = [h for h in self._table.get(ip, ()) if not h.is_service(key, uid)]
        if remaining:
            self._table[ip] = remaining
        else:
            if self._table.pop(ip, None) is not None:
                self._released.add(ip)
        if not any(h.key == key for h in remaining):
            owned = self._owned.get(key, {})
            owned.pop(ip, None)
            if not owned:
                self._owned.pop(key, None)


def _find(holders: Sequence[Holder], key: str, uid: str) -> int | None:
    return next((i for i, h in enumerate(holders) if h.is_service(key, uid)), None)


def _family(ip: str) -> str:
    return family_of(parse_ip(ip))


def _exhausted(request: Request, family: str, pools: Sequence[Pool], tried: list[Pool]) -> str:
    key = request.tenant.key
    if not pools:
        return f"no available IPs for {key}: no pools are configured"
    if not tried:
        return (
            f"no available IPs for {key}: no pool with autoAssign serves namespace "
            f'"{request.namespace}"'
        )
    names = ", ".join(f'"{p.name}"' for p in tried)
    where = f"pool {names}" if len(tried) == 1 else f"pools {names}"
    suffix = f" ({family})" if family != "IPv4" or len(request.families) > 1 else ""
    text = f"no available IPs in {where} for {key}{suffix}"
    if not any(family in p.families for p in tried):
        text += f": {'it has no' if len(tried) == 1 else 'none of them has'} {family} addresses"
    return text

"""Checks of a Service against the configured pools, done in `parse` so that a request no
pool can ever satisfy is reported as the user's mistake (a Warning on the field they
wrote) instead of being retried forever as an allocation failure."""

from __future__ import annotations

from collections.abc import Sequence

from ccm.model import InvalidServiceSpec
from providers.pool.addresses import parse_ip
from providers.pool.config import Pool, pool_of
from providers.pool.service import Reading


def check_against_pools(reading: Reading, pools: Sequence[Pool]) -> None:
    spec = reading.spec
    namespace = spec.service.namespace
    serving = [p for p in pools if p.serves(namespace)]
    named: str | None = spec.options.get("pool")
    if named is not None:
        pool = next((p for p in pools if p.name == named), None)
        if pool is None:
            raise InvalidServiceSpec(
                reading.pool_field,
                f'unknown pool "{named}"',
                ", ".join(p.name for p in pools),
            )
        if not pool.serves(namespace):
            raise InvalidServiceSpec(
                reading.pool_field,
                f'pool "{named}" does not serve namespace "{namespace}" '
                f"(it serves {', '.join(pool.namespaces)})",
                ", ".join(p.name for p in serving) or f'no pool serves "{namespace}"',
            )
    for text in spec.options.get("requested_ips") or ():
        _check_requested(reading, text, named, pools, serving)


def _check_requested(
    reading: Reading, text: str, named: str | None, pools: Sequence[Pool], serving: list[Pool]
) -> None:
    ip = parse_ip(text)
    namespace = reading.spec.service.namespace
    field = reading.requested_field
    pool = pool_of(ip, pools)
    if pool is None:
        covering = next((p for p in pools if p.covers(ip)), None)
        problem = (
            f'{ip} is in pool "{covering.name}" but that pool does not hand it out '
            "(avoidBuggyIPs / avoidNetworkAndBroadcast)"
            if covering
            else f"{ip} is not in any pool"
        )
        raise InvalidServiceSpec(field, problem, _describe(serving, named))
    if named is not None and pool.name != named:
        raise InvalidServiceSpec(
            field,
            f'{ip} is in pool "{pool.name}", not in pool "{named}" named by the '
            "metallb.io/address-pool annotation",
            _describe(serving, named),
        )
    if not pool.serves(namespace):
        raise InvalidServiceSpec(
            field,
            f'{ip} is in pool "{pool.name}", which does not serve namespace "{namespace}"',
            _describe(serving, named),
        )


def _describe(serving: list[Pool], named: str | None) -> str:
    chosen = [p for p in serving if named is None or p.name == named]
    return "; ".join(p.describe() for p in chosen) or "no pool serves this namespace"

"""What an AWS load balancer bills an hour, from its inventory record and the price file.

Exact where AWS's model is fixed: the hourly rate per kind, and for an internet-facing
NLB one public IPv4 address per enabled zone. Estimated where AWS decides at run time:
ALB and CLB nodes add public addresses as they scale (at least one per zone is counted),
and capacity units are usage that only the user can supply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ccm.model import CostLine, OwnedResource, PriceBook
from ccm.pricing import line

BILLED_KINDS = ("load-balancer", "classic-load-balancer")
CAPACITY_RATE = {"nlb": "nlcu", "alb": "lcu"}
MIN_ZONES = {"alb": 2, "clb": 1, "nlb": 1}
INTERNET_FACING = "internet-facing"


def cost_lines(
    resources: Sequence[OwnedResource],
    prices: PriceBook,
    capacity_units: Callable[[OwnedResource], float | None],
) -> dict[tuple[str, str, str], list[CostLine]]:
    return {r.key: _lines(r, prices, capacity_units(r)) for r in resources}


def _lines(r: OwnedResource, prices: PriceBook, units: float | None) -> list[CostLine]:
    if r.kind not in BILLED_KINDS:
        return []  # target groups, listeners and security groups are free
    kind = str(r.details.get("price_key") or "nlb")
    out = [line(prices, kind, 1)]
    if r.details.get("scheme") == INTERNET_FACING and kind != "gwlb":
        zones = int(r.details.get("zones") or 0)
        fixed = kind == "nlb" and zones > 0
        out.append(
            line(
                prices,
                "public_ipv4",
                max(zones, MIN_ZONES.get(kind, 1)),
                exact=fixed,
                note="" if fixed else "at least one per zone; AWS adds more as it scales",
            )
        )
    if units:
        rate = CAPACITY_RATE.get(kind)
        if rate:
            out.append(line(prices, rate, units, exact=False, note="capacity units you supplied"))
    return out


def consolidated_cost(prices: PriceBook, scheme: str) -> list[CostLine]:
    """One ALB in two zones, the smallest an Ingress or Gateway controller makes."""
    out = [line(prices, "alb", 1)]
    if scheme == INTERNET_FACING:
        out.append(line(prices, "public_ipv4", 2, exact=False, note="two zones, before scaling"))
    return out

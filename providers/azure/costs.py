"""What the cluster's Azure load balancers bill an hour.

A Standard load balancer bills its first five rules together at one flat rate, then per
rule; the cluster's two LBs are the cluster's own, so each LB's bill is exact and what is
ours to choose is only the split among its Services (equal shares of the flat rate among
the first five rules by name, each further rule at the per-rule rate). A Standard static
public IP bills per hour. Frontends, probes and NSG rules are free; data processed is
usage and left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ccm.model import CostLine, OwnedResource, PriceBook
from ccm.pricing import line

TIER = 5
SPLIT = "an equal share of the load balancer's first-five-rules rate"


def cost_lines(
    resources: Sequence[OwnedResource], prices: PriceBook
) -> dict[tuple[str, str, str], list[CostLine]]:
    out: dict[tuple[str, str, str], list[CostLine]] = {r.key: [] for r in resources}
    by_lb: dict[str, list[OwnedResource]] = defaultdict(list)
    for r in resources:
        if r.kind == "rule":
            by_lb[str(r.details.get("lb", ""))].append(r)
        elif r.kind == "public-ip":
            out[r.key] = [line(prices, "public_ip", 1)]
    for rules in by_lb.values():
        ordered = sorted(rules, key=lambda r: r.name)
        first = ordered[:TIER]
        for r in first:
            out[r.key] = [line(prices, "lb_rules_first5", 1 / len(first), note=SPLIT)]
        for r in ordered[TIER:]:
            out[r.key] = [line(prices, "lb_rule", 1)]
    return out


def consolidated_cost(prices: PriceBook, scheme: str) -> list[CostLine]:
    """An Application Gateway is priced elsewhere; against the shared LB a consolidated
    HTTP entry point costs one more rule and, when public, one public IP."""
    out = [line(prices, "lb_rule", 1, exact=False, note="one more rule on the shared LB")]
    if scheme == "internet-facing":
        out.append(line(prices, "public_ip", 1))
    return out

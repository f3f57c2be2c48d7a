"""What the cluster's GCP load balancers bill an hour, from the inventory and the price file.

GCP bills forwarding rules per project and region: the first five together at one flat
rate, then each further rule. The split of that flat rate among Services is ours to make
(equal shares among the first five, by creation time), and rules outside this cluster
shift the tier, so forwarding-rule figures are estimates. An address in use by a
forwarding rule is billed with the rule; one reserved and unused bills on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from ccm.model import CostLine, OwnedResource, PriceBook
from ccm.pricing import line

TIER = 5
TIER_NOTE = (
    "the project's first five rules in a region share one flat rate; rules outside this "
    "cluster change the split"
)


def cost_lines(
    resources: Sequence[OwnedResource], prices: PriceBook
) -> dict[tuple[str, str, str], list[CostLine]]:
    rules = sorted(
        (r for r in resources if r.kind == "forwarding-rule"),
        key=lambda r: (r.created_at.timestamp() if r.created_at else float("inf"), r.id),
    )
    first = rules[:TIER]
    out: dict[tuple[str, str, str], list[CostLine]] = {r.key: [] for r in resources}
    for r in first:
        share = 1 / len(first)
        out[r.key] = [line(prices, "forwarding_rule_first5", share, exact=False, note=TIER_NOTE)]
    for r in rules[TIER:]:
        out[r.key] = [line(prices, "forwarding_rule", 1, exact=False, note=TIER_NOTE)]
    for r in resources:
        if r.kind == "address":
            unused = (
                r.details.get("status") == "RESERVED"
                and r.details.get("address_type") == "EXTERNAL"
            )
            out[r.key] = [line(prices, "address_unused" if unused else "address_in_use", 1)]
    return out


def consolidated_cost(prices: PriceBook) -> list[CostLine]:
    """One more forwarding rule, for a shared Gateway or Ingress load balancer."""
    return [line(prices, "forwarding_rule_first5", 1, exact=False, note="one shared rule")]

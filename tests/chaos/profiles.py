"""Per driver: which annotations the chaos flips, and what the cloud must then show.

The generator draws annotation values from :data:`PROFILES`; the checker reads back the
same table to decide which kind and scheme a Service's load balancer must have. Values
are only those each driver's README documents as supported (providers/*/README.md), so
every generated Service is valid and must converge: an invalid one would be rejected by
`parse` and never get a status, which is a different property (tested elsewhere).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from providers.aws import annotations as aws_ann
from providers.azure import annotations as azure_ann
from providers.gcp import annotations as gcp_ann
from providers.pool.service import POOL_ANNOTATION

# The pools of tests/integration/harness.py POOLS that the chaos uses ("tiny" has one
# address: two Services asking for it could not both converge, so it is left out).
POOL_RANGES = {
    "public": (ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.99")),
    "internal": (ipaddress.IPv4Address("10.200.0.0"), ipaddress.IPv4Address("10.200.0.255")),
}


@dataclass(frozen=True)
class Profile:
    """The annotation knobs of one driver: key -> values (None: the annotation absent)."""

    driver: str
    knobs: Mapping[str, tuple[str | None, ...]]
    cloud_faults: bool = True  # the pool driver has no cloud API to fault

    def expected(self, annotations: Mapping[str, str]) -> dict[str, str]:
        """What the cloud resource must show for these annotations (checker's view)."""
        if self.driver == "aws":
            kind = "application" if annotations.get(aws_ann.TYPE) == "alb" else "network"
            internal = annotations.get(aws_ann.SCHEME) == "internal"
            return {"type": kind, "scheme": "internal" if internal else "internet-facing"}
        if self.driver == "gcp":
            internal = annotations.get(gcp_ann.LB_TYPE) == "Internal"
            return {"scheme": "internal" if internal else "internet-facing"}
        if self.driver == "azure":
            internal = annotations.get(azure_ann.INTERNAL) == "true"
            return {"internal": str(internal).lower()}
        # No annotation: a new address comes from an auto-assign pool ("public"), but one
        # the Service already holds is kept while it still fits, and with no pool named
        # any configured pool fits (providers/pool/README.md "How addresses are picked",
        # as MetalLB does). So "" = any pool.
        return {"pool": annotations.get(POOL_ANNOTATION) or ""}


PROFILES: dict[str, Profile] = {
    "aws": Profile(
        "aws",
        {
            aws_ann.TYPE: (None, "nlb", "external", "alb"),
            aws_ann.SCHEME: (None, "internet-facing", "internal"),
        },
    ),
    "gcp": Profile("gcp", {gcp_ann.LB_TYPE: (None, "Internal", "External")}),
    "azure": Profile("azure", {azure_ann.INTERNAL: (None, "true", "false")}),
    "pool": Profile("pool", {POOL_ANNOTATION: (None, "public", "internal")}, cloud_faults=False),
}
DRIVERS = tuple(PROFILES)


def in_pool(ip: str, pool: str) -> bool:
    """Whether `ip` is in the named pool ("" = in any of them)."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    ranges = [POOL_RANGES[pool]] if pool else list(POOL_RANGES.values())
    return any(low <= address <= high for low, high in ranges)

"""Prometheus metrics, in one registry the HTTP endpoint and the tests both read.

Names follow Prometheus conventions (`_total` for counters); label values are small,
closed sets (provider, kind, reason, result), never a Service name or an ARN, so the
series count stays bounded however many Services a cluster has.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

ORPHANED = Gauge(
    "ccm_orphaned_resources",
    "Cloud resources tagged for this cluster that no live Service wants, at the last sweep.",
    ["provider", "kind", "reason"],
    registry=REGISTRY,
)
LEAK_DELETIONS = Counter(
    "ccm_leak_deletions",
    "Orphaned cloud resources the leak detector deleted (result=deleted|failed).",
    ["provider", "kind", "reason", "result"],
    registry=REGISTRY,
)
LEAK_SWEEPS = Counter(
    "ccm_leak_sweeps",
    "Leak-detector sweeps by result (clean, found, refused).",
    ["provider", "result"],
    registry=REGISTRY,
)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one series (0 when it has none yet): for tests and the CLI."""
    value = REGISTRY.get_sample_value(name, labels or {})
    return float(value or 0.0)

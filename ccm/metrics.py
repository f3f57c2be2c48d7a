"""Prometheus metrics, in one registry the HTTP endpoint and the tests both read.

Names follow Prometheus conventions (`_total` for counters, `_seconds` for durations);
label values are small, closed sets (provider, kind, operation, reason, result), never a
Service name or an ARN, so the series count stays bounded however many Services a
cluster has. docs/metrics.md describes each one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# ---------------------------------------------------------------- reconcile loop

RECONCILES = Counter(
    "ccm_reconciles",
    "Reconciles by result (created, updated, in-sync, deleted, invalid, failed, error, "
    "conflict, gone, skipped).",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "ccm_reconcile_duration_seconds",
    "Wall time of one reconcile, cloud calls included, by result.",
    ["result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "ccm_workqueue_depth",
    "Service keys waiting in the work queue (ready now; delayed retries not included).",
    registry=REGISTRY,
)
QUEUE_DELAYED = Gauge(
    "ccm_workqueue_delayed",
    "Service keys waiting for a backoff or readiness-poll delay to pass.",
    registry=REGISTRY,
)
QUEUE_RETRIES = Counter(
    "ccm_workqueue_retries",
    "Keys re-queued with backoff after a failed reconcile.",
    registry=REGISTRY,
)

# ---------------------------------------------------------------- cloud API

CLOUD_CALLS = Counter(
    "ccm_cloud_api_calls",
    "Cloud API requests (each attempt, retries included) by provider, operation and "
    "result (ok, throttled, error).",
    ["provider", "operation", "result"],
    registry=REGISTRY,
)
CLOUD_THROTTLES = Counter(
    "ccm_cloud_api_throttles",
    "Cloud API requests the cloud refused with a throttling response.",
    ["provider", "operation"],
    registry=REGISTRY,
)
CLOUD_CALL_SECONDS = Histogram(
    "ccm_cloud_api_call_duration_seconds",
    "Latency of one cloud API request (an attempt, not a whole retried call).",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

# ---------------------------------------------------------------- owned resources, leaks

OWNED = Gauge(
    "ccm_owned_resources",
    "Cloud resources tagged for this cluster at the last leak sweep, by provider and kind "
    "(load-balancer, target-group, address, ...).",
    ["provider", "kind"],
    registry=REGISTRY,
)
OWNED_HOURLY_COST = Gauge(
    "ccm_owned_resources_hourly_cost_usd",
    "What the owned resources of a kind bill an hour at list price, at the last sweep.",
    ["provider", "kind"],
    registry=REGISTRY,
)
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

# ---------------------------------------------------------------- leader election

LEADER = Gauge(
    "ccm_leader",
    "1 while this replica holds the leader Lease (or runs without election), else 0.",
    registry=REGISTRY,
)
LEADER_TRANSITIONS = Counter(
    "ccm_leader_acquisitions",
    "Times this replica acquired the leader Lease.",
    registry=REGISTRY,
)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one series (0 when it has none yet): for tests and the CLI."""
    value = REGISTRY.get_sample_value(name, labels or {})
    return float(value or 0.0)

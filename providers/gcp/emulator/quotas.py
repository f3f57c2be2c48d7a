"""Configurable quotas, so the driver's handling of ``quotaExceeded`` can be tested.

Every quota is unlimited until set. A limit is set per metric and location: a region
(counting the region's zones too), a zone (zonal resources only) or ``"global"``. Usage is
counted over what exists plus what pending operations will create, as GCP reserves quota
when it accepts a request. IN_USE_ADDRESSES counts distinct external IPs in use by
forwarding rules and instances; the other metrics count resources.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from providers.gcp.emulator.errors import quota_exceeded

# metric -> whether its limits are set per region/zone (True) or for the project (False)
METRICS: dict[str, bool] = {
    "FORWARDING_RULES": True,
    "BACKEND_SERVICES": True,
    "HEALTH_CHECKS": True,
    "IN_USE_ADDRESSES": True,
    "STATIC_ADDRESSES": True,
    "INTERNAL_ADDRESSES": True,
    "INSTANCE_GROUPS": True,
    "INSTANCES": True,
    "FIREWALLS": False,
    "NETWORKS": False,
    "SUBNETWORKS": False,
}

_BY_COLLECTION = {
    "forwardingRules": "FORWARDING_RULES",
    "backendServices": "BACKEND_SERVICES",
    "healthChecks": "HEALTH_CHECKS",
    "instanceGroups": "INSTANCE_GROUPS",
    "instances": "INSTANCES",
    "firewalls": "FIREWALLS",
    "networks": "NETWORKS",
    "subnetworks": "SUBNETWORKS",
}


def consumes(path: str, body: Mapping[str, Any]) -> dict[str, set[str]]:
    """The quota units a resource holds, per metric: its own path, or an IP it keeps in use."""
    collection = path.split("/")[-2]
    out: dict[str, set[str]] = {}
    if collection in _BY_COLLECTION:
        out[_BY_COLLECTION[collection]] = {path}
    if collection == "addresses":
        metric = (
            "STATIC_ADDRESSES" if body.get("addressType") != "INTERNAL" else "INTERNAL_ADDRESSES"
        )
        out[metric] = {path}
    external: set[str] = set()
    if collection == "forwardingRules" and body.get("loadBalancingScheme", "EXTERNAL") in (
        "EXTERNAL",
        "EXTERNAL_MANAGED",
    ):
        external.add(str(body.get("IPAddress", "")))
    if collection == "instances":
        for nic in body.get("networkInterfaces", []):
            for config in nic.get("accessConfigs", []):
                if config.get("natIP"):
                    external.add(str(config["natIP"]))
    if external - {""}:
        out["IN_USE_ADDRESSES"] = external - {""}
    return out


class Quotas:
    """Limits by (metric, location), checked before a resource is accepted."""

    def __init__(self, zones: Mapping[str, str], limits: Mapping[tuple[str, str], float] | None):
        self._zone_region = dict(zones)  # zone -> region
        self._limits: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        for (metric, location), limit in (limits or {}).items():
            self.set(metric, location, limit)

    def set(self, metric: str, location: str, limit: float) -> None:
        """Set a limit; ``location`` is a region, a zone, or "global" for project metrics."""
        if metric not in METRICS:
            raise ValueError(f"unknown quota metric {metric!r}; known: {sorted(METRICS)}")
        if not METRICS[metric] and location != "global":
            raise ValueError(f"{metric} is a project-wide quota: its location is 'global'")
        with self._lock:
            self._limits[(metric, location)] = float(limit)

    def _locations(self, path: str) -> tuple[str, ...]:
        """The locations whose limits a resource at `path` counts against."""
        kind, _, where = path.partition("/")
        if kind == "zones":
            zone = where.split("/", 1)[0]
            return (zone, self._zone_region.get(zone, ""))
        if kind == "regions":
            return (where.split("/", 1)[0],)
        return ("global",)

    def check(
        self, path: str, body: Mapping[str, Any], existing: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> None:
        """Raise 403 ``quotaExceeded`` if accepting `body` at `path` goes over a limit."""
        with self._lock:
            limits = dict(self._limits)
        if not limits:
            return
        wanted = consumes(path, body)
        places = self._locations(path)
        held = list(existing)
        for metric, units in wanted.items():
            for location in places:
                limit = limits.get((metric, location))
                if limit is None:
                    continue
                used: set[str] = set()
                for other_path, other in held:
                    if other_path != path and location in self._locations(other_path):
                        used |= consumes(other_path, other).get(metric, set())
                if len(used | units) > limit and not units <= used:
                    raise quota_exceeded(metric, limit, self._where(location))

    def _where(self, location: str) -> str:
        if location == "global":
            return "globally"
        return f"in {'zone' if location in self._zone_region else 'region'} {location}"

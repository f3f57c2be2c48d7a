"""Delete owned GCP resources one by one, in dependency order.

Compute refuses to delete what another resource still uses (resourceInUseByAnotherResource):
a backend service a forwarding rule points at, a health check or instance group a backend
service uses. Deleting in order avoids it; when another writer races us it is retried a few
times, then reported, never forced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from google.api_core import exceptions as gexc
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from ccm.driver import DeleteOutcome
from ccm.model import OwnedResource
from providers.gcp.calls import Compute, is_in_use

log = logging.getLogger(__name__)
IN_USE_ATTEMPTS = 4
IN_USE_WAIT = 2.0


class Cleaner:
    def __init__(self, compute: Compute, region: str, in_use_wait: float = IN_USE_WAIT) -> None:
        self.compute = compute
        self.region = region
        self.in_use_wait = in_use_wait

    def delete(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        out = []
        for r in sorted(resources, key=lambda r: (r.delete_order, r.kind, r.id)):
            try:
                self._delete(r)
            except Exception as e:  # reported per resource; the rest still go
                log.warning("gcp: could not delete %s %s: %s", r.kind, r.id, e)
                out.append(DeleteOutcome(r, str(e) or type(e).__name__))
            else:
                out.append(DeleteOutcome(r))
        return out

    def _delete(self, r: OwnedResource) -> None:
        label, fn, kwargs = self._call_for(r)
        retry = Retrying(
            retry=retry_if_exception(is_in_use),
            wait=wait_fixed(self.in_use_wait),
            stop=stop_after_attempt(IN_USE_ATTEMPTS),
            reraise=True,
        )
        for attempt in retry:
            with attempt:
                try:
                    self.compute.write(label, fn, **kwargs)
                except gexc.NotFound:
                    return

    def _call_for(self, r: OwnedResource) -> tuple[str, Callable[..., Any], dict[str, Any]]:
        c = self.compute.clients
        regional = {"region": self.region}
        if r.kind == "forwarding-rule":
            return (
                "forwardingRules.delete",
                c.forwarding_rules.delete_unary,
                {
                    **regional,
                    "forwarding_rule": r.name,
                },
            )
        if r.kind == "backend-service":
            return (
                "regionBackendServices.delete",
                c.backend_services.delete_unary,
                {
                    **regional,
                    "backend_service": r.name,
                },
            )
        if r.kind == "address":
            return "addresses.delete", c.addresses.delete_unary, {**regional, "address": r.name}
        if r.kind == "health-check":
            return (
                "regionHealthChecks.delete",
                c.health_checks.delete_unary,
                {
                    **regional,
                    "health_check": r.name,
                },
            )
        if r.kind == "firewall":
            return "firewalls.delete", c.firewalls.delete_unary, {"firewall": r.name}
        if r.kind == "instance-group":
            zone = str(r.details.get("zone") or r.id.split("/", 1)[0])
            return (
                "instanceGroups.delete",
                c.instance_groups.delete_unary,
                {
                    "zone": zone,
                    "instance_group": r.name,
                },
            )
        raise ValueError(f"gcp: no delete for kind {r.kind!r}")

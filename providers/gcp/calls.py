"""Every compute call the GCP driver makes goes through here: the clients built once with
one set of client options, a token bucket per family, tenacity retries, operation waits.

Two traps of google-cloud-compute are handled here. An operation client built on its own
defaults to the public endpoint, so a driver pointed at an emulator or a Private Service
Connect endpoint would poll the wrong server: every client, operations included, is built
from the same options. And an operation that ends DONE with only `error.errors` set is
not raised by api_core: `wait` checks it and raises OperationError.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from google.auth.exceptions import TransportError
from google.cloud import compute_v1
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from ccm.cloudcalls import observe
from ccm.ratelimit import RetryPolicy, TokenBucket

THROTTLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
QUOTA_REASONS = frozenset({"quotaExceeded", "QUOTA_EXCEEDED"})
IN_USE_REASONS = frozenset(
    {
        "resourceInUseByAnotherResource",
        "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        "resourceNotReady",
        "RESOURCE_NOT_READY",
    }
)
# Compute's documented default is 20 requests/s per project for most methods; stay well
# under it so a fleet of Services shares the budget with the rest of the project.
DEFAULT_RATES: Mapping[str, tuple[float, float]] = {
    "compute:read": (10.0, 20.0),
    "compute:write": (5.0, 10.0),
}
OPERATION_DEADLINE = 600.0
# Per request. api_core's own retry is switched off on every call (its default for gets
# and lists retries 503s for up to 600 s, outside our budget); the operations `wait`
# returns within about two minutes on real GCP.
CALL_TIMEOUT = 150.0


class OperationError(Exception):
    """An operation that finished DONE with errors: the cloud refused the change."""

    def __init__(self, operation: str, target: str, errors: list[tuple[str, str]]) -> None:
        self.operation = operation
        self.target = target
        self.errors = errors
        text = "; ".join(f"{code}: {message}" for code, message in errors)
        super().__init__(f"operation {operation} on {target} failed: {text}")

    @property
    def codes(self) -> set[str]:
        return {code for code, _ in self.errors}


def reasons(exc: BaseException) -> set[str]:
    """The `reason`s of an api_core error, or the codes of an OperationError."""
    if isinstance(exc, OperationError):
        return exc.codes
    if isinstance(exc, gexc.GoogleAPICallError):
        out = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, Mapping)}
        if exc.reason:
            out.add(str(exc.reason))
        return out - {""}
    return set()


def is_throttle(exc: BaseException) -> bool:
    if isinstance(exc, gexc.TooManyRequests):
        return True
    return isinstance(exc, gexc.Forbidden) and bool(reasons(exc) & THROTTLE_REASONS)


def operation_id(outcome: object) -> str:
    """Compute answers a mutation with an Operation: its id is what support asks for."""
    inner = getattr(outcome, "_extended_operation", None) or outcome
    if isinstance(inner, compute_v1.Operation):
        return str(inner.id or inner.name or "")
    return ""


def is_quota(exc: BaseException) -> bool:
    return bool(reasons(exc) & QUOTA_REASONS)


def is_in_use(exc: BaseException) -> bool:
    return bool(reasons(exc) & IN_USE_REASONS)


def is_retryable(exc: BaseException) -> bool:
    if is_throttle(exc):
        return True
    if isinstance(
        exc,
        gexc.InternalServerError
        | gexc.BadGateway
        | gexc.ServiceUnavailable
        | gexc.GatewayTimeout
        | requests.ConnectionError
        | requests.Timeout
        | TransportError,
    ):
        return True
    return isinstance(exc, gexc.GoogleAPICallError) and (exc.code or 0) >= 500


@dataclass
class Clients:
    forwarding_rules: compute_v1.ForwardingRulesClient
    backend_services: compute_v1.RegionBackendServicesClient
    health_checks: compute_v1.RegionHealthChecksClient
    addresses: compute_v1.AddressesClient
    firewalls: compute_v1.FirewallsClient
    instance_groups: compute_v1.InstanceGroupsClient
    instances: compute_v1.InstancesClient
    regions: compute_v1.RegionsClient
    subnetworks: compute_v1.SubnetworksClient
    region_operations: compute_v1.RegionOperationsClient
    global_operations: compute_v1.GlobalOperationsClient
    zone_operations: compute_v1.ZoneOperationsClient


def make_clients(endpoint: str | None, credentials: Credentials | None) -> Clients:
    """All clients from one set of options, so operation polling goes where the calls go."""
    options = ClientOptions(api_endpoint=endpoint) if endpoint else ClientOptions()

    def build(cls: Any) -> Any:
        return cls(credentials=credentials, client_options=options, transport="rest")

    return Clients(
        forwarding_rules=build(compute_v1.ForwardingRulesClient),
        backend_services=build(compute_v1.RegionBackendServicesClient),
        health_checks=build(compute_v1.RegionHealthChecksClient),
        addresses=build(compute_v1.AddressesClient),
        firewalls=build(compute_v1.FirewallsClient),
        instance_groups=build(compute_v1.InstanceGroupsClient),
        instances=build(compute_v1.InstancesClient),
        regions=build(compute_v1.RegionsClient),
        subnetworks=build(compute_v1.SubnetworksClient),
        region_operations=build(compute_v1.RegionOperationsClient),
        global_operations=build(compute_v1.GlobalOperationsClient),
        zone_operations=build(compute_v1.ZoneOperationsClient),
    )


def _last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class Compute:
    """Calls with rate limiting, retries and counting; `write` waits for the operation."""

    def __init__(
        self,
        clients: Clients,
        project: str,
        rates: Mapping[str, tuple[float, float]] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.clients = clients
        self.project = project
        merged = {**DEFAULT_RATES, **(rates or {})}
        self._buckets = {name: TokenBucket(r, b) for name, (r, b) in merged.items()}
        self.policy = policy or RetryPolicy()
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential_jitter(multiplier=self.policy.initial, max=self.policy.cap),
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.deadline),
            reraise=True,
        )

    def _attempt(self, label: str, kind: str, fn: Callable[[], Any]) -> Any:
        self._buckets[f"compute:{kind}"].acquire()
        with self._lock:
            self.calls[label] += 1
        try:
            return observe("gcp", label, fn, is_throttle, operation_id)
        except gexc.GoogleAPICallError as e:
            if is_throttle(e):
                with self._lock:
                    self.throttled += 1
            raise

    def read(self, label: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        for attempt in self._retrying():
            with attempt:
                return self._attempt(
                    label,
                    "read",
                    lambda: fn(
                        request={"project": self.project, **kwargs},
                        retry=None,
                        timeout=CALL_TIMEOUT,
                    ),
                )
        raise AssertionError("unreachable: tenacity reraises")

    def get_or_none(self, label: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return self.read(label, fn, **kwargs)
        except gexc.NotFound:
            return None

    def list(self, label: str, fn: Callable[..., Any], **kwargs: Any) -> list[Any]:
        """Every item over every page (the SDK's pager), each page a counted call; a
        failure part-way restarts the listing, so a result is never a partial list."""
        for attempt in self._retrying():
            with attempt:
                items: list[Any] = []
                pager = self._attempt(
                    label,
                    "read",
                    lambda: fn(
                        request={"project": self.project, **kwargs},
                        retry=None,
                        timeout=CALL_TIMEOUT,
                    ),
                )
                pages: Iterable[Any] = pager.pages
                for i, page in enumerate(pages):
                    if i:
                        with self._lock:
                            self.calls[label] += 1
                    items.extend(page.items)
                return items
        raise AssertionError("unreachable: tenacity reraises")

    def write(self, label: str, fn: Callable[..., Any], **kwargs: Any) -> compute_v1.Operation:
        """Send the mutation (retried as a whole only while nothing was accepted), then
        wait for its operation to be DONE and raise its errors."""
        op: compute_v1.Operation | None = None
        for attempt in self._retrying():
            with attempt:
                op = self._attempt(
                    label,
                    "write",
                    lambda: fn(
                        request={"project": self.project, **kwargs},
                        retry=None,
                        timeout=CALL_TIMEOUT,
                    ),
                )
        assert op is not None
        return self.wait(op)

    def wait(self, op: compute_v1.Operation) -> compute_v1.Operation:
        deadline = time.monotonic() + OPERATION_DEADLINE
        while op.status != compute_v1.Operation.Status.DONE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation {op.name} not DONE after {OPERATION_DEADLINE}s")
            op = self._poll(op)
        errors = [(e.code, e.message) for e in op.error.errors] if op.error else []
        if errors:
            raise OperationError(op.name, _last(op.target_link), errors)
        return op

    def _poll(self, op: compute_v1.Operation) -> compute_v1.Operation:
        polled: compute_v1.Operation = self._poll_call(op)
        return polled

    def _poll_call(self, op: compute_v1.Operation) -> Any:
        c = self.clients
        if op.zone:
            return self.read(
                "zoneOperations.wait",
                c.zone_operations.wait,
                zone=_last(op.zone),
                operation=op.name,
            )
        if op.region:
            return self.read(
                "regionOperations.wait",
                c.region_operations.wait,
                region=_last(op.region),
                operation=op.name,
            )
        return self.read("globalOperations.wait", c.global_operations.wait, operation=op.name)

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

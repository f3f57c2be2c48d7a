"""Every ARM call the Azure driver makes goes through here: one NetworkManagementClient,
a token bucket per family, tenacity retries (429 honouring Retry-After, 5xx, dropped
connections), and long-running operations waited to a terminal state.

azure-core's own retry policy is switched off (`retry_total=0`) so one policy decides and
every attempt is counted; the bearer-token policy stays as the SDK builds it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.mgmt.network import NetworkManagementClient
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from ccm.cloudcalls import observe
from ccm.ratelimit import RetryPolicy, TokenBucket

DEFAULT_RATES: Mapping[str, tuple[float, float]] = {
    # ARM allows about 12,000 reads and 1,200 writes an hour per subscription and
    # principal; stay well below so a fleet of Services shares the budget.
    "arm:read": (3.0, 20.0),
    "arm:write": (0.3, 10.0),
}
LRO_TIMEOUT = 600.0
BUSY_CODES = frozenset({"AnotherOperationInProgress", "RetryableError", "Canceled"})


def error_code(exc: BaseException) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) if exc.error is not None else None
        return str(code or "")
    return ""


def status_of(exc: BaseException) -> int:
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return int(exc.status_code)
    return 0


def is_throttle(exc: BaseException) -> bool:
    return status_of(exc) == 429


def request_id(outcome: object) -> str:
    """ARM's x-ms-request-id; the SDK exposes response headers only on errors."""
    if isinstance(outcome, HttpResponseError) and outcome.response is not None:
        headers: Any = getattr(outcome.response, "headers", {}) or {}
        return str(headers.get("x-ms-request-id", ""))
    return ""


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return is_throttle(exc) or status_of(exc) >= 500 or error_code(exc) in BUSY_CODES


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, HttpResponseError) or exc.response is None:
        return None
    headers: Any = getattr(exc.response, "headers", {}) or {}
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class Arm:
    """Calls with rate limiting, retries and counting; `lro` waits for the operation."""

    def __init__(
        self,
        client: NetworkManagementClient,
        rates: Mapping[str, tuple[float, float]] | None = None,
        policy: RetryPolicy | None = None,
        polling_interval: float = 2.0,
    ) -> None:
        self.client = client
        merged = {**DEFAULT_RATES, **(rates or {})}
        self._buckets = {name: TokenBucket(r, b) for name, (r, b) in merged.items()}
        self.policy = policy or RetryPolicy()
        self.polling_interval = polling_interval
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()
        self._backoff = wait_exponential_jitter(multiplier=self.policy.initial, max=self.policy.cap)

    def _wait(self, state: RetryCallState) -> float:
        """Azure's Retry-After when it sent one, else jittered exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after(exc)
        return min(hinted, self.policy.cap) if hinted is not None else self._backoff(state)

    def _retrying(self, retry_on: Callable[[BaseException], bool] = is_retryable) -> Retrying:
        return Retrying(
            retry=retry_if_exception(retry_on),
            wait=self._wait,
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.deadline),
            reraise=True,
        )

    def _attempt(self, label: str, kind: str, fn: Callable[[], Any]) -> Any:
        self._buckets[f"arm:{kind}"].acquire()
        with self._lock:
            self.calls[label] += 1
        try:
            return observe("azure", label, fn, is_throttle, request_id)
        except HttpResponseError as e:
            if is_throttle(e):
                with self._lock:
                    self.throttled += 1
            raise

    def read(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for attempt in self._retrying():
            with attempt:
                return self._attempt(label, "read", lambda: fn(*args, **kwargs))
        raise AssertionError("unreachable: tenacity reraises")

    def list(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Every item over every page (the SDK's pager); a failure part-way restarts the
        listing, so a result is never a partial list."""
        for attempt in self._retrying():
            with attempt:
                pager = self._attempt(label, "read", lambda: fn(*args, **kwargs))
                return [item for page in pager.by_page() for item in page]
        raise AssertionError("unreachable: tenacity reraises")

    def lro(
        self,
        label: str,
        fn: Callable[..., Any],
        *args: Any,
        retry_on: Callable[[BaseException], bool] = is_retryable,
        **kwargs: Any,
    ) -> Any:
        """Start a long-running operation and wait for Succeeded; `Failed` raises
        HttpResponseError with Azure's code and message."""
        for attempt in self._retrying(retry_on):
            with attempt:
                poller = self._attempt(
                    label,
                    "write",
                    lambda: fn(*args, polling_interval=self.polling_interval, **kwargs),
                )
                return poller.result(timeout=LRO_TIMEOUT)
        raise AssertionError("unreachable: tenacity reraises")

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())


def make_client(
    credential: TokenCredential,
    subscription: str,
    endpoint: str | None = None,
    ca_bundle: str | None = None,
) -> NetworkManagementClient:
    kwargs: dict[str, Any] = {"retry_total": 0}
    if endpoint:
        kwargs["base_url"] = endpoint
        kwargs["credential_scopes"] = [endpoint.rstrip("/") + "/.default"]
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return NetworkManagementClient(credential, subscription, **kwargs)

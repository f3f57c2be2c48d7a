"""Fault injection: make the sandbox slow or failing on chosen routes, on demand.

Controllers are only proven against an API server that misbehaves the way real ones do
(latency, 409s, 429 throttling with Retry-After, 5xx during upgrades), so tests and the
chaos suite drive these rules through the Python API or `/_sandbox/faults` over HTTP.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from ccm.sandbox.errors import APIError

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class FaultRule:
    path: str = ".*"  # regex searched in the request path (query string excluded)
    method: str = ""  # empty matches every method
    latency: float = 0.0  # seconds added before the request is served
    status: int = 0  # 0 = serve normally (after the latency)
    times: int = -1  # how many requests it applies to; -1 = until cleared
    retry_after: int = 1  # seconds, sent with 429/503

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or self.method.upper() == method) and bool(
            self._pattern.search(path)
        )

    def error(self) -> APIError:
        reason = _REASONS.get(self.status, "InternalError")
        return APIError(
            self.status,
            reason,
            f"injected fault: {self.status} {reason}",
            {"retryAfterSeconds": self.retry_after},
        )


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, **kwargs: Any) -> FaultRule:
        rule = FaultRule(**kwargs)
        if rule.status and rule.status not in _REASONS:
            raise ValueError(f"status: {rule.status} not one of {sorted(_REASONS)}")
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def match(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """Total added latency and the first failing rule for this request, consuming `times`."""
        latency = 0.0
        failing: FaultRule | None = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                latency += rule.latency
                if rule.status and failing is None:
                    failing = rule
                if rule.times > 0:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
        return latency, failing

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "path": r.path,
                    "method": r.method,
                    "latency": r.latency,
                    "status": r.status,
                    "times": r.times,
                }
                for r in self._rules
            ]

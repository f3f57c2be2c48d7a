"""Injected wire faults: throttling, server errors and latency, without a proxy.

The repository's FaultProxy speaks plain HTTP and cannot sit in front of TLS, so the
emulator takes the faults itself: the next ``times`` requests whose ``"METHOD path"``
matches a regex are answered with the status (in ARM's error shape, with
``Retry-After`` when asked) after the latency. That is where a driver meets azure-core's
RetryPolicy, which retries 408/429/500/502/503/504 and anything carrying Retry-After.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

DEFAULT_CODES = {
    408: "RequestTimeout",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class Fault:
    match: str
    status: int  # 0: no error, only the latency
    code: str
    times: int
    retry_after: int | None
    latency: float
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.match)
        if not self.code:
            self.code = DEFAULT_CODES.get(self.status, "InjectedFault")

    @property
    def message(self) -> str:
        return f"Injected fault: HTTP {self.status} {self.code} (matching {self.match!r})."


class Faults:
    """The pending faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, label: str) -> Fault | None:
        """The first fault matching this request, one of its `times` used up."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.pattern.search(label):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

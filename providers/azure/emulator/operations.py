"""Long-running operations: every write answers at once and lands when its operation ends.

Microsoft.Network accepts a PUT or DELETE, answers with an ``Azure-AsyncOperation`` URL
(and a ``Location`` URL for deletes), and applies the change some time later; the SDK's
ARMPolling polls the URL until ``Succeeded`` or ``Failed``. Here an operation moves one
step per poll, so a test decides exactly when a change becomes visible, which makes
"another operation is in progress" and "the controller restarted mid-write"
reproducible. An operation injected to fail ends ``Failed`` with an ARM error and
changes nothing but the resource's ``provisioningState``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from providers.azure.emulator.world import Body


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class FailRule:
    """An injected failure for the next operation whose label matches."""

    match: str
    code: str
    message: str
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.match)


@dataclass
class Operation:
    id: str
    name: str  # what Azure calls it: "PutLoadBalancerOperation"
    label: str  # "<METHOD> <path>" of the request that started it
    kind: str  # the top-level kind it writes: "loadBalancers"
    key: str  # the key of the resource it writes (a child write writes its parent)
    resource_id: str
    location: str
    new: Body | None  # what it stores when it succeeds; None deletes
    steps_left: int
    started: float  # time.monotonic(), for operation_seconds
    subscription: str
    base: str  # "https://host:port" the request came to, for absolute URLs
    api_version: str
    start_time: str = field(default_factory=now)
    status: str = "InProgress"
    end_time: str = ""
    failure: FailRule | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def path(self, collection: str = "operations") -> str:
        """The status path (``operations``) or, for Location polling, ``operationResults``."""
        return (
            f"/subscriptions/{self.subscription}/providers/Microsoft.Network/locations/"
            f"{self.location}/{collection}/{self.id}"
        )

    @property
    def status_url(self) -> str:
        return f"{self.base}{self.path()}?api-version={self.api_version}"

    @property
    def result_url(self) -> str:
        return f"{self.base}{self.path('operationResults')}?api-version={self.api_version}"

    def render(self) -> Body:
        """The operation status body ARMPolling reads (``status``, ``error``)."""
        out: Body = {
            "id": self.path(),
            "name": self.id,
            "status": self.status,
            "startTime": self.start_time,
        }
        if self.end_time:
            out["endTime"] = self.end_time
        if self.status == "Failed" and self.failure is not None:
            out["error"] = {
                "code": self.failure.code,
                "message": self.failure.message,
                "details": [],
            }
        return out

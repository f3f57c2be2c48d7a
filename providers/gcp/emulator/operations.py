"""Compute operations: every mutation answers with one, and its change lands at DONE.

GCP accepts a request, answers with a PENDING operation, and applies the change some time
later; clients poll ``operations.get`` or block in ``operations.wait``. Here the
operation moves one step per ``get`` (PENDING, then RUNNING, then DONE after
``operation_steps`` polls) and ``wait`` finishes it at once, so a test decides exactly
when a resource appears, which makes "the controller restarted mid-create" reproducible.

A failure injected with ``fail_next_operation`` makes the operation end DONE with
``error.errors`` and ``httpErrorStatusCode`` and apply nothing, as GCP's asynchronous
refusals do. ``insert_unary`` plus ``operations.wait`` does not raise for that (only
``ExtendedOperation.result()`` does, from httpErrorStatusCode/httpErrorMessage), so a
driver must read ``error`` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from providers.gcp.emulator.urls import self_link

EMULATOR_USER = "ccm-emulator@{project}.iam.gserviceaccount.com"


@dataclass
class Change:
    """One resource write an operation makes when DONE: a new body, or None to delete;
    instance group membership changes as deltas, so a VM deleted meanwhile stays out."""

    path: str
    body: dict[str, Any] | None
    add_members: tuple[str, ...] = ()
    remove_members: tuple[str, ...] = ()


@dataclass
class FailRule:
    """An injected asynchronous failure for the next operation whose label matches."""

    match: str
    code: str
    message: str
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.match)


@dataclass
class Operation:
    seq: int
    name: str
    scope: str  # where the operation lives: "global", "regions/<r>" or "zones/<z>"
    operation_type: str  # "insert", "delete", "patch", "addInstances", ...
    target_path: str
    target_id: str
    changes: list[Change]
    steps_left: int
    insert_time: str
    status: str = "PENDING"
    progress: int = 0
    start_time: str = ""
    end_time: str = ""
    failure: FailRule | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    http_status: int = 0
    http_message: str = ""

    @property
    def path(self) -> str:
        return f"{self.scope}/operations/{self.name}"

    @property
    def label(self) -> str:
        """What `fail_next_operation` matches: ``"<operationType> <collection>/<name>"``."""
        collection, name = self.target_path.split("/")[-2:]
        return f"{self.operation_type} {collection}/{name}"

    @property
    def done(self) -> bool:
        return self.status == "DONE"

    def render(self, project: str) -> dict[str, Any]:
        """The Operation resource, as compute_v1.Operation parses it."""
        out: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(7_000_000_000_000_000_000 + self.seq),
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": self_link(project, self.target_path),
            "targetId": self.target_id,
            "status": self.status,
            "progress": self.progress,
            "insertTime": self.insert_time,
            "selfLink": self_link(project, self.path),
            "user": EMULATOR_USER.format(project=project),
        }
        if self.start_time:
            out["startTime"] = self.start_time
        if self.end_time:
            out["endTime"] = self.end_time
        if self.scope.startswith("regions/"):
            out["region"] = self_link(project, self.scope)
        elif self.scope.startswith("zones/"):
            out["zone"] = self_link(project, self.scope)
        if self.errors:
            out["error"] = {"errors": [dict(e) for e in self.errors]}
            out["httpErrorStatusCode"] = self.http_status
            out["httpErrorMessage"] = self.http_message
        return out

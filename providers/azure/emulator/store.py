"""The emulator's state: committed resources and running operations, behind one lock.

Every request runs under one re-entrant lock from start to end, so concurrent clients
see a serial order of calls, as ARM linearises writes to one resource. A write is
validated when it arrives and its result is held by its operation until the operation
succeeds; meanwhile what it will store already counts as claimed (addresses, DNS
labels, public IPs in use) and the resource refuses other writes
(AnotherOperationInProgress), as on Azure.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from typing import Any

from providers.azure.emulator.ids import Ref, key, parse
from providers.azure.emulator.kinds import KINDS, Kind, kind_of
from providers.azure.emulator.messages import Request
from providers.azure.emulator.operations import FailRule, Operation, now
from providers.azure.emulator.shapes import type_name
from providers.azure.emulator.world import Body


def child_lists(body: Body) -> list[list[Body]]:
    """The child collections of a stored body: its lists of ``{name, id, properties}``."""
    out: list[list[Body]] = []
    for value in body.get("properties", {}).values():
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and "id" in v and "properties" in v for v in value)
        ):
            out.append(value)
    return out


def set_provisioning_state(body: Body, state: str) -> None:
    body.setdefault("properties", {})["provisioningState"] = state
    for items in child_lists(body):
        for item in items:
            item["properties"]["provisioningState"] = state


class State:
    """All resources of one subscription; the handlers and the test knobs use it."""

    def __init__(
        self,
        subscription: str,
        *,
        operation_steps: int = 2,
        page_size: int = 50,
        operation_seconds: float | None = None,
        retry_after: int = 0,
    ) -> None:
        self.subscription = subscription
        self.operation_steps = operation_steps
        self.page_size = page_size
        self.operation_seconds = operation_seconds
        self.retry_after = retry_after
        self.lock = threading.RLock()
        self._resources: dict[str, dict[str, Body]] = {k.name: {} for k in KINDS}
        self._pending: dict[str, Operation] = {}  # resource key -> its running operation
        self._ops: dict[str, Operation] = {}  # operation id -> operation, never forgotten
        self._fail: list[FailRule] = []

    # ------------------------------------------------------------------ World

    def lookup(self, resource_id: str) -> Body | None:
        ref = parse(resource_id)
        if ref is None or ref.subscription.lower() != self.subscription.lower():
            return None
        kind = kind_of(ref.kind)
        if kind is None:
            return None
        body = self._resources[kind.name].get(key(ref.parent_id))
        if body is None or not ref.child_kind:
            return body
        for item in body.get("properties", {}).get(_collection(kind, ref.child_kind), []):
            if item.get("name", "").lower() == ref.child_name.lower():
                found: Body = item
                return found
        return None

    def committed(self, kind: str) -> list[Body]:
        return list(self._resources[kind].values())

    def claimed(self, kind: str) -> list[Body]:
        pending = [op.new for op in self._pending.values() if op.kind == kind and op.new]
        return [*self._resources[kind].values(), *pending]

    # ------------------------------------------------------------------ Reads

    def stored(self, kind: Kind, resource_key: str) -> Body | None:
        return self._resources[kind.name].get(resource_key)

    def view(self, kind: Kind, body: Body, *, state: str = "") -> Body:
        """A body as GET renders it: back-references added and, while an operation
        runs on it, ``provisioningState`` Updating or Deleting (or `state`)."""
        out = kind.view(self, copy.deepcopy(body))
        running = self._pending.get(key(body["id"]))
        if state:
            set_provisioning_state(out, state)
        elif running is not None:
            set_provisioning_state(out, "Deleting" if running.new is None else "Updating")
        return out

    def resources(self, kind_name: str) -> list[Body]:
        kind = kind_of(kind_name)
        if kind is None:
            raise ValueError(f"unknown kind {kind_name!r}; one of {[k.name for k in KINDS]}")
        with self.lock:
            bodies = sorted(self._resources[kind.name].items())
            return [self.view(kind, body) for _, body in bodies]

    # ------------------------------------------------------------------ Operations

    def busy(self, resource_key: str) -> Operation | None:
        return self._pending.get(resource_key)

    def begin(
        self,
        request: Request,
        kind: Kind,
        resource: Ref,
        location: str,
        new: Body | None,
        name: str,
    ) -> Operation:
        """Start the operation of an accepted write; it stores `new` (or deletes) when it
        succeeds, at once if operation_steps is 0."""
        op = Operation(
            id=str(uuid.uuid4()),
            name=name,
            label=request.label,
            kind=kind.name,
            key=key(resource.parent_id),
            resource_id=resource.parent_id,
            location=location,
            new=new,
            steps_left=self.operation_steps,
            started=time.monotonic(),
            subscription=self.subscription,
            base=request.base,
            api_version=request.api_version or "2024-05-01",
        )
        for rule in self._fail:
            if rule.pattern.search(request.label):
                op.failure = rule
                self._fail.remove(rule)
                break
        self._ops[op.id] = op
        self._pending[op.key] = op
        if op.steps_left <= 0:
            self._finish(op)
        return op

    def operation(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id.lower())

    def poll(self, op: Operation) -> None:
        """One poll of an operation's status: one step closer to its end."""
        if op.done:
            return
        op.steps_left -= 1
        if op.steps_left <= 0:
            self._finish(op)

    def _finish(self, op: Operation) -> None:
        self._pending.pop(op.key, None)
        op.end_time = now()
        bucket = self._resources[op.kind]
        if op.failure is not None:
            op.status = "Failed"
            current = bucket.get(op.key)
            if current is not None:
                set_provisioning_state(current, "Failed")
            return
        op.status = "Succeeded"
        if op.new is None:
            bucket.pop(op.key, None)
        else:
            bucket[op.key] = op.new

    def expire(self) -> None:
        """Finish operations older than operation_seconds (time passing on Azure)."""
        if self.operation_seconds is None:
            return
        deadline = time.monotonic() - self.operation_seconds
        for op in [o for o in self._pending.values() if o.started <= deadline]:
            self._finish(op)

    def settle(self) -> int:
        """Finish every running operation; how many there were."""
        with self.lock:
            running = list(self._pending.values())
            for op in running:
                self._finish(op)
            return len(running)

    def pending(self) -> list[Operation]:
        with self.lock:
            return list(self._pending.values())

    def fail_next_operation(self, match: str, code: str, message: str) -> None:
        with self.lock:
            self._fail.append(FailRule(match, code, message))


def _collection(kind: Kind, name: str) -> str:
    child = kind.child(name)
    return child.name if child is not None else name


def stamp(kind: Kind, body: Body, resource: Ref, etag: str) -> Body:
    """The stored form of a prepared body: identity first, as ARM orders it, and the new
    etag on the resource and on every child (Microsoft.Network gives them the same)."""
    head: dict[str, Any] = {
        "name": resource.name,
        "id": resource.parent_id,
        "etag": etag,
        "type": type_name(kind.name),
    }
    out = {**head, **{k: v for k, v in body.items() if k not in head}}
    for items in child_lists(out):
        for item in items:
            item["etag"] = etag
            item.setdefault("type", type_name(kind.name, item["id"].split("/")[-2]))
    return out

"""Writes to one shared load balancer: serialised, coalesced, guarded by its etag.

Every Service of the cluster lives on one of two load balancers, so many workers want to
change the same ARM resource at once. Each submits an edit (a function over the LB's
JSON); one of them, the writer, reads the LB, applies every edit waiting at that moment,
and sends one PUT with `If-Match`. On 412 (someone else wrote) or
`AnotherOperationInProgress` it re-reads and re-applies. An LB no frontend uses any more
is deleted; a read that every edit leaves unchanged sends nothing.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ccm.model import RetryableError
from providers.azure.calls import Arm, error_code, is_retryable, status_of

log = logging.getLogger(__name__)
JSON = dict[str, Any]
CONFLICT_ATTEMPTS = 6
# How long a writer waits for other edits before it reads and PUTs: a little latency per
# write buys one PUT for a burst of Services instead of one each (ARM's write budget is
# about 1,200 an hour).
LINGER = 0.25
# Read-only fields ARM fills in; they are left out of a PUT and out of comparisons.
READ_ONLY = frozenset({"etag", "id", "type", "provisioningState", "resourceGuid"})
# Back-references ARM adds to children (a frontend's rules, a pool's IP configurations):
# read-only there, while the LB's own lists of the same names are its content.
BACK_REFERENCES = frozenset(
    {
        "loadBalancingRules",
        "inboundNatRules",
        "inboundNatPools",
        "outboundRules",
        "backendIPConfigurations",
        "loadBalancerFrontendIPConfigurations",
    }
)


@dataclass
class Edit:
    apply: Callable[[JSON], None]  # mutates the LB's JSON in place
    done: threading.Event = field(default_factory=threading.Event)
    result: JSON | None = None
    error: BaseException | None = None


def strip(doc: Any) -> Any:
    """The LB document without read-only fields, for PUT bodies and comparisons."""
    if not isinstance(doc, dict):
        return doc
    out = _strip(doc, frozenset())
    props = doc.get("properties")
    if isinstance(props, dict):
        out["properties"] = {
            k: [_strip(c, BACK_REFERENCES) for c in v]
            if isinstance(v, list)
            else _strip(v, frozenset())
            for k, v in props.items()
            if k not in READ_ONLY
        }
    return out


def _strip(doc: Any, also: frozenset[str]) -> Any:
    if isinstance(doc, dict):
        if set(doc) == {"id"}:
            return dict(doc)  # a reference to another resource: its id is the content
        return {k: _strip(v, also) for k, v in doc.items() if k not in READ_ONLY | also}
    if isinstance(doc, list):
        return [_strip(v, also) for v in doc]
    return doc


def _is_conflict(exc: BaseException) -> bool:
    return status_of(exc) == 412 or error_code(exc) in (
        "AnotherOperationInProgress",
        "PreconditionFailed",
    )


class LoadBalancerWriter:
    def __init__(
        self,
        arm: Arm,
        resource_group: str,
        name: str,
        skeleton: Callable[[], JSON],
        linger: float = LINGER,
    ) -> None:
        self.arm = arm
        self.resource_group = resource_group
        self.name = name
        self.skeleton = skeleton  # a new LB's body when none exists yet
        self.linger = linger
        self._cond = threading.Condition()
        self._pending: list[Edit] = []
        self._writing = False
        self.puts = 0  # what coalescing saves shows here (bench)

    def submit(self, apply: Callable[[JSON], None]) -> JSON | None:
        """Apply the edit (with whatever else is waiting); the LB after it, or None when
        the LB is gone because nothing uses it any more."""
        edit = Edit(apply)
        with self._cond:
            self._pending.append(edit)
            while not edit.done.is_set():
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                if self.linger > 0:  # let the other workers' edits join this write
                    self._cond.release()
                    time.sleep(self.linger)
                    self._cond.acquire()
                batch, self._pending = self._pending, []
                self._cond.release()
                try:
                    self._write(batch)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()
        if edit.error is not None:
            raise edit.error
        return edit.result

    def read(self) -> JSON | None:
        try:
            lb = self.arm.read(
                "loadBalancers.get",
                self.arm.client.load_balancers.get,
                self.resource_group,
                self.name,
            )
        except ResourceNotFoundError:
            return None
        out: JSON = lb.as_dict()
        return out

    def _write(self, batch: list[Edit]) -> None:
        try:
            result = self._apply(batch)
        except HttpResponseError as e:
            if len(batch) > 1 and 400 <= status_of(e) < 500:
                # One Service's bad edit must not fail the others folded in with it:
                # each goes again on its own, and only the bad one fails.
                for edit in batch:
                    self._write([edit])
                return
            self._fail(batch, e)
            return
        except BaseException as e:  # every waiting edit learns of it
            self._fail(batch, e)
            return
        for edit in batch:
            edit.result = result
            edit.done.set()

    @staticmethod
    def _fail(batch: list[Edit], error: BaseException) -> None:
        for edit in batch:
            edit.error = error
            edit.done.set()

    def _apply(self, batch: list[Edit]) -> JSON | None:
        for attempt in range(CONFLICT_ATTEMPTS):
            have = self.read()
            lb = copy.deepcopy(have) if have is not None else self.skeleton()
            for edit in batch:
                edit.apply(lb)
            try:
                return self._send(have, lb)
            except HttpResponseError as e:
                if not _is_conflict(e) or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                log.info(
                    "azure: %s changed under us (%s); re-reading", self.name, error_code(e) or 412
                )
        raise RetryableError(f"load balancer {self.name}: too many conflicting writers")

    def _send(self, have: JSON | None, lb: JSON) -> JSON | None:
        frontends = (lb.get("properties") or {}).get("frontendIPConfigurations") or []
        ops = self.arm.client.load_balancers
        if not frontends:
            if have is not None:
                self.arm.lro(
                    "loadBalancers.delete",
                    ops.begin_delete,
                    self.resource_group,
                    self.name,
                    headers={"If-Match": have.get("etag", "*")},
                    retry_on=lambda e: not _is_conflict(e) and _retryable(e),
                )
            return None
        if have is not None and strip(have) == strip(lb):
            return have  # nothing to change: no PUT
        headers = (
            {"If-Match": have["etag"]}
            if have is not None and have.get("etag")
            else {"If-None-Match": "*"}
        )
        self.puts += 1
        result = self.arm.lro(
            "loadBalancers.createOrUpdate",
            ops.begin_create_or_update,
            self.resource_group,
            self.name,
            strip(lb),
            headers=headers,
            retry_on=lambda e: not _is_conflict(e) and _retryable(e),
        )
        out: JSON = result.as_dict()
        return out


def _retryable(exc: BaseException) -> bool:
    return is_retryable(exc)

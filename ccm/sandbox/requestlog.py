"""A bounded, in-memory log of every API request the sandbox served.

Why: some properties are only visible across requests — two controller replicas must
never write the same Service in overlapping time windows, a controller running under
its real RBAC must never be refused. Counters cannot show that; a log of who did what,
when it started and when its response had been written, can.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

DEFAULT_SIZE = 100_000
SETTLE_TIMEOUT = 2.0  # bound on how long a read waits for records about to be appended


@dataclass(frozen=True, slots=True)  # slots: a full log is 100k of these
class RequestRecord:
    """One request. `end_*` is taken after the response (or the watch stream) was written.

    `seq` counts every request since the sandbox started and is never reused, even after
    a clear or once old records fall off the bounded log, so `since=seq` resumes exactly.
    """

    seq: int
    start: float  # time.monotonic()
    end: float  # time.monotonic(), after the last byte was handed to the socket
    start_wall: float  # time.time()
    end_wall: float
    username: str  # "" when unauthenticated, or RBAC is off and the token is unknown
    user_agent: str
    method: str
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    path: str
    query: str
    api_group: str
    namespace: str
    resource: str
    subresource: str
    name: str
    code: int  # HTTP status sent; 0 when the connection broke before a status line
    denied: bool = False  # refused by RBAC (a 403 from an injected fault is not)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def overlaps(self, other: RequestRecord) -> bool:
        """True when the two requests were in flight at the same moment."""
        return self.start < other.end and other.start < self.end


class RequestLog:
    """Thread-safe: handler threads append, tests read copies.

    A record is appended only after its response was written, so a client can hold a
    response whose record is not in the log yet. Handlers therefore call `responded()`
    just before writing the last bytes, and every read first waits for the requests that
    had done so by then: whatever a client has seen the answer to is in what it reads (or
    clears).
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)
        # Denials are kept apart so "no request was ever refused" survives log overflow.
        self._denials: deque[RequestRecord] = deque(maxlen=max(1, min(size, 10_000)))
        self._denied_total = 0
        self._next = 0
        self._tickets = itertools.count()
        self._responded: set[int] = set()
        self._cond = threading.Condition()

    def responded(self) -> int:
        """Note that a response is going out but its record is not appended yet; pass the
        ticket on to `append`."""
        with self._cond:
            ticket = next(self._tickets)
            self._responded.add(ticket)
            return ticket

    def append(self, ticket: int | None = None, **fields: Any) -> RequestRecord:
        with self._cond:
            record = RequestRecord(seq=self._next, **fields)
            self._next += 1
            self._records.append(record)
            if record.denied:
                self._denials.append(record)
                self._denied_total += 1
            if ticket is not None:
                self._responded.discard(ticket)
                self._cond.notify_all()
        return record

    def _settle(self) -> None:
        """Wait (lock held) for the records of responses already written; later ones don't count.

        Only a snapshot is awaited, so a busy writer cannot starve the reader.
        """
        waiting = set(self._responded)
        if waiting:
            self._cond.wait_for(lambda: not waiting & self._responded, timeout=SETTLE_TIMEOUT)

    def records(self, since: int = 0) -> list[RequestRecord]:
        """Records with `seq >= since`, oldest first (by completion)."""
        with self._cond:
            self._settle()
            return [r for r in self._records if r.seq >= since]

    def denials(self) -> list[RequestRecord]:
        with self._cond:
            self._settle()
            return list(self._denials)

    @property
    def denied_total(self) -> int:
        with self._cond:
            self._settle()
            return self._denied_total

    def clear(self) -> None:
        with self._cond:
            self._settle()
            self._records.clear()
            self._denials.clear()
            self._denied_total = 0

"""A keyed work queue with client-go's guarantees, and per-key exponential backoff.

Guarantees the reconcile loop relies on: a key waiting in the queue is there once however
often it is added (duplicates collapse); a key being processed is never handed to a second
worker — if it is added meanwhile, it is queued again when the first worker is done; and
a failing key backs off on its own without slowing the others.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque


class Backoff:
    """Per-key exponential backoff, jittered so failing keys don't retry in lockstep."""

    def __init__(
        self,
        base: float = 5.0,
        cap: float = 300.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._rng = rng or random.Random()

    def next_delay(self, key: str) -> float:
        with self._lock:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            delay: float = min(self.cap, self.base * (2**n))
            return delay * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def failures(self, key: str) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class ShutDown(Exception):
    pass


class WorkQueue:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._shutting_down = False
        self.adds = 0
        self.retries = 0

    def add(self, key: str) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self.adds += 1
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Re-add after this key's next backoff delay; returns the delay."""
        delay = self.backoff.next_delay(key)
        self.retries += 1
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self.backoff.forget(key)

    def get(self, timeout: float | None = None) -> str:
        """Block until a key is ready. After shutdown, raise ShutDown at once: in-flight
        work finishes, queued work is not started (it is rebuilt from the cluster on the
        next start, so nothing is lost)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    raise ShutDown
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                now = time.monotonic()
                waits: list[float] = []
                if deadline is not None:
                    if now >= deadline:
                        raise TimeoutError
                    waits.append(deadline - now)
                if self._delayed:
                    waits.append(self._delayed[0][0] - now)
                self._cond.wait(timeout=max(0.001, min(waits)) if waits else None)

    def _promote_due_locked(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutting_down = True
            self._delayed.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def delayed(self) -> int:
        with self._cond:
            return len(self._delayed)

    def idle(self) -> bool:
        """Nothing ready, nothing in flight (delayed retries may still be waiting)."""
        with self._cond:
            self._promote_due_locked()
            return not self._queue and not self._processing

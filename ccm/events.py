"""Kubernetes Events on Services (and the controller's own Pod), written off the reconcile
path.

Like client-go's recorder, repeats of the same (object, type, reason, message) within ten
minutes bump `count` on the existing Event instead of creating another, and writes happen
on a background thread so a slow API server never delays a reconcile. An Event that
cannot be written is logged and dropped: Events are advice, not state.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ccm.kube import JSON, Kube

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
_DEDUP_WINDOW = 600.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Seen:
    name: str
    count: int
    at: float


class EventRecorder:
    def __init__(self, kube: Kube, component: str = "ccm", instance: str = "") -> None:
        self.kube = kube
        self.component = component
        self.instance = instance or component
        self._queue: queue.Queue[tuple[JSON, str, str, str] | None] = queue.Queue()
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()
        self.written = 0

    def event(self, service: JSON, type_: str, reason: str, message: str) -> None:
        log.debug("event %s %s %s: %s", type_, reason, _ref(service), message)
        self._queue.put((service, type_, reason, message))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued Event was written (or dropped)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(*item)
            except Exception as e:
                log.warning("could not record event on %s: %s", _ref(item[0]) if item else "?", e)
            finally:
                self._queue.task_done()

    def _write(self, service: JSON, type_: str, reason: str, message: str) -> None:
        meta = service.get("metadata") or {}
        ns = str(meta.get("namespace", "default"))
        key = (str(meta.get("uid", "")), type_, reason, message)
        seen = self._seen.get(key)
        now = time.monotonic()
        if seen is not None and now - seen.at < _DEDUP_WINDOW:
            seen.count += 1
            seen.at = now
            self.kube.patch_event(ns, seen.name, {"count": seen.count, "lastTimestamp": _now()})
            self.written += 1
            return
        name = f"{meta.get('name')}.{secrets.token_hex(8)}"
        stamp = _now()
        self.kube.create_event(
            ns,
            {
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "apiVersion": service.get("apiVersion", "v1"),
                    "kind": service.get("kind", "Service"),
                    "namespace": ns,
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": self.component},
                "reportingComponent": self.component,
                "reportingInstance": self.instance,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
        )
        self._seen[key] = _Seen(name, 1, now)
        self.written += 1
        if len(self._seen) > 10000:
            cutoff = now - _DEDUP_WINDOW
            self._seen = {k: v for k, v in self._seen.items() if v.at >= cutoff}


def _ref(service: JSON) -> str:
    meta = service.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"

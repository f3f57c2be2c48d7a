"""List+watch informers over raw JSON, with client-go's recovery rules.

A watch resumes from the last resourceVersion it saw (events or BOOKMARKs), so a dropped
stream loses nothing; a 410 Gone means the server forgot that point, so the informer
relists and diffs the new list against its cache, turning whatever it missed into the
add/update/delete callbacks it would have received. A periodic resync replays every cached
object as an update, which is how the controller corrects drift made outside it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from kubernetes.client.exceptions import ApiException
from tenacity import Retrying, retry_if_not_exception_type, wait_exponential_jitter

from ccm.kube import JSON, Kube

log = logging.getLogger(__name__)

Handler = Callable[[JSON | None, JSON | None], None]  # (old, new); None = absent


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class _Gone(Exception):
    pass


class _Stopped(Exception):
    pass


class Informer:
    def __init__(
        self,
        kube: Kube,
        resource: str,
        handler: Handler,
        resync_period: float = 300.0,
        page_size: int = 500,
        watch_timeout: tuple[int, int] = (300, 600),
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.handler = handler
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self._cache: dict[str, JSON] = {}
        self._lock = threading.Lock()
        self._rv = ""
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._threads: list[threading.Thread] = []
        self.relists = 0
        self.watches = 0

    # ------------------------------------------------------------ reads

    def get(self, key: str) -> JSON | None:
        with self._lock:
            return self._cache.get(key)

    def items(self) -> list[JSON]:
        with self._lock:
            return list(self._cache.values())

    @property
    def resource_version(self) -> str:
        return self._rv

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        run = threading.Thread(target=self._run, name=f"informer-{self.resource}", daemon=True)
        resync = threading.Thread(
            target=self._resync_loop, name=f"resync-{self.resource}", daemon=True
        )
        self._threads = [run, resync]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        for t in self._threads:
            t.join(timeout)

    def _run(self) -> None:
        # Any failure (API error, connection reset, bad JSON) backs off and starts over
        # from the last resourceVersion; the wait ends early when the informer is stopped.
        retry = Retrying(
            wait=wait_exponential_jitter(multiplier=0.2, max=30, jitter=0.5),
            retry=retry_if_not_exception_type(_Stopped),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.warning(
                "%s: list/watch failed (%s); retrying",
                self.resource,
                state.outcome.exception() if state.outcome else "?",
            ),
        )
        while not self._stop.is_set():
            try:
                for attempt in retry:
                    with attempt:
                        if self._stop.is_set():
                            return
                        self._list_and_watch()
            except _Stopped:
                return
            except Exception:
                log.exception("informer %s failed; restarting", self.resource)
                self._stop.wait(1.0)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _list_and_watch(self) -> None:
        if not self._rv:
            self._relist()
        while not self._stop.is_set():
            try:
                self._watch_once()
            except _Gone:
                log.info("%s: resourceVersion %s expired (410); relisting", self.resource, self._rv)
                self._rv = ""
                self._relist()
            except ApiException as e:
                if e.status == 410:
                    self._rv = ""
                    self._relist()
                else:
                    raise
        raise _Stopped

    def _relist(self) -> None:
        items, rv = self.kube.list_all(self.resource, self.page_size)
        self.relists += 1
        fresh = {object_key(o): o for o in items}
        with self._lock:
            old = self._cache
            self._cache = fresh
            self._rv = rv
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None or before["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self._dispatch(before, obj)
        for key, obj in old.items():
            if key not in fresh:
                self._dispatch(obj, None)
        self.synced.set()

    def _watch_once(self) -> None:
        self.watches += 1
        timeout = random.randint(*self.watch_timeout)
        for event in self.kube.watch(self.resource, self._rv, timeout):
            if self._stop.is_set():
                return
            etype = event.get("type")
            obj = event.get("object") or {}
            if etype == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone
                raise ApiException(status=int(obj.get("code") or 500), reason=obj.get("message"))
            rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            if etype == "BOOKMARK":
                self._rv = rv or self._rv
                continue
            key = object_key(obj)
            with self._lock:
                before = self._cache.get(key)
                if etype == "DELETED":
                    self._cache.pop(key, None)
                else:
                    self._cache[key] = obj
                self._rv = rv or self._rv
            self._dispatch(before, None if etype == "DELETED" else obj)

    def _dispatch(self, old: JSON | None, new: JSON | None) -> None:
        try:
            self.handler(old, new)
        except Exception:
            log.exception("%s handler failed", self.resource)

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.resync_period):
            self.resync()

    def resync(self) -> None:
        """Replay every cached object as an update of itself."""
        for obj in self.items():
            if self._stop.is_set():
                return
            self._dispatch(obj, obj)

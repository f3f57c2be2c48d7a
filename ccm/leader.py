"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing.

Written here rather than taken from `kubernetes.leaderelection` because that module
leaves the three things an operator relies on to the caller: it does not stop the work of
a leader that lost its Lease, it never releases the Lease on shutdown (a standby waits a
whole lease duration), and it does not keep `leaseTransitions`. Here:

- the leader renews every `retry_period`; if no renewal succeeds within `renew_deadline`
  of the last one it calls `on_lost`, which in `ccm run` ends the process at once (the
  kubelet restarts it as a standby) — `renew_deadline` < `lease_duration`, so it stops
  before any standby may consider the Lease expired;
- a standby judges expiry by its own clock: a record it has seen unchanged for the
  record's `leaseDurationSeconds` is free, so clock skew between nodes does not matter;
- `release()` writes an empty holder with a 1 s duration, and standbys watch the Lease,
  so a SIGTERM hands over in well under `retry_period` instead of after expiry.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ccm.metrics import LEADER, LEADER_TRANSITIONS

log = logging.getLogger(__name__)

JSON = dict[str, Any]


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    jitter: float = 1.2  # client-go's JitterFactor: standbys retry after 1x to 2.2x retry

    def check(self) -> None:
        if not self.identity:
            raise ValueError("--leader-elect-identity: must not be empty")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election: need 0 < retry period < renew deadline < lease duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        config: LeaseConfig,
        on_started: Callable[[], None],
        on_lost: Callable[[], None],
    ) -> None:
        config.check()
        self.api: Any = client.CoordinationV1Api(api)  # raw JSON in and out, as in kube.py
        self.config = config
        self.on_started = on_started
        self.on_lost = on_lost
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # one Lease write at a time: renew vs release
        self._observed: JSON | None = None  # the Lease spec last read or written
        self._observed_rv = ""
        self._observed_at = 0.0  # monotonic time the spec was last seen to change
        self._renewed_at = 0.0
        self._thread: threading.Thread | None = None
        self._rand = random.Random()

    # ------------------------------------------------------------ public

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def healthy(self) -> bool:
        """For /healthz: the election loop runs and, when leading, renewals keep up."""
        if self._thread is None or not self._thread.is_alive():
            return self._stopping.is_set()
        if self.leading:
            return time.monotonic() - self._renewed_at <= self.config.renew_deadline
        return True

    def wait_leading(self, timeout: float | None = None) -> bool:
        return self._leading.wait(timeout)

    def release(self) -> bool:
        """Give the Lease up (on SIGTERM, after work stopped); True if it was ours."""
        self._stopping.set()
        with self._lock:
            if not self.leading or self._observed is None:
                return False
            spec = {
                **self._observed,
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "renewTime": _micro_time(),
            }
            try:
                self._replace(spec, timeout=self.config.retry_period)
            except (ApiException, OSError) as e:
                log.warning("could not release the leader Lease (it expires anyway): %s", e)
                return False
            finally:
                self._leading.clear()
                LEADER.set(0)
        log.info("released the leader Lease %s/%s", self.config.namespace, self.config.name)
        return True

    # ------------------------------------------------------------ loop

    def _run(self) -> None:
        cfg = self.config
        while not self._stopping.is_set():
            if self._try_acquire_or_renew(timeout=cfg.retry_period):
                break
            self._wait_for_change(cfg.retry_period * (1 + cfg.jitter * self._rand.random()))
        else:
            return
        self._renewed_at = time.monotonic()
        self._leading.set()
        LEADER.set(1)
        LEADER_TRANSITIONS.inc()
        log.info("became leader: Lease %s/%s as %s", cfg.namespace, cfg.name, cfg.identity)
        threading.Thread(target=self.on_started, name="leader-work", daemon=True).start()
        self._renew_loop()

    def _renew_loop(self) -> None:
        cfg = self.config
        while not self._stopping.wait(cfg.retry_period):
            deadline = self._renewed_at + cfg.renew_deadline
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._lose()
                    return
                if self._stopping.is_set():
                    return
                if self._try_acquire_or_renew(timeout=min(cfg.retry_period, remaining)):
                    self._renewed_at = time.monotonic()
                    break
                self._stopping.wait(min(cfg.retry_period / 4, max(0.0, remaining)))

    def _lose(self) -> None:
        self._leading.clear()
        LEADER.set(0)
        log.error(
            "lost the leader Lease %s/%s: no renewal within %gs; stopping all work",
            self.config.namespace,
            self.config.name,
            self.config.renew_deadline,
        )
        self.on_lost()

    # ------------------------------------------------------------ one attempt

    def _try_acquire_or_renew(self, timeout: float) -> bool:
        cfg = self.config
        with self._lock:
            if self._stopping.is_set() and not self.leading:
                return False
            try:
                lease = self._get(timeout)
            except (ApiException, OSError) as e:
                log.info("leader election: reading the Lease failed: %s", _brief(e))
                return False
            now = time.monotonic()
            if lease is None:
                return self._create(timeout)
            spec = dict(lease.get("spec") or {})
            rv = str(lease["metadata"].get("resourceVersion", ""))
            if spec != self._observed:
                self._observed, self._observed_at = spec, now
            self._observed_rv = rv
            holder = spec.get("holderIdentity") or ""
            duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
            if holder and holder != cfg.identity and now < self._observed_at + duration:
                return False  # held by someone else and not expired by our clock
            ours = holder == cfg.identity
            stamp = _micro_time()
            new = {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": int(cfg.lease_duration),
                "acquireTime": spec.get("acquireTime") if ours else stamp,
                "renewTime": stamp,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if ours else 1),
            }
            try:
                self._replace(new, timeout)
            except (ApiException, OSError) as e:
                if not (isinstance(e, ApiException) and e.status == 409):
                    log.info("leader election: updating the Lease failed: %s", _brief(e))
                return False
            if not ours:
                log.info("took over the Lease from %r", holder or "(released)")
            return True

    def _get(self, timeout: float) -> JSON | None:
        try:
            resp = self.api.read_namespaced_lease(
                self.config.name,
                self.config.namespace,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        data: JSON = json.loads(resp.data)
        return data

    def _create(self, timeout: float) -> bool:
        cfg = self.config
        stamp = _micro_time()
        spec = {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": int(cfg.lease_duration),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": spec,
        }
        try:
            resp = self.api.create_namespaced_lease(
                cfg.namespace, body, _preload_content=False, _request_timeout=timeout
            )
        except (ApiException, OSError) as e:
            if not (isinstance(e, ApiException) and e.status == 409):
                log.info("leader election: creating the Lease failed: %s", _brief(e))
            return False
        self._remember(json.loads(resp.data))
        return True

    def _replace(self, spec: JSON, timeout: float) -> None:
        cfg = self.config
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": cfg.name,
                "namespace": cfg.namespace,
                "resourceVersion": self._observed_rv,
            },
            "spec": spec,
        }
        resp = self.api.replace_namespaced_lease(
            cfg.name, cfg.namespace, body, _preload_content=False, _request_timeout=timeout
        )
        self._remember(json.loads(resp.data))

    def _remember(self, lease: JSON) -> None:
        self._observed = dict(lease.get("spec") or {})
        self._observed_rv = str(lease["metadata"].get("resourceVersion", ""))
        self._observed_at = time.monotonic()

    # ------------------------------------------------------------ standby wake-up

    def _wait_for_change(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking as soon as the Lease changes (a release)."""
        cfg = self.config
        deadline = time.monotonic() + seconds
        if not self._observed_rv:
            self._stopping.wait(seconds)
            return
        try:
            resp = self.api.list_namespaced_lease(
                cfg.namespace,
                field_selector=f"metadata.name={cfg.name}",
                watch=True,
                resource_version=self._observed_rv,
                timeout_seconds=max(1, int(seconds)),
                _preload_content=False,
                _request_timeout=(max(0.5, seconds), max(0.5, seconds)),
            )
        except Exception:
            self._stopping.wait(max(0.0, deadline - time.monotonic()))
            return
        changed = False
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                event = json.loads(line) if line else {}
                if event.get("type") in ("MODIFIED", "DELETED", "ADDED"):
                    changed = True
                    break
                if time.monotonic() >= deadline:
                    break
        except Exception:
            pass  # read timeout or dropped watch: fall through to the plain sleep
        finally:
            resp.close()
            resp.release_conn()
        if not changed:  # never spin on a watch that ends at once (410, 403)
            self._stopping.wait(max(0.0, deadline - time.monotonic()))


def _brief(e: BaseException) -> str:
    if isinstance(e, ApiException):
        return f"HTTP {e.status} {e.reason}"
    return f"{type(e).__name__}: {e}"

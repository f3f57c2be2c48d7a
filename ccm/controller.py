"""The reconcile loop every driver plugs into.

Informers feed keys into the work queue; workers reconcile one Service at a time per
key. The order inside a reconcile is the invariant set of DESIGN.md: the finalizer is on
the Service before the driver's first mutating call, bad input stops before the driver,
status is written only when it changed, and the finalizer comes off only after the
driver's delete succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.client.exceptions import ApiException

from ccm.cloudcalls import collect_request_ids
from ccm.driver import ConfigurableDriver, Driver, ObservingDriver
from ccm.events import NORMAL, WARNING, EventRecorder
from ccm.informer import Informer, object_key
from ccm.kube import JSON, Kube
from ccm.metrics import QUEUE_DELAYED, QUEUE_DEPTH, QUEUE_RETRIES, RECONCILE_SECONDS, RECONCILES
from ccm.model import (
    FINALIZER,
    READY_CONDITION,
    ClusterInfo,
    InvalidServiceSpec,
    LoadBalancerSpec,
    Node,
    PermanentError,
    RetryableError,
    ServiceRef,
    node_is_eligible,
)
from ccm.workqueue import Backoff, ShutDown, WorkQueue

log = logging.getLogger(__name__)

# Results logged at debug: a resync of thousands of unchanged Services is not news.
QUIET_RESULTS = frozenset({"in-sync", "gone", "skipped"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ControllerConfig:
    cluster: ClusterInfo
    workers: int = 4
    default_class: bool = False
    resync_period: float = 300.0
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    provider_configmap: tuple[str, str] | None = None  # (namespace, name)
    config_poll_interval: float = 30.0
    ready_poll_interval: float = 5.0


def owns(service: JSON, load_balancer_class: str, default_class: bool) -> bool:
    """Whether this controller should give the Service a load balancer right now."""
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return False
    if (service.get("metadata") or {}).get("deletionTimestamp"):
        return False
    cls = spec.get("loadBalancerClass")
    return cls == load_balancer_class or (cls is None and default_class)


def has_finalizer(service: JSON) -> bool:
    return FINALIZER in ((service.get("metadata") or {}).get("finalizers") or [])


def _node_view(node: JSON | None) -> tuple[bool, Node] | None:
    """What of a Node the load balancers depend on: whether it is eligible, and its
    name, addresses, zone and labels. Heartbeats and conditions change none of it."""
    if node is None:
        return None
    return node_is_eligible(node), Node.from_json(node)


def _ingress_view(status: JSON | None) -> list[tuple[str, str, str]]:
    """Status ingress reduced to what we write, with the API server's ipMode default."""
    out = []
    for ing in ((status or {}).get("ingress")) or []:
        ip = str(ing.get("ip") or "")
        out.append(
            (ip, str(ing.get("hostname") or ""), str(ing.get("ipMode") or ("VIP" if ip else "")))
        )
    return out


class Controller:
    def __init__(
        self,
        kube: Kube,
        driver: Driver,
        config: ControllerConfig,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.kube = kube
        self.driver = driver
        self.config = config
        self.cluster = config.cluster
        self.recorder = recorder or EventRecorder(kube, component="ccm")
        self.queue = WorkQueue(Backoff(config.backoff_base, config.backoff_cap))
        self.services = Informer(kube, "services", self._on_service, config.resync_period)
        self.nodes = Informer(kube, "nodes", self._on_node, config.resync_period)
        self._workers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._node_set: tuple[Node, ...] | None = None
        self._last: dict[str, tuple[LoadBalancerSpec, tuple[Node, ...]]] = {}
        self._invalid: dict[str, str] = {}  # key -> resourceVersion whose spec was invalid
        self._refused: dict[str, str] = {}  # key -> resourceVersion the cloud refused
        # Keys whose next reconcile must call ensure: resync, node or config change, retry,
        # readiness poll. Other events (our own finalizer/status writes echoing back) only
        # re-run ensure when the intent or the node set changed.
        self._must_ensure: set[str] = set()
        self._desired: dict[str, list[tuple[str, str, str]]] = {}  # key -> last desired status
        self._config_data: Mapping[str, str] | None = None
        self._active: set[str] = set()
        self.concurrency_violations = 0
        self.max_parallel = 0
        self.results: Counter[str] = Counter()
        self.ready = threading.Event()

    # ------------------------------------------------------------ ownership

    def owns(self, service: JSON) -> bool:
        return owns(service, self.cluster.load_balancer_class, self.config.default_class)

    def _relevant(self, service: JSON | None) -> bool:
        return service is not None and (self.owns(service) or has_finalizer(service))

    # ------------------------------------------------------------ event handlers

    def _on_service(self, old: JSON | None, new: JSON | None) -> None:
        if self._relevant(new) or self._relevant(old):
            key = object_key(new or old or {})
            if old is new:  # a resync: re-ensure even if nothing changed, to correct drift
                self._force(key)
            self.queue.add(key)
        if new is None and old is not None and has_finalizer(old):
            self._capacity_freed()

    def _capacity_freed(self) -> None:
        """A Service that held resources is gone: pending Services may now fit."""
        for svc in self.services.items():
            if self.owns(svc) and not _ingress_view((svc.get("status") or {}).get("loadBalancer")):
                self._force(object_key(svc))
                self.queue.add(object_key(svc))

    def _on_node(self, old: JSON | None, new: JSON | None) -> None:
        if not self.nodes.synced.is_set():
            return
        if _node_view(old) == _node_view(new):
            return  # a heartbeat or label edit nothing here reads: no rebuild, no re-ensure
        nodes = self._build_eligible_nodes()
        with self._lock:
            changed = self._node_set is not None and nodes != self._node_set
            if changed or self._node_set is None:
                self._node_set = nodes
        if changed:
            log.info("eligible nodes changed (%d now); re-ensuring owned Services", len(nodes))
            self._enqueue_all()

    def _enqueue_all(self) -> None:
        for svc in self.services.items():
            if self._relevant(svc):
                self._force(object_key(svc))
                self.queue.add(object_key(svc))

    def _force(self, key: str) -> None:
        """The next reconcile of key must call the driver even if the spec is unchanged."""
        with self._lock:
            self._must_ensure.add(key)

    def eligible_nodes(self) -> tuple[Node, ...]:
        """The Nodes a load balancer targets, built once per change of the set and shared.

        Every reconcile keeps the tuple it ensured against (`_last`); a fresh build per
        reconcile made memory grow with Services x Nodes (208 KB a Service at 1,000 Nodes
        in bench/loop_bench.py), one shared tuple makes it Services + Nodes.
        """
        with self._lock:
            cached = self._node_set
        return cached if cached is not None else self._build_eligible_nodes()

    def _build_eligible_nodes(self) -> tuple[Node, ...]:
        return tuple(
            sorted(
                (Node.from_json(n) for n in self.nodes.items() if node_is_eligible(n)),
                key=lambda n: n.name,
            )
        )

    def service_snapshot(self) -> list[JSON]:
        """Every Service in the informer cache; refuses before the first full list, when
        an empty cache would make every load balancer look orphaned."""
        if not self.services.synced.is_set():
            raise RuntimeError("the Service informer has not synced yet")
        return self.services.items()

    # ------------------------------------------------------------ lifecycle

    def start(self, wait_synced: float = 60.0) -> None:
        self.sync(wait_synced)
        self.start_workers()

    def sync(self, wait_synced: float = 60.0) -> None:
        """Fill the caches without acting: what a standby replica does, so it can take
        over with warm informers and answer /readyz truthfully."""
        self._load_provider_config()
        self.services.start()
        self.nodes.start()
        if not (self.services.synced.wait(wait_synced) and self.nodes.synced.wait(wait_synced)):
            raise TimeoutError("informers did not sync with the API server")
        nodes = self._build_eligible_nodes()
        with self._lock:
            self._node_set = nodes
        QUEUE_DEPTH.set_function(lambda: len(self.queue))
        QUEUE_DELAYED.set_function(lambda: self.queue.delayed)

    def synced(self) -> bool:
        return self.services.synced.is_set() and self.nodes.synced.is_set()

    def start_workers(self) -> None:
        """Start reconciling (the leader only). Keys queued while a standby are the
        first full pass; the driver observes the current cache first."""
        if isinstance(self.driver, ObservingDriver):
            mine = [s for s in self.services.items() if self._relevant(s)]
            self.driver.observe(mine, self.cluster)
        for i in range(self.config.workers):
            t = threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        if self.config.provider_configmap:
            threading.Thread(target=self._config_loop, name="provider-config", daemon=True).start()
        self.ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work and let in-flight reconciles finish."""
        self._stopping.set()
        self.services.stop()
        self.nodes.stop()
        self.queue.shutdown()
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        self.recorder.flush(timeout=max(0.1, deadline - time.monotonic()))
        self.recorder.stop()

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.3) -> bool:
        """True once the queue stayed empty with nothing in flight for `settle` seconds."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.queue.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------ provider config

    def _read_provider_config(self) -> Mapping[str, str] | None:
        assert self.config.provider_configmap is not None
        ns, name = self.config.provider_configmap
        cm = self.kube.get_config_map(ns, name)
        if cm is None:
            return None
        return dict(cm.get("data") or {})

    def _load_provider_config(self) -> None:
        if not self.config.provider_configmap or not isinstance(self.driver, ConfigurableDriver):
            return
        data = self._read_provider_config()
        if data is None:
            log.warning(
                "provider ConfigMap %s/%s not found; using the file/default config",
                *self.config.provider_configmap,
            )
            return
        self.driver.configure(data)
        self._config_data = data

    def _config_loop(self) -> None:
        """Re-read the provider ConfigMap; a change re-ensures every owned Service."""
        interval = min(self.config.config_poll_interval, self.config.resync_period)
        while not self._stopping.wait(interval):
            try:
                data = self._read_provider_config()
                if data is None or data == self._config_data:
                    continue
                assert isinstance(self.driver, ConfigurableDriver)
                self.driver.configure(data)
                self._config_data = data
                log.info("provider configuration changed; re-ensuring owned Services")
                self._enqueue_all()
            except Exception as e:
                log.warning("provider ConfigMap rejected, keeping the previous one: %s", e)

    # ------------------------------------------------------------ workers

    def _worker(self) -> None:
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            with self._lock:
                if key in self._active:
                    self.concurrency_violations += 1
                self._active.add(key)
                self.max_parallel = max(self.max_parallel, len(self._active))
            try:
                self._process(key)
            finally:
                with self._lock:
                    self._active.discard(key)
                self.queue.done(key)

    def _process(self, key: str) -> None:
        started = time.monotonic()
        with collect_request_ids() as request_ids:
            result = self._attempt(key)
        seconds = time.monotonic() - started
        self.results[result] += 1
        RECONCILES.labels(result).inc()
        RECONCILE_SECONDS.labels(result).observe(seconds)
        log.log(
            logging.DEBUG if result in QUIET_RESULTS else logging.INFO,
            "reconciled %s: %s in %.3fs",
            key,
            result,
            seconds,
            extra={
                "service": key,
                "provider": self.driver.name,
                "action": "reconcile",
                "result": result,
                "duration_ms": round(seconds * 1000, 1),
                "request_ids": request_ids,
            },
        )

    def _attempt(self, key: str) -> str:
        """One reconcile with its failure handling; returns the result label."""
        try:
            result = self.reconcile(key)
            self.queue.forget(key)
        except ApiException as e:
            if e.status == 409:
                result = "conflict"
                self.queue.add_after(key, 0.2)
            else:
                result = "error"
                delay = self._retry(key)
                log.warning(
                    "reconcile %s: Kubernetes API error %s; retry in %.1fs",
                    key,
                    e.status,
                    delay,
                    extra=self._fields(key),
                )
        except PermanentError as e:
            result = "failed"
            svc = self.services.get(key)
            if svc is not None:
                self.recorder.event(svc, WARNING, e.reason, f"Error syncing load balancer: {e}")
            self.queue.forget(key)  # no backoff retry: the next resync or a change retries
            log.warning(
                "reconcile %s failed permanently: %s; retried on resync or change",
                key,
                e,
                extra=self._fields(key),
            )
        except Exception as e:
            result = "error"
            svc = self.services.get(key)
            reason = e.reason if isinstance(e, RetryableError) else "SyncLoadBalancerFailed"
            if svc is not None:
                self.recorder.event(svc, WARNING, reason, f"Error syncing load balancer: {e}")
            self._force(key)
            delay = self._retry(key)
            log.warning(
                "reconcile %s failed: %s; retry in %.1fs",
                key,
                e,
                delay,
                exc_info=not isinstance(e, RetryableError),
                extra=self._fields(key),
            )
        return result

    def _fields(self, key: str) -> dict[str, str]:
        return {"service": key, "provider": self.driver.name, "action": "reconcile"}

    def _retry(self, key: str) -> float:
        QUEUE_RETRIES.inc()
        return self.queue.add_rate_limited(key)

    # ------------------------------------------------------------ reconcile

    def reconcile(self, key: str) -> str:
        svc = self.services.get(key)
        if svc is None:
            self._forget(key)
            return "gone"
        if not self.owns(svc):
            if has_finalizer(svc):
                self._cleanup(key, svc)
                return "deleted"
            self._forget(key)
            return "skipped"
        rv = str(svc["metadata"].get("resourceVersion"))
        if self._invalid.get(key) == rv:
            return "invalid"
        with self._lock:
            forced = key in self._must_ensure
            self._must_ensure.discard(key)
        if self._refused.get(key) == rv and not forced:
            return "failed"  # the cloud refused this exact spec; wait for a change or resync
        try:
            spec = self.driver.parse(svc, self.cluster)
        except InvalidServiceSpec as e:
            self._invalid[key] = rv
            self.recorder.event(
                svc,
                WARNING,
                "SyncLoadBalancerFailed",
                f"Error syncing load balancer: invalid service spec: {e}",
            )
            return "invalid"
        self._invalid.pop(key, None)
        if not has_finalizer(svc):
            svc = self._add_finalizer(svc)
        nodes = self.eligible_nodes()
        last = self._last.get(key)
        first_time = last is None and not _ingress_view(
            (svc.get("status") or {}).get("loadBalancer")
        )
        spec_changed = last is None or last[0] != spec.intent()
        nodes_changed = last is not None and last[1] != nodes
        current_view = _ingress_view((svc.get("status") or {}).get("loadBalancer"))
        if not (forced or spec_changed or nodes_changed) and self._desired.get(key) == current_view:
            return "in-sync"  # our own write echoing back: nothing for the driver to do
        if spec_changed:
            self.recorder.event(svc, NORMAL, "EnsuringLoadBalancer", "Ensuring load balancer")
        if not nodes and (spec_changed or nodes_changed):
            self.recorder.event(
                svc,
                WARNING,
                "UnAvailableLoadBalancer",
                "There are no available nodes for LoadBalancer",
            )
        try:
            status = self.driver.ensure(spec, list(nodes))
        except PermanentError:
            self._refused[key] = str(svc["metadata"].get("resourceVersion"))
            raise
        self._refused.pop(key, None)
        desired = status.to_json()
        wrote = self._write_status(key, svc, desired)
        wrote = self._write_ready(svc, status.ready, spec) or wrote
        self._desired[key] = _ingress_view(desired)
        if status.ready is False or status.followup:
            self._force(key)
            self.queue.add_after(key, self.config.ready_poll_interval)
        self._last[key] = (spec.intent(), nodes)
        if spec_changed or wrote:
            self.recorder.event(svc, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
        elif nodes_changed:
            self.recorder.event(
                svc, NORMAL, "UpdatedLoadBalancer", "Updated load balancer with new hosts"
            )
        if first_time:
            return "created"
        return "updated" if (spec_changed or wrote or nodes_changed) else "in-sync"

    def _write_status(self, key: str, svc: JSON, desired: JSON) -> bool:
        """Patch status.loadBalancer if it differs; True if a write was made.

        The informer's copy may predate our own last write (its watch event is still in
        flight). When what we want is what we wanted last time, a GET settles it: a read
        is cheaper than a redundant write and its Events.
        """
        want = _ingress_view(desired)
        current = (svc.get("status") or {}).get("loadBalancer") or {}
        if want == _ingress_view(current):
            return False
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        if self._desired.get(key) == want:
            live = self.kube.get_service(ns, name)
            if want == _ingress_view((live.get("status") or {}).get("loadBalancer")):
                return False
        self.kube.patch_service_status(
            ns, name, {"status": {"loadBalancer": {"ingress": desired.get("ingress")}}}
        )
        return True

    def _write_ready(self, svc: JSON, ready: bool | None, spec: LoadBalancerSpec) -> bool:
        """Keep the ccm.dev/LoadBalancerReady condition in step; a strategic merge patch
        (merge key `type`) leaves other controllers' conditions alone."""
        if ready is None:
            return False
        want = "True" if ready else "False"
        conditions = (svc.get("status") or {}).get("conditions") or []
        have = next((c for c in conditions if c.get("type") == READY_CONDITION), None)
        generation = svc["metadata"].get("generation")
        if have and have.get("status") == want and have.get("observedGeneration") == generation:
            return False
        condition = {
            "type": READY_CONDITION,
            "status": want,
            "reason": "Active" if ready else "Provisioning",
            "message": f"{spec.kind} load balancer is {'active' if ready else 'provisioning'}",
            "observedGeneration": generation,
            "lastTransitionTime": (have or {}).get("lastTransitionTime")
            if have and have.get("status") == want
            else _now(),
        }
        meta = svc["metadata"]
        self.kube.patch_service_status_strategic(
            meta["namespace"], meta["name"], {"status": {"conditions": [condition]}}
        )
        return True

    def _forget(self, key: str) -> None:
        self._refused.pop(key, None)
        self._desired.pop(key, None)
        self._last.pop(key, None)
        self._invalid.pop(key, None)

    def _add_finalizer(self, svc: JSON) -> JSON:
        meta = svc["metadata"]
        finalizers = [*(meta.get("finalizers") or []), FINALIZER]
        return self.kube.patch_service(
            meta["namespace"],
            meta["name"],
            {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}},
        )

    def _cleanup(self, key: str, svc: JSON) -> None:
        meta = svc["metadata"]
        ref = ServiceRef.of(svc)
        self.recorder.event(svc, NORMAL, "DeletingLoadBalancer", "Deleting load balancer")
        self.driver.delete(ref)
        current = svc
        if not meta.get("deletionTimestamp") and _ingress_view(
            (svc.get("status") or {}).get("loadBalancer")
        ):
            current = self.kube.patch_service_status(
                meta["namespace"], meta["name"], {"status": {"loadBalancer": {"ingress": None}}}
            )
        # The resourceVersion precondition makes a concurrent finalizer change a 409 (and a
        # retry) instead of a lost update of someone else's finalizer.
        rest = [f for f in current["metadata"].get("finalizers") or [] if f != FINALIZER]
        self.kube.patch_service(
            meta["namespace"],
            meta["name"],
            {
                "metadata": {
                    "finalizers": rest or None,
                    "resourceVersion": current["metadata"]["resourceVersion"],
                }
            },
        )
        self._forget(key)
        self.recorder.event(svc, NORMAL, "DeletedLoadBalancer", "Deleted load balancer")

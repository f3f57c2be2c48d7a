"""Carry out a generated sequence against the sandbox, the cloud and the ccm process.

The runner is a user and an operator at once: it edits Services and Nodes the way
kubectl does (read, modify, replace with the resourceVersion; retry on 409, which the
chaos itself injects), turns faults on, and kills and restarts the controller. What each
operation did ends up in the log line next to it, so a failure report shows both the
plan (from the seed) and what the world made of it.

After the sequence: faults off, the controller running, then :func:`wait_quiescent`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client

from ccm.model import FINALIZER
from ccm.sandbox.server import Sandbox
from tests.chaos.generator import Op
from tests.chaos.process import CcmProcess, sleep
from tests.chaos.worlds import World
from tests.integration.harness import wait_for

NAMESPACE = "default"
LB_CLASS = "ccm.dev/lb"
RETRIED = frozenset({409, 429, 500, 503, 504})


@dataclass
class Journal:
    """The operation log: one line per op, with its outcome."""

    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    path: Path | None = None  # also written here as it grows, for a run that hangs

    def add(self, text: str) -> None:
        line = f"{time.monotonic() - self.started:6.1f}s {text}"
        self.lines.append(line)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(line + "\n")

    def text(self) -> str:
        return "\n".join(self.lines)


def read(core: client.CoreV1Api, name: str) -> dict[str, Any] | None:
    try:
        resp: Any = core.read_namespaced_service(name, NAMESPACE, _preload_content=False)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    obj: dict[str, Any] = json.loads(resp.data)
    return obj


def services(core: client.CoreV1Api) -> list[dict[str, Any]]:
    resp: Any = core.list_namespaced_service(NAMESPACE, _preload_content=False)
    raw = json.loads(resp.data)
    return list(raw["items"])


def _retrying(what: Callable[[], str], attempts: int = 20) -> str:
    """Run a read-modify-write until it is not refused with a retryable status."""
    for attempt in range(attempts):
        try:
            return what()
        except client.ApiException as e:
            if e.status not in RETRIED or attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def service_body(name: str, params: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "loadBalancerClass": LB_CLASS,
        "selector": {"app": name},
        "ports": params["ports"],
    }
    if params["ranges"]:
        spec["loadBalancerSourceRanges"] = params["ranges"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": dict(params["annotations"])},
        "spec": spec,
    }


class Runner:
    def __init__(
        self,
        sandbox: Sandbox,
        core: client.CoreV1Api,
        world: World,
        ccm: CcmProcess,
        journal: Journal,
    ) -> None:
        self.sandbox = sandbox
        self.core = core
        self.world = world
        self.ccm = ccm
        self.journal = journal
        self.all_nodes = world.nodes()

    def register_nodes(self, indexes: list[int]) -> None:
        for i in indexes:
            self._node_add(i)

    def run(self, ops: list[Op]) -> None:
        for op in ops:
            try:
                outcome = self.apply(op)
            except client.ApiException as e:
                outcome = f"refused: {e.status} {e.reason}"
            self.journal.add(f"{op.line()}  -> {outcome}")
            self.ccm.check()
            sleep(op.gap)

    def apply(self, op: Op) -> str:
        k, p = op.kind, op.params
        if k == "create":
            return self._create(op.target, p)
        if k in ("ports", "annotate", "ranges", "to-clusterip", "to-lb"):
            return _retrying(lambda: self._edit(op))
        if k == "delete":
            return self._delete(op.target)
        if k == "force-delete":
            return self._force_delete(op.target)
        if k == "node-add":
            return self._node_add(int(p["node"]))
        if k == "node-remove":
            return self._node_remove(int(p["node"]))
        if k.startswith("cloud-"):
            self.world.inject(k, p)
            return "fault on"
        if k == "kube-drop-watches":
            return f"dropped {self.sandbox.drop_watches()} watches"
        if k == "kube-409":
            self.sandbox.faults.add(
                path=rf"^/api/v1/namespaces/{NAMESPACE}/services/",
                method=p["method"],
                status=409,
                times=p["times"],
            )
            return "fault on"
        if k == "kill":
            self.ccm.kill()
            return "killed"
        if k == "restart":
            self.ccm.start()
            return "started"
        if k == "pause":
            sleep(float(p["seconds"]))
            return "ok"
        raise ValueError(f"unknown op {k}")

    # ------------------------------------------------------------ Services

    def _create(self, name: str, params: dict[str, Any]) -> str:
        body = service_body(name, params)

        def create() -> str:
            try:
                self.core.create_namespaced_service(NAMESPACE, cast(client.V1Service, body))
            except client.ApiException as e:
                if e.status == 409 and "already exists" in str(e.body):
                    return "skipped: already exists"
                raise
            return "ok"

        return _retrying(create)

    def _edit(self, op: Op) -> str:
        svc = read(self.core, op.target)
        if svc is None:
            return "skipped: gone"
        if svc["metadata"].get("deletionTimestamp"):
            return "skipped: terminating"
        spec = svc["spec"]
        ann = svc["metadata"].setdefault("annotations", {})
        p = op.params
        if op.kind == "ports":
            spec["ports"] = p["ports"]
        elif op.kind == "annotate":
            if p["value"] is None:
                ann.pop(p["key"], None)
            else:
                ann[p["key"]] = p["value"]
        elif op.kind == "ranges":
            if spec.get("type") != "LoadBalancer":
                return "skipped: not a LoadBalancer"
            _set_ranges(spec, p["ranges"])
        elif op.kind == "to-clusterip":
            spec["type"] = "ClusterIP"
            spec.pop("loadBalancerSourceRanges", None)
        elif op.kind == "to-lb":
            spec["type"] = "LoadBalancer"
            spec["loadBalancerClass"] = LB_CLASS
            _set_ranges(spec, p["ranges"])
        self.core.replace_namespaced_service(op.target, NAMESPACE, cast(client.V1Service, svc))
        return "ok"

    def _delete(self, name: str) -> str:
        try:
            _retrying(lambda: self._delete_once(name))
        except client.ApiException as e:
            if e.status == 404:
                return "skipped: gone"
            raise
        return "ok"

    def _delete_once(self, name: str) -> str:
        self.core.delete_namespaced_service(name, NAMESPACE)
        return "ok"

    def _force_delete(self, name: str) -> str:
        """What an impatient user does: strip the finalizers, then delete. The cloud
        resources are then the leak detector's to find."""

        def strip() -> str:
            svc = read(self.core, name)
            if svc is None:
                return "gone"
            had = FINALIZER in (svc["metadata"].get("finalizers") or [])
            svc["metadata"]["finalizers"] = []
            self.core.replace_namespaced_service(name, NAMESPACE, cast(client.V1Service, svc))
            return "stripped" if had else "no finalizer"

        stripped = _retrying(strip)
        return f"{stripped}, delete {self._delete(name)}"

    # ------------------------------------------------------------ Nodes

    def _node_add(self, i: int) -> str:
        return _retrying(lambda: self._create_node(i))

    def _create_node(self, i: int) -> str:
        try:
            self.core.create_node(cast(client.V1Node, self.all_nodes[i]))
        except client.ApiException as e:
            if e.status == 409 and "already exists" in str(e.body):
                return "skipped: exists"
            raise
        return "ok"

    def _node_remove(self, i: int) -> str:
        name = self.all_nodes[i]["metadata"]["name"]
        try:
            self.core.delete_node(name)
        except client.ApiException as e:
            if e.status == 404:
                return "skipped: gone"
            raise
        return "ok"


def _set_ranges(spec: dict[str, Any], ranges: list[str]) -> None:
    if ranges:
        spec["loadBalancerSourceRanges"] = ranges
    else:
        spec.pop("loadBalancerSourceRanges", None)


# ------------------------------------------------------------ quiescence


def unsettled(core: client.CoreV1Api, ccm: CcmProcess) -> list[str]:
    """Why the world is not quiescent yet ([] when it is)."""
    ccm.check()
    why = []
    for s in services(core):
        name = s["metadata"]["name"]
        finalizers = s["metadata"].get("finalizers") or []
        ingress = ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ours = s["spec"].get("type") == "LoadBalancer"
        if s["metadata"].get("deletionTimestamp"):
            why.append(f"{name}: still terminating (finalizers {finalizers})")
        elif ours and not ingress:
            why.append(f"{name}: no status yet")
        elif not ours and (FINALIZER in finalizers or ingress):
            why.append(f"{name}: ClusterIP still has finalizer/status")
    depth = ccm.total("ccm_workqueue_depth") + ccm.total("ccm_workqueue_delayed")
    if depth:
        why.append(f"work queue holds {depth:g} keys")
    return why


def wait_quiescent(core: client.CoreV1Api, ccm: CcmProcess, timeout: float) -> None:
    """Quiescent twice in a row a second apart, then at least three leak sweeps (an
    orphan is deleted on its second sighting; the third shows the sweep came back
    clean)."""
    last: list[list[str]] = [[]]

    def settled() -> bool:
        last[0] = unsettled(core, ccm)
        return not last[0]

    def twice() -> bool:
        if not settled():
            return False
        time.sleep(1.0)
        return settled()

    try:
        wait_for(twice, timeout=timeout, what="quiescence", every=0.3)
    except AssertionError as e:
        raise AssertionError(f"{e}: " + "; ".join(last[0])) from None
    sweeps = ccm.total("ccm_leak_sweeps")
    wait_for(
        lambda: ccm.total("ccm_leak_sweeps") >= sweeps + 3,
        timeout=timeout,
        what="three leak sweeps after quiescence",
        every=0.3,
    )

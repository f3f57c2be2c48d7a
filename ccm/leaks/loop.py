"""The leak detector inside `ccm run`: a sweep every interval, on the controller's view.

It reads Services from the controller's informer cache (no extra list per sweep) and
refuses to sweep until that cache has synced, because an unsynced cache is an empty
cluster that is not empty. Deletions leave an Event on the controller's own Pod, in its
namespace, where `kubectl get events -n <namespace>` finds them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ccm.controller import Controller
from ccm.events import NORMAL, WARNING, EventRecorder
from ccm.leaks.sweep import Finding, SweepConfig, Sweeper, SweepReport
from ccm.model import JSON

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventTarget:
    """Where leak Events go: the controller's Pod when it runs in a cluster (the downward
    API sets POD_NAME/POD_NAMESPACE), else a named object in the given namespace."""

    namespace: str
    name: str

    @classmethod
    def from_env(cls, namespace: str | None = None) -> EventTarget:
        ns = namespace or os.environ.get("POD_NAMESPACE") or "kube-system"
        name = os.environ.get("POD_NAME") or socket.gethostname() or "ccm"
        return cls(ns, name)

    def object(self) -> JSON:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": ""},
        }


def event_for(finding: Finding) -> tuple[str, str, str]:
    """(type, reason, message) of the Event a deletion leaves."""
    o = finding.orphan
    r = o.resource
    owner = f" of {r.owner.key} (uid {r.owner.uid or '?'})" if r.owner else ""
    what = f"{r.provider} {r.kind} {r.name or r.id}{owner}"
    if finding.error:
        return WARNING, "OrphanDeleteFailed", f"could not delete {what}: {finding.error}"
    return NORMAL, "DeletedOrphanedResource", f"deleted {what}: {o.reason}: {o.detail}"


class LeakLoop:
    def __init__(
        self,
        sweeper: Sweeper,
        list_services: Callable[[], Sequence[JSON]],
        interval: float,
        recorder: EventRecorder,
        target: EventTarget,
    ) -> None:
        self.sweeper = sweeper
        self.list_services = list_services
        self.interval = interval
        self.recorder = recorder
        self.target = target
        self.reports: list[SweepReport] = []  # the last few, for tests and /debug
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leak-detector", daemon=True)
        sweeper.on_deleted = self._event

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_now()
            except Exception:  # a bug in one sweep must not end the detector
                log.exception("leak sweep failed")

    def sweep_now(self) -> SweepReport:
        report = self.sweeper.sweep(self.list_services)
        self.reports = [*self.reports[-9:], report]
        if report.findings:
            log.info(
                "leak sweep (%s): %d orphaned, %d deleted, %d failed, in %.2fs",
                report.provider,
                len(report.findings),
                len(report.deleted),
                len(report.failed),
                report.seconds,
            )
        return report

    def _event(self, finding: Finding) -> None:
        type_, reason, message = event_for(finding)
        self.recorder.event(self.target.object(), type_, reason, message)


def attach(
    controller: Controller,
    config: SweepConfig,
    interval: float,
    target: EventTarget | None = None,
) -> LeakLoop:
    """A leak loop on the controller's driver, cluster, ownership rule and Service cache."""
    sweeper = Sweeper(controller.driver, controller.cluster, controller.owns, config)
    return LeakLoop(
        sweeper,
        controller.service_snapshot,
        interval,
        controller.recorder,
        target or EventTarget.from_env(),
    )

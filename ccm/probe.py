"""The cloud half of /readyz: a cheap driver read on its own thread, its last outcome
cached, so a kubelet probing every few seconds costs the cloud one call per interval
and a slow cloud never makes the probe itself time out."""

from __future__ import annotations

import logging
import threading

from ccm.driver import Driver, ProbingDriver

log = logging.getLogger(__name__)


class ProviderProbe:
    def __init__(self, driver: Driver, interval: float) -> None:
        self.driver = driver
        self.interval = max(1.0, interval)
        self._ok: bool | None = None if isinstance(driver, ProbingDriver) else True
        self._detail = "not probed yet" if self._ok is None else f"{driver.name}: no probe"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="provider-probe", daemon=True)

    def start(self) -> None:
        if isinstance(self.driver, ProbingDriver):
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> tuple[bool, str]:
        return bool(self._ok), self._detail

    def probe_once(self) -> None:
        assert isinstance(self.driver, ProbingDriver)
        try:
            self.driver.probe()
        except Exception as e:
            if self._ok is not False:
                log.warning("%s API unreachable: %s", self.driver.name, e)
            self._ok, self._detail = False, f"{self.driver.name} API: {type(e).__name__}: {e}"
            return
        if self._ok is False:
            log.info("%s API reachable again", self.driver.name)
        self._ok, self._detail = True, f"informers synced, {self.driver.name} API reachable"

    def _run(self) -> None:
        while not self._stop.is_set():
            self.probe_once()
            self._stop.wait(self.interval)

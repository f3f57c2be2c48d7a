"""Run the emulator in a thread of the test (or demo) process, on a port of its own."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from providers.gcp.emulator.server import EmulatorServer
from providers.gcp.emulator.store import State


class Emulator:
    """A Compute Engine v1 REST endpoint for one project; point clients at :attr:`url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        project: str = "ccm-test",
        *,
        quotas: Mapping[tuple[str, str], float] | None = None,
        operation_steps: int = 2,
        regions: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.state = State(project, quotas=quotas, operation_steps=operation_steps, regions=regions)
        self.project = project
        self._address = (host, port)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``: the ``api_endpoint`` for ClientOptions (scheme included)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def calls(self) -> list[str]:
        """``"<METHOD> <path>"`` of every request served, in order."""
        if self._server is None:
            return []
        with self._server.guard:
            return list(self._server.calls)

    def start(self) -> Emulator:
        if self._server is None:
            self._server = EmulatorServer(self._address, self.state)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="gce-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Knobs for tests, delegated to the state.

    def resources(self, collection: str) -> list[dict[str, Any]]:
        return self.state.resources(collection)

    def set_quota(self, metric: str, region: str, limit: float) -> None:
        """Limit a metric in a region, a zone, or "global" (FIREWALLS, NETWORKS, ...)."""
        self.state.quotas.set(metric, region, limit)

    def fail_next_operation(self, match: str, code: str, message: str) -> None:
        self.state.fail_next_operation(match, code, message)

    def settle(self) -> int:
        return self.state.settle()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    project: str = "ccm-test",
    *,
    quotas: Mapping[tuple[str, str], float] | None = None,
    operation_steps: int = 2,
) -> Emulator:
    """Start an emulator serving in a daemon thread; stop it with `.stop()` or `with`."""
    return Emulator(host, port, project, quotas=quotas, operation_steps=operation_steps).start()

"""Run the emulator in a thread of the test (or demo) process, on a port of its own."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from providers.azure.emulator.faults import Fault, Faults
from providers.azure.emulator.operations import Operation
from providers.azure.emulator.server import EmulatorServer
from providers.azure.emulator.store import State
from providers.azure.emulator.tls import TlsFiles, make_certificates

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TOKEN = "ccm-emulator-token"


class Emulator:
    """Azure Resource Manager for Microsoft.Network in one subscription, over HTTPS.

    Point NetworkManagementClient at :attr:`url` with ``connection_verify=ca_file`` and a
    credential answering :attr:`token` (see seed.network_client)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        subscription: str = DEFAULT_SUBSCRIPTION,
        *,
        token: str = DEFAULT_TOKEN,
        operation_steps: int = 2,
        page_size: int = 50,
        operation_seconds: float | None = None,
        retry_after: int = 0,
    ) -> None:
        self.state = State(
            subscription,
            operation_steps=operation_steps,
            page_size=page_size,
            operation_seconds=operation_seconds,
            retry_after=retry_after,
        )
        self.faults = Faults()
        self.subscription = subscription
        self.token = token
        self._address = (host, port)
        self._tls: TlsFiles | None = None
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``https://host:port``: the client's ``base_url``."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    @property
    def ca_file(self) -> str:
        """The PEM of the CA that signed the server certificate: ``connection_verify``."""
        if self._tls is None:
            raise RuntimeError("the emulator is not started")
        return self._tls.ca_file

    @property
    def calls(self) -> list[str]:
        """``"<METHOD> <path>"`` of every request received, faulted ones included, in order."""
        if self._server is None:
            return []
        with self._server.guard:
            return list(self._server.calls)

    def start(self) -> Emulator:
        if self._server is None:
            host = self._address[0]
            self._tls = make_certificates([host])
            self._server = EmulatorServer(
                self._address, self.state, self.faults, self.token, self._tls.server_context()
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="azure-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tls is not None:
            self._tls.remove()
            self._tls = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Knobs for tests.

    @property
    def page_size(self) -> int:
        return self.state.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.state.page_size = value

    def resources(self, kind: str) -> list[dict[str, Any]]:
        """Every stored resource of a kind ("loadBalancers", "publicIPAddresses",
        "networkSecurityGroups", "virtualNetworks", "networkInterfaces"), as GET renders it."""
        return self.state.resources(kind)

    def fail_next_operation(self, match: str, code: str, message: str) -> None:
        """The next operation whose ``"<METHOD> <path>"`` matches the regex ends Failed."""
        self.state.fail_next_operation(match, code, message)

    def add_fault(
        self,
        match: str,
        status: int,
        code: str = "",
        times: int = 1,
        retry_after: int | None = None,
        latency: float = 0.0,
    ) -> None:
        """The next `times` requests whose ``"<METHOD> <path>"`` matches the regex wait
        `latency` seconds and answer `status` (0: no error, only the wait)."""
        self.faults.add(Fault(match, status, code, times, retry_after, latency))

    def clear_faults(self) -> None:
        self.faults.clear()

    def settle(self) -> int:
        """Finish every running operation, as time passing would; how many there were."""
        return self.state.settle()

    def pending_operations(self) -> list[Operation]:
        return self.state.pending()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    subscription: str = DEFAULT_SUBSCRIPTION,
    *,
    token: str = DEFAULT_TOKEN,
    operation_steps: int = 2,
    page_size: int = 50,
    operation_seconds: float | None = None,
    retry_after: int = 0,
) -> Emulator:
    """Start an emulator serving in a daemon thread; stop it with `.stop()` or `with`."""
    return Emulator(
        host,
        port,
        subscription,
        token=token,
        operation_steps=operation_steps,
        page_size=page_size,
        operation_seconds=operation_seconds,
        retry_after=retry_after,
    ).start()

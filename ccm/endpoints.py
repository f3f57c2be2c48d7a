"""`--metrics-addr`: /metrics for Prometheus, /healthz for the liveness probe, /readyz for
the readiness probe, on one small threaded HTTP server.

The probes mean different things on purpose. /healthz fails only when a restart would
help (the election loop died, or a leader stopped renewing), so a slow cloud never gets
a healthy replica killed. /readyz fails while this replica could not do the work if it
had to: informers not synced, or the cloud API unreachable at the last probe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ccm.metrics import REGISTRY

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]


def parse_addr(text: str) -> tuple[str, int]:
    """ "HOST:PORT", ":PORT" (all interfaces) or "0" (off, returned as port -1)."""
    if text in ("0", ""):
        return "", -1
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--metrics-addr: {text!r} must be HOST:PORT, :PORT or 0 (off)")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    checks: dict[str, Check]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # probes every few seconds would drown the controller's own lines

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            return
        check = self.server.checks.get(path)
        if check is None:
            self._send(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")
            return
        try:
            ok, detail = check()
        except Exception as e:  # a failing check is a failed probe, not a crashed server
            ok, detail = False, f"check raised {type(e).__name__}: {e}"
        body = f"{'ok' if ok else 'failed'}: {detail}\n".encode()
        self._send(200 if ok else 503, body, "text/plain")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EndpointServer:
    def __init__(self, host: str, port: int, healthz: Check, readyz: Check) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.checks = {"/healthz": healthz, "/readyz": readyz}
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> EndpointServer:
        self._thread.start()
        log.info("serving /metrics, /healthz, /readyz on port %d", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

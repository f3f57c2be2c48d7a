"""HTTPS: requests recorded, faults applied, the token checked, then handed to the state.

Per request, in this order: the call is recorded in `calls` (faulted ones too), an
injected fault answers if one matches, the bearer token is checked (401 otherwise),
the body is parsed (400 InvalidRequestContent), and the handlers answer. The TLS
handshake runs in the request's thread, so a client that never completes one (like a
client that does not trust the CA and hangs up) cannot stall the accept loop.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from providers.azure.emulator.errors import (
    ArmError,
    authentication_failed,
    error_body,
    invalid_content,
    invalid_token,
)
from providers.azure.emulator.faults import Faults
from providers.azure.emulator.handlers import handle
from providers.azure.emulator.messages import Reply, Request
from providers.azure.emulator.store import State
from providers.azure.emulator.world import Body

_HANDSHAKE_SECONDS = 10.0


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: State,
        faults: Faults,
        token: str,
        context: ssl.SSLContext,
    ) -> None:
        self.state = state
        self.faults = faults
        self.token = token
        self.context = context
        self.calls: list[str] = []
        self.connections: set[socket.socket] = set()
        self.guard = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away, failed the handshake or was cut off by stop() is not
        worth a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut open keep-alive connections, so no handler thread outlives the server."""
        with self.guard:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer

    def setup(self) -> None:
        conn = self.request
        conn.settimeout(_HANDSHAKE_SECONDS)
        conn.do_handshake()
        conn.settimeout(None)
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.guard:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.guard:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `calls` and the state, not a log on stderr."""

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_DELETE = do_POST = do_PATCH = do_HEAD = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        label = f"{self.command} {split.path}"
        with self.server.guard:
            self.server.calls.append(label)
        try:
            reply = self._answer(split.path, split.query, raw)
        except ArmError as e:
            reply = Reply(e.status, e.body(), e.headers)
        except Exception as e:  # a bug in the emulator: say so the way ARM's 500s do
            traceback.print_exc()
            reply = Reply(500, error_body("InternalServerError", f"emulator bug: {e!r}"))
        self._send(reply)

    def _answer(self, path: str, query_string: str, raw: bytes) -> Reply:
        fault = self.server.faults.take(f"{self.command} {path}")
        if fault is not None:
            if fault.latency:
                time.sleep(fault.latency)
            if fault.status:
                headers = (
                    {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                )
                return Reply(fault.status, error_body(fault.code, fault.message), headers)
        self._authenticate()
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=_parse(raw) if self.command in ("PUT", "PATCH", "POST") else None,
            base=f"https://{host}",
        )
        return handle(self.server.state, request)

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization")
        if not header:
            raise authentication_failed("The 'Authorization' header is missing.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise authentication_failed("The 'Authorization' header must be 'Bearer <token>'.")
        if token.strip() != self.server.token:
            raise invalid_token()

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _parse(raw: bytes) -> Body | None:
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise invalid_content(str(e)) from e
    if not isinstance(body, dict):
        raise invalid_content("the body is not a JSON object")
    return body

"""HTTP: Compute v1 REST paths routed to the state, answers and errors as JSON.

The compute_v1 REST transport sends JSON bodies with camelCase field names and query
parameters (``maxResults``, ``pageToken``, ``filter``, ``requestId``), and parses any
2xx body as the expected message (unknown fields ignored) and any other status through
api_core's ``from_http_response``. So this layer only maps paths and methods onto
:class:`~providers.gcp.emulator.store.State` and serialises what it returns or raises.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from providers.gcp.emulator.errors import ApiError, error_body, not_found
from providers.gcp.emulator.store import Query, State, unknown_path
from providers.gcp.emulator.world import Body

_PREFIX = ("compute", "v1", "projects")
_GROUP_VERBS = frozenset({"addInstances", "removeInstances", "listInstances", "setNamedPorts"})


def dispatch(state: State, method: str, raw_path: str, query: Query, body: Body) -> Body:
    """Route one request; raises ApiError for anything GCP would refuse or not know."""
    segments = [unquote(s) for s in raw_path.strip("/").split("/")]
    if len(segments) < 5 or tuple(segments[:3]) != _PREFIX:
        raise unknown_path(method, raw_path)
    if segments[3] != state.project:
        raise not_found(f"projects/{segments[3]}")
    rest = segments[4:]
    if rest[0] in ("regions", "zones") and len(rest) <= 2:
        if method != "GET":
            raise unknown_path(method, raw_path)
        return state.location(rest[0], rest[1] if len(rest) == 2 else "", query)
    if rest[0] == "global" and len(rest) >= 2:
        scope, tail = "global", rest[1:]
    elif rest[0] in ("regions", "zones") and len(rest) >= 3:
        scope, tail = f"{rest[0]}/{rest[1]}", rest[2:]
    else:
        raise unknown_path(method, raw_path)
    collection, args = tail[0], tail[1:]
    if collection == "operations":
        return _operations(state, method, raw_path, scope, args, query)
    if not args:
        if method == "GET":
            return state.list_resources(scope, collection, query)
        if method == "POST":
            return state.insert(scope, collection, body, query)
    elif len(args) == 1:
        name = args[0]
        if method == "GET":
            return state.get_resource(scope, collection, name)
        if method == "DELETE":
            return state.delete(scope, collection, name, query)
        if method in ("PATCH", "PUT"):
            return state.modify(scope, collection, name, body, query, replace=method == "PUT")
    elif len(args) == 2 and method == "POST":
        name, verb = args
        if verb == "setLabels":
            return state.set_labels(scope, collection, name, body, query)
        if verb == "getHealth" and collection == "backendServices":
            return state.get_health(scope, name, body)
        if verb in _GROUP_VERBS and collection == "instanceGroups":
            return state.group_action(scope, name, verb, body, query)
    raise unknown_path(method, raw_path)


def _operations(
    state: State, method: str, raw_path: str, scope: str, args: list[str], query: Query
) -> Body:
    if not args and method == "GET":
        return state.list_operations(scope, query)
    if len(args) == 1 and method in ("GET", "DELETE"):
        return state.operation(scope, args[0], method.lower())
    if len(args) == 2 and args[1] == "wait" and method == "POST":
        return state.operation(scope, args[0], "wait")
    raise unknown_path(method, raw_path)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: State) -> None:
        self.state = state
        self.calls: list[str] = []
        self.connections: set[socket.socket] = set()
        self.guard = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or a stop() that cut it off) is not worth a traceback."""
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

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        with self.server.guard:
            self.server.calls.append(f"{self.command} {split.path}")
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ApiError(400, "parseError", "Parse Error: the body is not a JSON object")
            status, payload = (
                200,
                dispatch(self.server.state, self.command, split.path, query, body),
            )
        except json.JSONDecodeError as e:
            status, payload = 400, error_body(400, "parseError", f"Parse Error: {e}")
        except ApiError as e:
            status, payload = e.status, e.body()
        except Exception as e:  # a bug in the emulator: say so the way Google's 500s do
            traceback.print_exc()
            status, payload = 500, error_body(500, "backendError", f"emulator bug: {e!r}")
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

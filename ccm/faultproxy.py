"""An HTTP/1.1 reverse proxy that injects faults in front of a cloud emulator.

Cloud SDKs carry their own retry logic (botocore's standard mode retries throttling,
5xx and dropped connections; the Google and Azure SDKs have theirs), and our drivers add
more on top. Mocking the SDK would bypass all of it, so tests put this proxy between the
real SDK client and moto server (or another emulator) and make chosen calls slow, throttled,
failing or cut off on the wire, where the SDK sees exactly what a misbehaving cloud sends.

Requests are classified as ``"<service>:<Action>"``: the service is the SigV4 credential
scope's (``elasticloadbalancing``, ``ec2``, ``tagging`` for the Resource Groups Tagging API),
the action comes from the query-protocol form body (``Action=CreateLoadBalancer``), the
query string, or the JSON protocols' ``X-Amz-Target`` header. Requests that are not
SigV4-signed (other emulators) are labelled ``"http:<METHOD> <path>"``, and signed requests
of REST protocols without an action ``"<service>:<METHOD> <path>"``. Every proxied call is
recorded in :attr:`FaultProxy.calls`, so tests can also count API calls per operation.

Injected errors use the wire shape each protocol family's parser understands, so the SDK
raises its ordinary error (``ClientError`` with the code, after its own retries):

- EC2: ``<Response><Errors><Error><Code>…`` (the EC2 query variant);
- other query-protocol services: ``<ErrorResponse><Error><Type>…<Code>…``;
- JSON protocols (``X-Amz-Target``): ``{"__type": code, "message": …}`` plus
  ``x-amzn-ErrorType``;
- anything else (Google APIs and other JSON emulators): Google's shape,
  ``{"error": {"code": <HTTP status>, "message": …, "status": "RESOURCE_EXHAUSTED", "errors":
  [{"reason": code, "domain": "global", "message": …}]}}``, which api_core turns into the
  exception for the status with ``errors[0]["reason"]`` = the rule's code (by default
  ``rateLimitExceeded`` for 429, ``backendError`` for 5xx).

An unreachable upstream is answered with a 502 in the same shapes. The Host header is
rewritten to the upstream's, which SigV4 signs: fine for emulators, which do not verify
signatures, so this proxy is not for use in front of real AWS.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers the proxy sets itself on the upstream request.
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "expect"}

_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")

# The code an injected error carries when the rule names none: what AWS itself sends.
_DEFAULT_CODES = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NotFound",
    409: "Conflict",
    429: "Throttling",
    500: "InternalFailure",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
# The same for Google APIs: the `reason` of the error, and google.rpc's name for the status.
_GOOGLE_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "backendError": "Internal error. Please try again.",
}
_MESSAGES = {
    "Throttling": "Rate exceeded",
    "ThrottlingException": "Rate exceeded",
    "RequestLimitExceeded": "Request limit exceeded.",
    "InternalFailure": "The request processing has failed because of an unknown error.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
}
_COPY_CHUNK = 64 * 1024


@dataclass
class FaultRule:
    """One fault: which calls it hits, and what happens to them."""

    match: str = ".*"  # regex searched in "<service>:<Action>"
    latency: float = 0.0  # seconds added before the call is forwarded (or failed)
    status: int = 0  # 0 = forward normally; otherwise answer with this HTTP status
    error_code: str = ""  # AWS error code of the injected error; "" = a default per status
    times: int = -1  # how many calls it applies to; -1 = until cleared
    reset: bool = False  # close the client connection without any response
    probability: float = 1.0  # chance a matching call is hit (drawn from FaultProxy.rng)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.match)
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability: {self.probability} is not within [0, 1]")
        if self.status and not 400 <= self.status <= 599:
            raise ValueError(f"status: {self.status} is not an HTTP error status (400-599)")
        if self.error_code and not self.status:
            raise ValueError("error_code needs a status")

    @property
    def fails(self) -> bool:
        return self.reset or bool(self.status)


@dataclass(frozen=True)
class _Call:
    """What the proxy knows about one request, for matching and for shaping errors."""

    service: str
    action: str
    json_protocol: bool
    api_version: str

    @property
    def label(self) -> str:
        return f"{self.service}:{self.action}"


def classify(method: str, path: str, headers: Any, body: bytes) -> _Call:
    """Work out service and action the way the emulator will, from headers and body."""
    auth = headers.get("Authorization", "") or ""
    scope = _CREDENTIAL.search(auth)
    query = parse_qs(urlsplit(path).query)
    if scope is None and "X-Amz-Credential" in query:
        scope = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    target = headers.get("X-Amz-Target", "") or ""
    content_type = (headers.get("Content-Type", "") or "").lower()
    json_protocol = bool(target) or "json" in content_type  # also rest-json bodies
    params: dict[str, list[str]] = dict(query)
    if content_type.startswith("application/x-www-form-urlencoded") and body:
        params.update(parse_qs(body.decode("utf-8", "replace")))
    service = scope.group(1) if scope else "http"
    bare_path = urlsplit(path).path or "/"
    if target:
        action = target.rsplit(".", 1)[-1]
    elif "Action" in params:
        action = params["Action"][0]
    else:
        action = f"{method} {bare_path}"
    version = params.get("Version", [""])[0]
    return _Call(service, action, json_protocol, version)


def error_response(
    call: _Call, status: int, code: str, message: str = ""
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an error, in the shape the caller's SDK parses."""
    if call.service == "http":
        return _google_error(status, code, message)
    code = code or _DEFAULT_CODES.get(status, "BadRequest" if status < 500 else "InternalFailure")
    message = message or _MESSAGES.get(code, f"injected fault: {code}")
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if call.json_protocol:
        headers["x-amzn-ErrorType"] = code
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return json.dumps({"__type": code, "message": message}).encode(), headers
    headers["Content-Type"] = "text/xml"
    if call.service == "ec2":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        version = f"{call.api_version}/" if call.api_version else ""
        xmlns = f"http://{call.service}.amazonaws.com/doc/{version}"
        kind = "Sender" if status < 500 else "Receiver"
        xml = (
            f'<ErrorResponse xmlns="{escape(xmlns)}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return xml.encode(), headers


def _google_error(status: int, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    """Google's JSON error: api_core picks the exception by HTTP status and drivers read
    ``errors[0]["reason"]``, so the rule's code goes there and `code` is the status."""
    reason = code or _GOOGLE_REASONS.get(status, "badRequest" if status < 500 else "backendError")
    message = message or _GOOGLE_MESSAGES.get(reason, f"injected fault: {reason}")
    error = {
        "code": status,
        "message": message,
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    return json.dumps({"error": error}).encode(), headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many client connections at once
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or a stop() that cut it off) is not worth a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One client connection: keep-alive requests, each forwarded on one upstream connection."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: http.client.HTTPConnection | None = None
        self._upstream_used = False
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
            self.server.proxy._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `calls`, not a log on stderr."""

    def do_GET(self) -> None:
        self._proxy()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding", "") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        call = classify(self.command, self.path, self.headers, body)
        rule = proxy._record(call.label)
        if rule is None:
            self._forward(call, body)
        elif rule.reset:
            self._reset()
        else:
            payload, headers = error_response(call, rule.status, rule.error_code)
            self._respond(rule.status, headers, payload)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST and no response, as a failing LB does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _respond(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            proxy = self.server.proxy
            cls = (
                http.client.HTTPSConnection
                if proxy._scheme == "https"
                else http.client.HTTPConnection
            )
            self._upstream = cls(proxy._netloc, timeout=proxy.upstream_timeout)
            self._upstream_used = False
        return self._upstream

    def _send_upstream(self, body: bytes) -> http.client.HTTPResponse:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        headers["Host"] = proxy._netloc
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        target = proxy._prefix + self.path
        for attempt in (1, 2):
            conn = self._connection()
            reused = self._upstream_used
            try:
                conn.request(self.command, target, body=body or None, headers=headers)
                response = conn.getresponse()
                self._upstream_used = True
                return response
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # An idle keep-alive connection the upstream closed: retry once, fresh.
                conn.close()
                self._upstream = None
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _forward(self, call: _Call, body: bytes) -> None:
        try:
            response = self._send_upstream(body)
        except OSError as e:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None
            payload, err_headers = error_response(call, 502, "BadGateway", f"upstream: {e}")
            self._respond(502, err_headers, payload)
            return
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        length = response.getheader("Content-Length")
        if no_body:
            response.read()
            self._write_head(response.status, response.reason, headers, length)
        elif length is not None and "chunked" not in (
            response.getheader("Transfer-Encoding") or ""
        ):
            self._write_head(response.status, response.reason, headers, None)
            remaining = int(length)
            while remaining > 0:
                chunk = response.read(min(_COPY_CHUNK, remaining))
                if not chunk:  # upstream cut short: the client must not wait for the rest
                    self.close_connection = True
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        else:
            payload = response.read()
            self._write_head(response.status, response.reason, headers, str(len(payload)))
            self.wfile.write(payload)
        if response.will_close and self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _write_head(
        self, status: int, reason: str, headers: list[tuple[str, str]], length: str | None
    ) -> None:
        self.send_response_only(status, reason)
        self.send_header("Server", "ccm-faultproxy")
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            if name.lower() in ("server", "date") or (
                length is not None and name.lower() == "content-length"
            ):
                continue
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()


class FaultProxy:
    """A reverse proxy in front of an emulator that slows, fails or drops chosen calls.

    Rules are evaluated in the order they were added: every matching rule adds its
    latency, the first matching failing rule (status or reset) decides the answer, and each
    rule that applied counts its `times` down (it is removed at zero). A rule with
    `probability` < 1 applies to a call only when a draw from `rng` says so; seeding makes
    a flaky run replayable.
    """

    def __init__(
        self,
        upstream: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"upstream: {upstream!r} is not an http(s) URL")
        self.upstream = upstream
        self.upstream_timeout = upstream_timeout
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._host = host
        self._port = port
        self.rng = random.Random(seed)
        self.calls: list[str] = []
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections, so no handler outlives us."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add(
        self,
        *,
        match: str = ".*",
        latency: float = 0.0,
        status: int = 0,
        error_code: str = "",
        times: int = -1,
        reset: bool = False,
        probability: float = 1.0,
    ) -> None:
        """Add a rule; see the class docstring for how rules combine."""
        rule = FaultRule(match, latency, status, error_code, times, reset, probability)
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Remove every rule; recorded calls stay (clear `calls` to forget them)."""
        with self._lock:
            self._rules.clear()

    def counts(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.calls)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, label: str) -> FaultRule | None:
        """Record the call, sleep for matching latency; return the failing rule, if any."""
        latency = 0.0
        failing: FaultRule | None = None
        with self._lock:
            self.calls.append(label)
            for rule in list(self._rules):
                if not rule._pattern.search(label):
                    continue
                if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                    continue
                decides = rule.fails and failing is None
                if not decides and not rule.latency:
                    continue  # a later failing rule that lost to an earlier one
                latency += rule.latency
                if decides:
                    failing = rule
                if rule.times > 0:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
        if latency > 0:
            time.sleep(latency)
        return failing

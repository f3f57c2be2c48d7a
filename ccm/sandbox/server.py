"""HTTP front of the sandbox: URL routing, query parameters, watch streaming, fault injection.

Everything a client sees goes through real HTTP/1.1 (keep-alive, chunked watch
streams), so the official client and kubectl exercise their real transports, retries and
decoders. The admin routes under `/_sandbox/` are the test-only control surface.

With an `rbac.Authorizer` the server authenticates bearer tokens and authorizes like
kube-apiserver's RBAC (401 / 403 in its words); without one (the default) it serves
everybody. Either way every non-admin request lands in a bounded request log
(`Sandbox.request_log()`, `GET /_sandbox/requests`) that tests read for properties no
counter shows: who wrote what, and whether two writers' requests overlapped in time.
"""

from __future__ import annotations

import base64
import binascii
import json
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import yaml

from ccm.sandbox import discovery, patch, rbac, tables
from ccm.sandbox.errors import APIError, bad_request
from ccm.sandbox.faults import Faults
from ccm.sandbox.rbac import ADMIN_TOKEN, Authorizer
from ccm.sandbox.requestlog import DEFAULT_SIZE, RequestLog, RequestRecord
from ccm.sandbox.resources import ResourceType, find
from ccm.sandbox.selectors import label_matcher, parse_field_selector
from ccm.sandbox.store import Matcher, Obj, Store

MAX_BODY = 3 * 1024 * 1024  # the API server's request size limit


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(ns), str(name)
    except (ValueError, binascii.Error, TypeError) as e:
        raise bad_request(f"continue key is not valid: {token!r}") from e


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("1", "true")


def _wants_table(accept: str) -> bool:
    return "as=Table" in accept


class Route:
    """A parsed resource URL: which type, namespace, name and subresource it addresses."""

    def __init__(self, rt: ResourceType, namespace: str | None, name: str | None, sub: str) -> None:
        self.rt = rt
        self.namespace = namespace
        self.name = name
        self.sub = sub


def parse_route(parts: list[str]) -> Route | None:
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    rt = find(group, version, rest[0])
    if rt is None:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else ""
    if sub and (sub != "status" or not rt.has_status):
        return None
    if namespace is not None and not rt.namespaced:
        return None
    if name is not None and rt.namespaced and namespace is None:
        return None
    return Route(rt, namespace, name, sub)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        faults: Faults,
        bookmark_interval: float,
        authorizer: Authorizer | None = None,
        tokens: Mapping[str, str] | None = None,
        log: RequestLog | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        self.authorizer = authorizer
        self.tokens = dict(tokens or {})
        self.log = log if log is not None else RequestLog()
        self.requests_served = 0
        self.requests_by_method: Counter[str] = Counter()
        self.counter_lock = threading.Lock()
        # Requests accepted and not yet in the log (open watch streams included).
        self.in_flight = 0
        self.idle = threading.Condition()
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal (watch cancelled, test ended)."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK
    # stalls every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    # Per request, reset by _dispatch: the status sent, the request log's ticket once the
    # response is out, and whether this is a /_sandbox admin route (never logged).
    _status: int = 0
    _ticket: int | None = None
    _admin_request: bool = False

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        """Remember the status for the request log; every response path goes through here."""
        self._status = code
        super().send_response(code, message)

    # ------------------------------------------------------------ plumbing

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(self.server.requests_served))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self._responded()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _responded(self) -> None:
        """The response is about to go out: tell the request log (see RequestLog).

        Taken before the last bytes are written, never after: once they are on the
        socket the client may read the log before this thread runs again, and a ticket
        taken then would be too late for that read to wait for."""
        if self._ticket is None and not self._admin_request:
            self._ticket = self.server.log.responded()

    def _send_error(self, err: APIError) -> None:
        headers = {}
        if err.code in (429, 503) and err.details and "retryAfterSeconds" in err.details:
            headers["Retry-After"] = str(err.details["retryAfterSeconds"])
        self._send_json(err.code, err.status(), headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise APIError(413, "RequestEntityTooLarge", "Request entity too large")
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Obj:
        raw = self._read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            try:
                body = yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise bad_request(f"the body of the request could not be decoded: {e}") from e
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        return body

    def _discard_body(self) -> None:
        """Drain a refused request's body so the keep-alive connection stays in sync."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def _authenticate(self) -> rbac.User | None:
        """The caller, from its bearer token; with RBAC on, no known token is a 401.

        With RBAC off nothing is refused: the token only names the caller in the request
        log when it is in the sandbox's optional token map.
        """
        header = self.headers.get("Authorization")
        authorizer = self.server.authorizer
        if authorizer is None:
            token = rbac.bearer_token(header)
            username = self.server.tokens.get(token, "") if token else ""
            return rbac.User(username) if username else None
        user = authorizer.authenticate(header)
        if user is None:
            self._discard_body()
            raise rbac.unauthorized()
        return user

    def _dispatch(self) -> None:
        start, start_wall = time.monotonic(), time.time()
        self._status = 0
        self._ticket = None
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path.rstrip("/") or "/"
        self._admin_request = url.path.startswith("/_sandbox")
        if self._admin_request:
            # The test-only control surface: never counted, logged or subject to RBAC.
            try:
                self._admin(path, params)
            except APIError as err:
                self._send_error(err)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        with self.server.counter_lock:
            self.server.requests_served += 1
            self.server.requests_by_method[self.command] += 1
        with self.server.idle:
            self.server.in_flight += 1
        try:
            self._dispatch_resource(url, path, params, start, start_wall)
        finally:
            with self.server.idle:
                self.server.in_flight -= 1
                self.server.idle.notify_all()

    def _dispatch_resource(
        self, url: SplitResult, path: str, params: dict[str, str], start: float, start_wall: float
    ) -> None:
        info = rbac.request_info(self.command, path, params)
        user: rbac.User | None = None
        denied = False
        try:
            # The apiserver's filter order: authentication, then (flow control, here the
            # injected faults), then authorization, then the handler.
            user = self._authenticate()
            latency, rule = self.server.faults.match(self.command, path)
            if latency:
                time.sleep(latency)
            if rule is not None:
                self._read_body()
                raise rule.error()
            authorizer = self.server.authorizer
            if authorizer is not None and user is not None and not authorizer.allowed(user, info):
                denied = True
                self._discard_body()
                raise rbac.forbidden(user, info)
            self._serve(path, params)
        except APIError as err:
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            # Taken only now, after the response or watch stream was written to the socket,
            # so that [start, end] covers everything the client could have observed.
            self.server.log.append(
                self._ticket,
                start=start,
                end=time.monotonic(),
                start_wall=start_wall,
                end_wall=time.time(),
                username=user.name if user is not None else "",
                user_agent=self.headers.get("User-Agent", ""),
                method=self.command,
                verb=info.verb,
                path=path,
                query=url.query,
                api_group=info.api_group,
                namespace=info.namespace,
                resource=info.resource,
                subresource=info.subresource,
                name=info.name,
                code=self._status,
                denied=denied,
            )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    # ------------------------------------------------------------ routing

    def _serve(self, path: str, params: dict[str, str]) -> None:
        doc = self._discovery(path)
        if doc is not None:
            if self.command != "GET":
                raise APIError(
                    405, "MethodNotAllowed", f"the server does not allow this method on {path}"
                )
            self._send_json(200, doc)
            return
        route = parse_route(path.strip("/").split("/"))
        if route is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if route.name is None:
            self._collection(route, params)
        else:
            self._item(route, params)

    def _discovery(self, path: str) -> Any | None:
        addr_host, addr_port = self.server.server_address[:2]
        host = f"{addr_host!s}:{addr_port}"
        if path == "/version":
            return discovery.SERVER_VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return {"kind": "Status", "status": "Success", "message": "ok"}
        if path == "/api":
            return discovery.api_versions(host)
        if path == "/apis":
            return discovery.api_group_list()
        if path == "/openapi/v2":
            return discovery.openapi_v2()
        if path == "/openapi/v3":
            return discovery.openapi_v3_index()
        parts = path.strip("/").split("/")
        if parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                return discovery.openapi_v3_gv("", rest[1]) or None
            if rest[:1] == ["apis"] and len(rest) == 3:
                return discovery.openapi_v3_gv(rest[1], rest[2]) or None
            return None
        if parts[0] == "api" and len(parts) == 2:
            return discovery.api_resource_list("", parts[1])
        if parts[0] == "apis" and len(parts) == 2:
            return discovery.api_group(parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return discovery.api_resource_list(parts[1], parts[2])
        return None

    def _matcher(self, route: Route, params: dict[str, str]) -> Matcher:
        labels = label_matcher(params.get("labelSelector", ""))
        fields = parse_field_selector(params.get("fieldSelector", ""), route.rt.kind)
        return lambda obj: labels(obj) and fields(obj)

    def _collection(self, route: Route, params: dict[str, str]) -> None:
        store = self.server.store
        if self.command == "GET":
            if _flag(params, "watch"):
                self._watch(route, params)
                return
            self._list(route, params)
        elif self.command == "POST":
            body = self._json_body()
            created = store.create(route.rt, route.namespace, body)
            self._send_json(201, created)
        elif self.command == "DELETE":
            self._read_body()
            matches = self._matcher(route, params)
            objs, _, _ = store.list(route.rt, route.namespace, matches)
            deleted = []
            for obj in objs:
                try:
                    deleted.append(
                        store.delete(
                            route.rt, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                        )
                    )
                except APIError as err:
                    if err.code != 404:
                        raise
            self._send_json(200, self._list_body(route.rt, deleted, store.resource_version, ""))
        else:
            raise APIError(
                405, "MethodNotAllowed", f"{self.command} is not allowed on a collection"
            )

    def _list_body(self, rt: ResourceType, objs: list[Obj], rv: int, token: str) -> Obj:
        meta: Obj = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": objs}

    def _list(self, route: Route, params: dict[str, str]) -> None:
        try:
            limit = int(params.get("limit") or 0)
        except ValueError as e:
            raise bad_request(
                f"limit: invalid value {params['limit']!r}; must be an integer"
            ) from e
        after = _decode_continue(params["continue"]) if params.get("continue") else None
        objs, rv, nxt = self.server.store.list(
            route.rt, route.namespace, self._matcher(route, params), max(0, limit), after
        )
        token = _encode_continue(nxt) if nxt else ""
        if _wants_table(self.headers.get("Accept", "")):
            body = tables.table(
                route.rt, objs, str(rv), params.get("includeObject", "Metadata"), token
            )
        else:
            body = self._list_body(route.rt, objs, rv, token)
        self._send_json(200, body)

    def _item(self, route: Route, params: dict[str, str]) -> None:
        store, rt = self.server.store, route.rt
        assert route.name is not None
        if self.command in ("GET", "HEAD"):
            obj = store.get(rt, route.namespace, route.name)
            if _wants_table(self.headers.get("Accept", "")):
                obj = tables.table(
                    rt,
                    [obj],
                    obj["metadata"]["resourceVersion"],
                    params.get("includeObject", "Metadata"),
                )
            self._send_json(200, obj)
        elif self.command == "PUT":
            updated = store.update(rt, route.namespace, route.name, self._json_body(), route.sub)
            self._send_json(200, updated)
        elif self.command == "PATCH":
            self._patch(route)
        elif self.command == "DELETE":
            raw = self._read_body()
            opts = json.loads(raw) if raw.strip() else {}
            pre = (opts.get("preconditions") or {}) if isinstance(opts, dict) else {}
            result = store.delete(
                rt, route.namespace, route.name, pre.get("uid"), pre.get("resourceVersion")
            )
            if rt.kind in ("Service", "Namespace") or result["metadata"].get("deletionTimestamp"):
                self._send_json(200, result)
            else:
                self._send_json(
                    200,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": route.name,
                            "group": rt.group,
                            "kind": rt.plural,
                            "uid": result["metadata"]["uid"],
                        },
                    },
                )
        else:
            raise APIError(405, "MethodNotAllowed", f"{self.command} is not allowed")

    def _patch(self, route: Route) -> None:
        store, rt = self.server.store, route.rt
        assert route.name is not None
        content_type = self.headers.get("Content-Type", "")
        raw = self._read_body()
        # Retry on a concurrent write, as the API server's GuaranteedUpdate does: a patch
        # without a resourceVersion must not fail just because another writer won the race.
        for _ in range(5):
            current = store.get(rt, route.namespace, route.name)
            try:
                patched = patch.apply_patch(content_type, current, raw, rt.kind)
            except patch.PatchError as e:
                raise patch.to_api_error(e) from e
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise bad_request("the patched object must be a JSON object with metadata")
            sent_rv = patched["metadata"].get("resourceVersion")
            explicit = sent_rv != current["metadata"]["resourceVersion"]
            if not explicit:
                patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                updated = store.update(rt, route.namespace, route.name, patched, route.sub)
            except APIError as err:
                if err.reason == "Conflict" and not explicit:
                    continue
                raise
            self._send_json(200, updated)
            return
        raise APIError(409, "Conflict", "patch could not be applied after retries")

    # ------------------------------------------------------------ watch

    def _watch(self, route: Route, params: dict[str, str]) -> None:
        store = self.server.store
        try:
            watcher = store.watch(
                route.rt,
                route.namespace,
                self._matcher(route, params),
                params.get("resourceVersion"),
            )
        except APIError as err:
            if err.code != 410:
                raise
            # The real server accepts the watch and reports expiry in-band, so clients must
            # handle it as an event, not only as an HTTP status.
            self._start_stream()
            self._chunk(json.dumps({"type": "ERROR", "object": err.status()}))
            self._responded()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        as_table = _wants_table(self.headers.get("Accept", ""))
        include = params.get("includeObject", "Metadata")
        bookmarks = _flag(params, "allowWatchBookmarks")
        timeout = float(params.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self._start_stream()
        first = True
        next_bookmark = time.monotonic() + self.server.bookmark_interval
        try:
            while not self.server.stopping.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                try:
                    item = watcher.events.get(timeout=max(0.01, min(wait, 1.0)))
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        store.bookmark(watcher)
                        next_bookmark = time.monotonic() + self.server.bookmark_interval
                    continue
                if item is None:
                    break
                etype, obj = item
                if as_table and etype != "BOOKMARK":
                    obj = tables.table(
                        route.rt,
                        [obj],
                        obj["metadata"]["resourceVersion"],
                        include,
                        with_columns=first,
                    )
                    first = False
                if etype == "BOOKMARK" and not bookmarks:
                    continue
                self._chunk(json.dumps({"type": etype, "object": obj}, separators=(",", ":")))
            self._responded()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            store.unwatch(watcher)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        # The stream's connection is closed after it: say so, or a client that reads
        # the stream to its end returns the socket to its pool, reuses it for the next
        # request and meets the close (RemoteDisconnected on a PATCH, not retried).
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, text: str) -> None:
        data = text.encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------ admin

    def _admin(self, path: str, params: dict[str, str]) -> None:
        store, faults = self.server.store, self.server.faults
        if path == "/_sandbox/faults" and self.command == "POST":
            body = self._json_body()
            try:
                faults.add(**body)
            except (TypeError, ValueError) as e:
                raise bad_request(
                    f"fault: {e}; fields are path, method, latency, status, times, retry_after"
                ) from e
            self._send_json(201, {"faults": faults.describe()})
        elif path == "/_sandbox/faults" and self.command == "DELETE":
            faults.clear()
            self._send_json(200, {"faults": []})
        elif path == "/_sandbox/faults":
            self._send_json(200, {"faults": faults.describe()})
        elif path == "/_sandbox/drop-watches" and self.command == "POST":
            self._send_json(200, {"dropped": store.drop_watches()})
        elif path == "/_sandbox/compact" and self.command == "POST":
            store.compact()
            self._send_json(200, {"compactedTo": store.resource_version})
        elif path == "/_sandbox/stats":
            self._send_json(
                200,
                {
                    "resourceVersion": store.resource_version,
                    "openWatches": store.open_watches,
                    "requests": self.server.requests_served,
                    "requestsByMethod": dict(self.server.requests_by_method),
                    "denied": self.server.log.denied_total,
                },
            )
        elif path == "/_sandbox/requests" and self.command == "DELETE":
            self.server.log.clear()
            self._send_json(200, [])
        elif path == "/_sandbox/requests" and self.command == "GET":
            try:
                since = int(params.get("since") or 0)
            except ValueError as e:
                raise bad_request(f"since: {params['since']!r} is not an integer") from e
            log = self.server.log
            records = log.denials() if _flag(params, "denied") else log.records()
            self._send_json(200, [r.to_json() for r in records if r.seq >= since])
        else:
            raise APIError(404, "NotFound", f"no sandbox admin route {self.command} {path}")


class Sandbox:
    """An in-process API server on its own thread; `with Sandbox() as sb:` in tests."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        history_size: int = 20000,
        bookmark_interval: float = 5.0,
        node_port_range: tuple[int, int] = (30000, 32767),
        rbac: Authorizer | None = None,
        tokens: Mapping[str, str] | None = None,
        request_log_size: int = DEFAULT_SIZE,
    ) -> None:
        """`rbac=None` (the default) serves everyone; an `Authorizer` enforces its RBAC.

        `tokens` (token → username) only names callers in the request log when RBAC is
        off; with RBAC on the authorizer's own token map does that.
        """
        self.store = Store(history_size, node_port_range)
        self.faults = Faults()
        self.rbac = rbac
        self.log = RequestLog(request_log_size)
        self._server = SandboxHTTPServer(
            (host, port), self.store, self.faults, bookmark_interval, rbac, tokens, self.log
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="ccm-sandbox",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._server.stopping.set()
        self.store.drop_watches()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drop_watches(self) -> int:
        return self.store.drop_watches()

    def wait_logged(self, timeout: float = 10.0) -> bool:
        """Wait until every request accepted so far is in the request log.

        A watch is logged only when its stream ends, so a test that reads the log for
        everything a client did stops that client and drops the watches first."""
        with self._server.idle:
            return self._server.idle.wait_for(lambda: self._server.in_flight == 0, timeout)

    def requests(self) -> dict[str, int]:
        """Requests served so far by HTTP method: how tests count writes."""
        with self._server.counter_lock:
            return dict(self._server.requests_by_method)

    def request_log(self, since: int = 0) -> list[RequestRecord]:
        """Every non-admin request served (bounded), oldest first, from `seq >= since`."""
        return self.log.records(since)

    def denials(self) -> list[RequestRecord]:
        """Requests RBAC refused with 403, kept even when the main log has overflowed."""
        return self.log.denials()

    def clear_request_log(self) -> None:
        self.log.clear()

    def kubeconfig(
        self, context: str = "ccm-sandbox", *, token: str | None = None
    ) -> dict[str, Any]:
        """A kubeconfig for the sandbox; `token` defaults to the admin token.

        Pass a restricted token (one in the Authorizer's map) to run a client as that user.
        """
        if token is None:
            admin = self.rbac.admin_token if self.rbac is not None else None
            token = admin or ADMIN_TOKEN
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": "default"},
                }
            ],
            "current-context": context,
            "preferences": {},
        }

    def write_kubeconfig(
        self, path: str | Path, context: str = "ccm-sandbox", *, token: str | None = None
    ) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(self.kubeconfig(context, token=token), sort_keys=False))
        return target

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

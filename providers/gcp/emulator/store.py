"""The emulator's state: resources, instance group members, operations, behind one lock.

Every request runs under one re-entrant lock, start to end, so the state is always
consistent and concurrent clients see a serial order of calls, as they would of a cloud
that linearises writes per project. A mutation is validated when it arrives and its
change is held by its operation until DONE; what pending operations will create counts
as taken (names, IPs, quota) and cannot yet be referenced or changed (resourceNotReady).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from providers.gcp.emulator import network_rules
from providers.gcp.emulator.errors import (
    ApiError,
    already_exists,
    condition_not_met,
    in_use,
    invalid,
    not_found,
    not_ready,
    required,
)
from providers.gcp.emulator.filters import compile_filter
from providers.gcp.emulator.kinds import KINDS, OUTPUT_ONLY, Kind, kind_of, render
from providers.gcp.emulator.lb_rules import instance_network, prepare_instance_group
from providers.gcp.emulator.operations import Change, FailRule, Operation
from providers.gcp.emulator.quotas import Quotas
from providers.gcp.emulator.urls import parse, self_link
from providers.gcp.emulator.world import Body, check_labels, zone_of

DEFAULT_REGIONS: dict[str, tuple[str, ...]] = {
    "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
    "us-east1": ("us-east1-b", "us-east1-c", "us-east1-d"),
    "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
    "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
    "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    "asia-east1": ("asia-east1-a", "asia-east1-b", "asia-east1-c"),
}
NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_RESULTS = 500
_ID_BASE = 4_000_000_000_000_000_000
EMPTY_LABELS = "42WmSpB8rSM="  # GCP's labelFingerprint of no labels
_EPOCH = "1969-12-31T16:00:00.000-08:00"  # what GCP shows as regions' and zones' creation

Query = Mapping[str, str]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fingerprint(value: Any, salt: str = "") -> str:
    """An opaque, content-derived fingerprint in GCP's form (8 bytes, base64)."""
    data = json.dumps(value, sort_keys=True).encode() + salt.encode()
    return base64.b64encode(hashlib.sha256(data).digest()[:8]).decode()


def unknown_path(method: str, path: str) -> ApiError:
    return ApiError(404, "notFound", f"The requested URL {method} {path} was not found.")


def _client_fields(body: Mapping[str, Any]) -> Body:
    """A private copy of a body without the fields only the server sets."""
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in OUTPUT_ONLY}


class State:
    """All resources of one project. Public methods are what the HTTP server and tests use."""

    def __init__(
        self,
        project: str,
        *,
        quotas: Mapping[tuple[str, str], float] | None = None,
        operation_steps: int = 2,
        regions: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.project = project
        self.operation_steps = operation_steps
        self.regions = {r: list(z) for r, z in (regions or DEFAULT_REGIONS).items()}
        self._zone_region = {z: r for r, zones in self.regions.items() for z in zones}
        self.quotas = Quotas(self._zone_region, quotas)
        self.lock = threading.RLock()
        self._resources: dict[str, Body] = {}
        self._members: dict[str, list[str]] = {}
        self._ops: dict[str, Operation] = {}
        self._requests: dict[str, str] = {}  # requestId -> operation path
        self._fail: list[FailRule] = []
        self._health: dict[str, str] = {}
        self._seq = 0

    # ------------------------------------------------------------------ World

    def zone_region(self, zone: str) -> str:
        return self._zone_region.get(zone, "")

    def url(self, path: str) -> str:
        return self_link(self.project, path)

    def qualified(self, path: str) -> str:
        return f"projects/{self.project}/{path}"

    def committed(self) -> list[tuple[str, Body]]:
        return list(self._resources.items())

    def _pending(self) -> list[Operation]:
        return [op for op in self._ops.values() if not op.done]

    def _pending_creates(self) -> set[str]:
        return {
            c.path
            for op in self._pending()
            for c in op.changes
            if c.body is not None and c.path not in self._resources
        }

    def held(self) -> list[tuple[str, Body]]:
        pending = [(c.path, c.body) for op in self._pending() for c in op.changes if c.body]
        return self.committed() + pending

    def members(self, group_path: str) -> list[str]:
        return list(self._members.get(group_path, []))

    def resolve(self, reference: str, field: str, collections: Collection[str]) -> tuple[str, Body]:
        ref = parse(reference, self.project, field)
        if ref.collection not in collections:
            raise invalid(field, reference, f"Must be a URL of a {' or '.join(collections)}.")
        if ref.project == self.project and ref.path in self._resources:
            return ref.path, self._resources[ref.path]
        if ref.project == self.project and ref.path in self._pending_creates():
            raise not_ready(ref.qualified)
        raise not_found(ref.qualified)

    # ------------------------------------------------------------------ helpers

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _kind(self, scope: str, collection: str, method: str) -> Kind:
        kind = KINDS.get(collection)
        if kind is None or scope.split("/")[0] not in kind.scopes or method not in kind.methods:
            raise unknown_path(method, f"{scope}/{collection}")
        self._check_scope(scope)
        return kind

    def _check_scope(self, scope: str) -> None:
        kind, _, name = scope.partition("/")
        if kind == "regions" and name not in self.regions:
            raise invalid("region", name, "Unknown region.")
        if kind == "zones" and name not in self._zone_region:
            raise invalid("zone", name, "Unknown zone.")

    def _existing(self, path: str) -> Body:
        if path in self._resources:
            return self._resources[path]
        if path in self._pending_creates():
            raise not_ready(self.qualified(path))
        raise not_found(self.qualified(path))

    def _not_busy(self, path: str) -> None:
        for op in self._pending():
            if op.target_path == path or any(c.path == path for c in op.changes):
                raise not_ready(self.qualified(path))

    def _replay(self, query: Query) -> Body | None:
        """A request retried with the same requestId gets its first operation back."""
        request_id = query.get("requestId", "")
        op_path = self._requests.get(request_id) if request_id else None
        return self._ops[op_path].render(self.project) if op_path in self._ops else None

    def _stamp(self, kind: Kind, path: str, body: Body, old: Body | None = None) -> Body:
        """Add what the server sets: identity, links, fingerprints."""
        scope_kind, scope_name = path.split("/")[:2]
        if old is None:
            body["id"] = str(_ID_BASE + self._next())
            body["creationTimestamp"] = now()
        else:
            body["id"], body["creationTimestamp"] = old["id"], old["creationTimestamp"]
        body["kind"] = kind.kind
        body["name"] = path.rsplit("/", 1)[-1]
        body["selfLink"] = self.url(path)
        if scope_kind == "regions":
            body["region"] = self.url(f"regions/{scope_name}")
        elif scope_kind == "zones":
            body["zone"] = self.url(f"zones/{scope_name}")
        if kind.labels:
            labels = body.get("labels", {})
            body["labelFingerprint"] = fingerprint(labels) if labels else EMPTY_LABELS
        if isinstance(body.get("tags"), dict):
            body["tags"]["fingerprint"] = fingerprint(body["tags"].get("items", []))
        if kind.fingerprint:
            body.pop("fingerprint", None)
            body["fingerprint"] = fingerprint(body, str(self._next()))
        return body

    def _start(
        self, op_type: str, target: str, target_id: str, changes: list[Change], query: Query
    ) -> Body:
        """Accept a mutation: an operation that holds `changes` until it is DONE."""
        seq = self._next()
        parts = target.split("/")
        scope = "global" if parts[0] == "global" else "/".join(parts[:2])
        op = Operation(
            seq=seq,
            name=f"operation-{seq:013d}-{zlib.crc32(target.encode()):08x}",
            scope=scope,
            operation_type=op_type,
            target_path=target,
            target_id=target_id,
            changes=changes,
            steps_left=self.operation_steps,
            insert_time=now(),
        )
        for rule in self._fail:
            if rule.pattern.search(op.label):
                op.failure = rule
                self._fail.remove(rule)
                break
        self._ops[op.path] = op
        if query.get("requestId"):
            self._requests[query["requestId"]] = op.path
        if self.operation_steps <= 0:
            self._finish(op)
        return op.render(self.project)

    def _step(self, op: Operation) -> None:
        if op.done:
            return
        op.steps_left -= 1
        if op.steps_left <= 0:
            self._finish(op)
            return
        op.status = "RUNNING"
        op.start_time = op.start_time or now()
        done = self.operation_steps - op.steps_left
        op.progress = min(99, 100 * done // max(1, self.operation_steps))

    def _finish(self, op: Operation) -> None:
        op.start_time = op.start_time or now()
        op.status, op.progress, op.end_time = "DONE", 100, now()
        if op.failure is not None:
            op.errors = [{"code": op.failure.code, "message": op.failure.message}]
            op.http_status, op.http_message = 400, "BAD REQUEST"
            return
        for change in op.changes:
            self._commit(change)

    def _commit(self, change: Change) -> None:
        path = change.path
        collection = path.split("/")[-2]
        if change.body is None:
            self._resources.pop(path, None)
            if collection == "instances":
                for members in self._members.values():
                    if path in members:
                        members.remove(path)
            self._members.pop(path, None)
            return
        self._resources[path] = change.body
        if change.add_members or change.remove_members:
            members = self._members.setdefault(path, [])
            members += [m for m in change.add_members if m in self._resources and m not in members]
            members[:] = [m for m in members if m not in change.remove_members]

    def _page(
        self,
        items: list[Body],
        query: Query,
        kind: str,
        self_path: str,
        key: Callable[[Body], str] = lambda item: str(item["name"]),
    ) -> Body:
        """Filter, order by name and cut a page, as Compute list calls do."""
        expression = query.get("filter", "")
        if expression:
            predicate = compile_filter(expression)
            items = [i for i in items if predicate(i)]
        order = query.get("orderBy", "")
        if order not in ("", "name"):
            raise invalid("orderBy", order, "The emulator only orders by name.")
        items.sort(key=key)
        token = query.get("pageToken", "")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise invalid("pageToken", token, "Invalid page token.") from None
            items = [i for i in items if key(i) > after]
        raw = query.get("maxResults", "") or str(MAX_RESULTS)
        try:
            limit = int(raw)
        except ValueError:
            raise invalid("maxResults", raw, "Must be an integer.") from None
        if not 0 <= limit <= MAX_RESULTS:
            raise invalid("maxResults", raw, f"Must be between 0 and {MAX_RESULTS}.")
        limit = limit or MAX_RESULTS
        page = items[:limit]
        out: Body = {
            "kind": kind,
            "id": self.qualified(self_path),
            "selfLink": self.url(self_path),
        }
        if page:
            out["items"] = page
        if len(items) > limit:
            out["nextPageToken"] = base64.urlsafe_b64encode(key(page[-1]).encode()).decode()
        return out

    # ------------------------------------------------------------------ collections

    def list_resources(self, scope: str, collection: str, query: Query) -> Body:
        with self.lock:
            kind = self._kind(scope, collection, "list")
            prefix = f"{scope}/{collection}/"
            items = [
                render(self, p, copy.deepcopy(b))
                for p, b in self._resources.items()
                if p.startswith(prefix)
            ]
            return self._page(items, query, kind.list_kind, f"{scope}/{collection}")

    def get_resource(self, scope: str, collection: str, name: str) -> Body:
        with self.lock:
            self._kind(scope, collection, "get")
            path = f"{scope}/{collection}/{name}"
            if path not in self._resources:
                raise not_found(self.qualified(path))
            return render(self, path, copy.deepcopy(self._resources[path]))

    def insert(self, scope: str, collection: str, body: Body, query: Query) -> Body:
        with self.lock:
            replay = self._replay(query)
            if replay is not None:
                return replay
            kind = self._kind(scope, collection, "insert")
            name = body.get("name")
            if not name:
                raise required("resource.name")
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise invalid(
                    "resource.name",
                    name,
                    "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
                )
            path = f"{scope}/{collection}/{name}"
            if path in self._resources or path in self._pending_creates():
                raise already_exists(self.qualified(path))
            new = self._stamp(kind, path, kind.prepare(self, path, _client_fields(body), None))
            changes = [Change(path, new)]
            if collection == "networks":
                for sub_path, sub in network_rules.auto_subnetworks(
                    self, path, new, list(self.regions)
                ):
                    if sub_path in self._resources or sub_path in self._pending_creates():
                        raise already_exists(self.qualified(sub_path))
                    changes.append(
                        Change(sub_path, self._stamp(KINDS["subnetworks"], sub_path, sub))
                    )
            held = self.held()
            for change in changes:
                assert change.body is not None
                self.quotas.check(change.path, change.body, held)
            return self._start("insert", path, new["id"], changes, query)

    def delete(self, scope: str, collection: str, name: str, query: Query) -> Body:
        with self.lock:
            replay = self._replay(query)
            if replay is not None:
                return replay
            kind = self._kind(scope, collection, "delete")
            path = f"{scope}/{collection}/{name}"
            old = self._existing(path)
            self._not_busy(path)
            held = self.held()
            users = [p for p, b in held if p != path and path in kind_of(p).refs(b, self.project)]
            if collection == "addresses":
                users += network_rules.address_users(self, path, old, held)
            if users:
                raise in_use(kind.noun, self.qualified(path), self.qualified(users[0]))
            return self._start("delete", path, old["id"], [Change(path, None)], query)

    def modify(
        self, scope: str, collection: str, name: str, body: Body, query: Query, *, replace: bool
    ) -> Body:
        """PATCH (merge) or PUT (`replace`) a resource, checking its fingerprint if sent."""
        method = "update" if replace else "patch"
        with self.lock:
            replay = self._replay(query)
            if replay is not None:
                return replay
            kind = self._kind(scope, collection, method)
            path = f"{scope}/{collection}/{name}"
            old = self._existing(path)
            self._not_busy(path)
            sent = body.get("fingerprint")
            if kind.fingerprint and sent and sent != old.get("fingerprint"):
                raise condition_not_met("Supplied fingerprint does not match current fingerprint.")
            if body.get("name") not in (None, "", name):
                raise invalid("resource.name", body["name"], "A resource can't be renamed.")
            clean = _client_fields(body)
            base = _client_fields(old)
            if kind.patchable is not None:
                for key, value in clean.items():
                    if key not in kind.patchable and key != "name" and value != base.get(key):
                        raise invalid(
                            f"resource.{key}",
                            value,
                            f"Only {', '.join(sorted(kind.patchable))} can be patched on a "
                            f"{kind.noun}.",
                        )
            merged = {**clean, "name": name} if replace else kind.merge(base, clean)
            if kind.labels and replace:
                merged.setdefault("labels", base.get("labels", {}))
            new = kind.prepare(self, path, merged, old)
            for key in kind.immutable:
                if new.get(key) != old.get(key):
                    raise invalid(f"resource.{key}", new.get(key), "This field can't be changed.")
            self._stamp(kind, path, new, old)
            return self._start(method, path, old["id"], [Change(path, new)], query)

    def set_labels(self, scope: str, collection: str, name: str, body: Body, query: Query) -> Body:
        with self.lock:
            replay = self._replay(query)
            if replay is not None:
                return replay
            kind = self._kind(scope, collection, "setLabels")
            path = f"{scope}/{collection}/{name}"
            old = self._existing(path)
            self._not_busy(path)
            if body.get("labelFingerprint") != old.get("labelFingerprint"):
                raise condition_not_met(
                    "Labels fingerprint either invalid or resource labels have changed"
                )
            labels = dict(body.get("labels") or {})
            check_labels({"labels": labels})
            new = copy.deepcopy(old)
            new.pop("labels", None)
            if labels:
                new["labels"] = labels
            self._stamp(kind, path, new, old)
            return self._start("setLabels", path, old["id"], [Change(path, new)], query)

    # ------------------------------------------------------------------ instance groups

    def group_action(self, scope: str, name: str, verb: str, body: Body, query: Query) -> Body:
        """addInstances, removeInstances, setNamedPorts (operations) and listInstances."""
        with self.lock:
            kind = self._kind(scope, "instanceGroups", verb)
            path = f"{scope}/instanceGroups/{name}"
            if verb == "listInstances":
                return self._list_members(path, body, query)
            replay = self._replay(query)
            if replay is not None:
                return replay
            old = self._existing(path)
            self._not_busy(path)
            new = copy.deepcopy(old)
            if verb == "setNamedPorts":
                sent = body.get("fingerprint")
                if sent and sent != old.get("fingerprint"):
                    raise condition_not_met(
                        "Supplied fingerprint does not match current fingerprint."
                    )
                merged = {**_client_fields(old), "namedPorts": body.get("namedPorts", [])}
                new = self._stamp(kind, path, prepare_instance_group(self, path, merged, old), old)
                return self._start(verb, path, old["id"], [Change(path, new)], query)
            instances = self._instances_of(path, old, body, adding=verb == "addInstances")
            if verb == "addInstances":
                if not old.get("network") and instances:
                    network = instance_network(self._resources[instances[0]], self.project)
                    if network:
                        new["network"] = self.url(network)
                change = Change(path, new, add_members=tuple(instances))
            else:
                change = Change(path, new, remove_members=tuple(instances))
            return self._start(verb, path, old["id"], [change], query)

    def _instances_of(self, path: str, group: Body, body: Body, *, adding: bool) -> list[str]:
        items = body.get("instances") or []
        if not items:
            raise required("instances")
        members = self._members.get(path, [])
        group_network = parse(group["network"], self.project).path if group.get("network") else ""
        out: list[str] = []
        for i, item in enumerate(items):
            field = f"instances[{i}].instance"
            instance_path, instance = self.resolve(
                str((item or {}).get("instance", "")), field, ("instances",)
            )
            if zone_of(instance_path) != zone_of(path):
                raise invalid(field, item["instance"], "The instance must be in the group's zone.")
            member = instance_path in members or instance_path in out
            if adding and member:
                raise ApiError(
                    400,
                    "memberAlreadyExists",
                    f"The resource '{self.qualified(instance_path)}' is already a member of "
                    f"'{self.qualified(path)}'",
                )
            if not adding and not member:
                raise invalid(field, item["instance"], "The instance is not a member of the group.")
            network = instance_network(instance, self.project)
            if adding and group_network and network != group_network:
                raise invalid(field, item["instance"], "The instance is in another network.")
            out.append(instance_path)
        return out

    def _list_members(self, path: str, body: Body, query: Query) -> Body:
        self._existing(path)
        state = body.get("instanceState") or "ALL"
        if state not in ("ALL", "RUNNING"):
            raise invalid("instanceState", state, "Must be ALL or RUNNING.")
        items: list[Body] = [
            {"instance": self.url(m), "status": self._resources[m].get("status", "RUNNING")}
            for m in self._members.get(path, [])
        ]
        return self._page(
            items,
            query,
            "compute#instanceGroupsListInstances",
            f"{path}/listInstances",
            key=lambda item: str(item["instance"]),
        )

    def get_health(self, scope: str, name: str, body: Body) -> Body:
        """Every member of one backend group HEALTHY, unless a test said otherwise."""
        with self.lock:
            self._kind(scope, "backendServices", "getHealth")
            path = f"{scope}/backendServices/{name}"
            service = self._existing(path)
            group_path, _ = self.resolve(str(body.get("group", "")), "group", ("instanceGroups",))
            groups = [parse(b["group"], self.project).path for b in service.get("backends", [])]
            if group_path not in groups:
                raise invalid("group", body.get("group"), "The group is not a backend.")
            out: Body = {"kind": "compute#backendServiceGroupHealth"}
            statuses = []
            for member in self._members.get(group_path, []):
                instance = self._resources[member]
                nics = instance.get("networkInterfaces") or [{}]
                statuses.append(
                    {
                        "instance": self.url(member),
                        "ipAddress": nics[0].get("networkIP", ""),
                        "healthState": self._health.get(member.rsplit("/", 1)[-1], "HEALTHY"),
                    }
                )
            if statuses:
                out["healthStatus"] = statuses
            return out

    # ------------------------------------------------------------------ operations

    def _op(self, scope: str, name: str) -> Operation:
        self._check_scope(scope)
        op = self._ops.get(f"{scope}/operations/{name}")
        if op is None:
            raise not_found(self.qualified(f"{scope}/operations/{name}"))
        return op

    def operation(self, scope: str, name: str, verb: str) -> Body:
        """get (one step), wait (to DONE) or delete an operation."""
        with self.lock:
            op = self._op(scope, name)
            if verb == "delete":
                del self._ops[op.path]
                return {}
            if verb == "wait":
                if not op.done:
                    self._finish(op)
            else:
                self._step(op)
            return op.render(self.project)

    def list_operations(self, scope: str, query: Query) -> Body:
        with self.lock:
            self._check_scope(scope)
            items = [op.render(self.project) for op in self._ops.values() if op.scope == scope]
            return self._page(items, query, "compute#operationList", f"{scope}/operations")

    # ------------------------------------------------------------------ regions and zones

    def _region(self, region: str) -> Body:
        index = sorted(self.regions).index(region)
        return {
            "kind": "compute#region",
            "id": str(1000 + index),
            "name": region,
            "description": region,
            "status": "UP",
            "zones": [self.url(f"zones/{z}") for z in self.regions[region]],
            "selfLink": self.url(f"regions/{region}"),
            "creationTimestamp": _EPOCH,
        }

    def _zone(self, zone: str) -> Body:
        index = sorted(self._zone_region).index(zone)
        return {
            "kind": "compute#zone",
            "id": str(2000 + index),
            "name": zone,
            "description": zone,
            "status": "UP",
            "region": self.url(f"regions/{self._zone_region[zone]}"),
            "selfLink": self.url(f"zones/{zone}"),
            "creationTimestamp": _EPOCH,
        }

    def location(self, kind: str, name: str, query: Query) -> Body:
        """regions.get/list and zones.get/list (`name` "" lists)."""
        with self.lock:
            if kind == "regions":
                if not name:
                    items = [self._region(r) for r in self.regions]
                    return self._page(items, query, "compute#regionList", "regions")
                if name not in self.regions:
                    raise not_found(self.qualified(f"regions/{name}"))
                return self._region(name)
            if not name:
                items = [self._zone(z) for z in self._zone_region]
                return self._page(items, query, "compute#zoneList", "zones")
            if name not in self._zone_region:
                raise not_found(self.qualified(f"zones/{name}"))
            return self._zone(name)

    # ------------------------------------------------------------------ for tests

    def resources(self, collection: str) -> list[Body]:
        """Every existing resource of a collection, across regions and zones, as GCP renders
        it (resources whose insert is still pending are not included)."""
        with self.lock:
            return [
                render(self, p, copy.deepcopy(b))
                for p, b in sorted(self._resources.items())
                if p.split("/")[-2] == collection
            ]

    def operations(self, *, pending: bool = False) -> list[Body]:
        with self.lock:
            return [
                op.render(self.project)
                for op in sorted(self._ops.values(), key=lambda o: o.seq)
                if not (pending and op.done)
            ]

    def group_members(self, zone: str, group: str) -> list[str]:
        with self.lock:
            return [
                self.url(m) for m in self._members.get(f"zones/{zone}/instanceGroups/{group}", [])
            ]

    def settle(self) -> int:
        """Finish every pending operation, as time passing would; returns how many."""
        with self.lock:
            pending = self._pending()
            for op in pending:
                self._finish(op)
            return len(pending)

    def fail_next_operation(self, match: str, code: str, message: str) -> None:
        """Make the next operation whose ``"<operationType> <collection>/<name>"`` matches
        the regex `match` end DONE with this error instead of applying its change."""
        with self.lock:
            self._fail.append(FailRule(match, code, message))

    def set_health(self, instance: str, health: str) -> None:
        """What getHealth reports for an instance (by name): HEALTHY, UNHEALTHY, ..."""
        with self.lock:
            self._health[instance] = health

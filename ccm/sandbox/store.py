"""The sandbox's object store: the part of kube-apiserver + etcd that controllers rely on.

One lock guards everything, and every committed change gets the next value of a single
cluster-wide resourceVersion and is appended to a bounded history. That is what makes
watch resume exact (replay everything after N) and 410 Gone honest (N fell out of the
history). Stored objects are never mutated after they are committed; readers may hold
references and serialise them outside the lock.
"""

from __future__ import annotations

import copy
import queue
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ccm.sandbox import services
from ccm.sandbox.errors import (
    APIError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
)
from ccm.sandbox.resources import RESOURCE_TYPES, ResourceType

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

# Kinds whose metadata.generation tracks spec changes (the API server only sets it where a
# controller needs to know it has observed the latest spec).
GENERATION_KINDS = {"Service", "Node"}
KUBERNETES_SERVICE_IP = "10.96.0.1"  # first address of the default service CIDR
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


_NS_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One committed change; `old` lets selector-filtered watchers see objects leave the set."""

    rv: int
    type_key: str
    event: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None


@dataclass
class Watcher:
    rtype: ResourceType
    namespace: str | None
    matches: Matcher
    events: queue.Queue[tuple[str, Obj] | None] = field(default_factory=queue.Queue)
    closed: threading.Event = field(default_factory=threading.Event)

    def offer(self, change: Change) -> None:
        """Translate a change into what this watcher's filtered view saw (ADDED/DELETED on
        entering/leaving the selector), as the API server's watch cache does."""
        ns = change.obj.get("metadata", {}).get("namespace")
        if self.namespace is not None and ns != self.namespace:
            return
        now = self.matches(change.obj)
        before = change.old is not None and self.matches(change.old)
        if change.event == "ADDED":
            if now:
                self.events.put(("ADDED", change.obj))
        elif change.event == "DELETED":
            if now or before:
                self.events.put(("DELETED", change.obj))
        elif now and before:
            self.events.put(("MODIFIED", change.obj))
        elif now:
            self.events.put(("ADDED", change.obj))
        elif before:
            self.events.put(("DELETED", change.obj))

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.events.put(None)


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise bad_request("Object 'metadata' is missing or not an object")
    return meta


def _without_status(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("status", "metadata")}


class Store:
    def __init__(
        self, history_size: int = 20000, node_port_range: tuple[int, int] = (30000, 32767)
    ) -> None:
        self._lock = threading.RLock()
        self._rv = 0
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {rt.key: {} for rt in RESOURCE_TYPES}
        self._history: deque[Change] = deque(maxlen=history_size)
        self._compacted_rv = 0  # every rv <= this one may be missing from history
        self._watchers: list[Watcher] = []
        self.allocator = services.ServiceAllocator(node_port_range=node_port_range)
        for ns in DEFAULT_NAMESPACES:
            self.create(_ns_type(), None, {"metadata": {"name": ns}})
        self.create(
            _svc_type(),
            "default",
            {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver"}},
                "spec": {
                    "clusterIP": KUBERNETES_SERVICE_IP,
                    "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                },
            },
        )

    # ---------------------------------------------------------------- reads

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        with self._lock:
            obj = self._objects[rt.key].get((namespace or "", name))
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        return obj

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Matcher,
        limit: int = 0,
        after: tuple[str, str] | None = None,
    ) -> tuple[list[Obj], int, tuple[str, str] | None]:
        """Objects in key order, the list's resourceVersion, and the key to continue from.

        Continuation pages are read from the current state, not from a snapshot at the
        first page's resourceVersion (a documented deviation from etcd-backed servers).
        """
        with self._lock:
            bucket = self._objects[rt.key]
            keys = sorted(bucket)
            out: list[Obj] = []
            nxt: tuple[str, str] | None = None
            out_key: tuple[str, str] | None = None
            for key in keys:
                if after is not None and key <= after:
                    continue
                if namespace is not None and key[0] != namespace:
                    continue
                obj = bucket[key]
                if not matches(obj):
                    continue
                if limit and len(out) == limit:
                    nxt = out_key
                    break
                out.append(obj)
                out_key = key
            return out, self._rv, nxt

    # ---------------------------------------------------------------- writes

    def create(self, rt: ResourceType, namespace: str | None, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = _meta(obj)
        with self._lock:
            ns = self._check_namespace(rt, namespace, meta)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generate_name(rt, ns, str(meta["generateName"]))
            name = meta.get("name")
            if not name:
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        FieldError(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            self._validate_name(rt, str(name))
            bucket = self._objects[rt.key]
            if (ns, name) in bucket:
                raise already_exists(rt.group, rt.plural, name)
            for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if ns:
                meta["namespace"] = ns
            if rt.kind in GENERATION_KINDS:
                meta["generation"] = 1
            obj["apiVersion"] = rt.api_version
            obj["kind"] = rt.kind
            if rt.kind == "Service" and rt.group == "":
                obj["status"] = {"loadBalancer": {}}
                services.prepare_create(obj, self.allocator)
            elif rt.kind == "Namespace":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj["status"] = {"phase": "Active"}
            return self._commit(rt, "ADDED", obj, None)

    def update(
        self, rt: ResourceType, namespace: str | None, name: str, body: Obj, subresource: str = ""
    ) -> Obj:
        """PUT semantics; PATCH is get + apply + this, so both share every rule."""
        new = copy.deepcopy(body)
        meta = _meta(new)
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        if namespace and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(_NS_MISMATCH)
        with self._lock:
            old = self.get(rt, namespace, name)
            sent_rv = meta.get("resourceVersion")
            if sent_rv not in (None, "") and str(sent_rv) != old["metadata"]["resourceVersion"]:
                raise conflict(rt.group, rt.plural, name)
            if subresource == "status":
                merged = copy.deepcopy(old)
                merged["status"] = new.get("status", {})
                if rt.kind == "Service":
                    services.validate_status(merged)
                new = merged
            else:
                new = self._prepare_main_update(rt, new, old)
            new["apiVersion"] = rt.api_version
            new["kind"] = rt.kind
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return old  # a no-op write commits nothing, as in the real server
            return self._commit(rt, "MODIFIED", new, old)

    def _prepare_main_update(self, rt: ResourceType, new: Obj, old: Obj) -> Obj:
        meta = new["metadata"]
        old_meta = old["metadata"]
        for key in (
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["name"] = old_meta["name"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.kind,
                    rt.group,
                    old_meta["name"],
                    [
                        FieldError(
                            "metadata.finalizers",
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted, "
                            f"found new finalizers {sorted(added)!r}",
                        )
                    ],
                )
        if rt.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if rt.kind == "Service" and rt.group == "":
            services.prepare_update(new, old, self.allocator)
        if rt.kind in GENERATION_KINDS and _without_status(new) != _without_status(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        return new

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
    ) -> Obj:
        """Mark for deletion while finalizers remain; remove once none do."""
        with self._lock:
            old = self.get(rt, namespace, name)
            meta = old["metadata"]
            if precondition_uid and precondition_uid != meta["uid"]:
                raise APIError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {precondition_uid}, "
                    f"UID in object meta: {meta['uid']}",
                )
            if precondition_rv and precondition_rv != meta["resourceVersion"]:
                raise APIError(
                    409,
                    "Conflict",
                    f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            if rt.kind == "Namespace":
                return self._delete_namespace(rt, old)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return old
                marked = copy.deepcopy(old)
                marked["metadata"]["deletionTimestamp"] = now_rfc3339()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit(rt, "MODIFIED", marked, old)
            return self._remove(rt, old)

    def _delete_namespace(self, rt: ResourceType, old: Obj) -> Obj:
        name = old["metadata"]["name"]
        if old["metadata"].get("deletionTimestamp"):
            return old
        marked = copy.deepcopy(old)
        marked["metadata"]["deletionTimestamp"] = now_rfc3339()
        marked["status"] = {"phase": "Terminating"}
        result = self._commit(rt, "MODIFIED", marked, old)
        for other in RESOURCE_TYPES:
            if not other.namespaced:
                continue
            for key in [k for k in self._objects[other.key] if k[0] == name]:
                self.delete(other, name, key[1])
        return self._finish_namespace(name) or result

    def _finish_namespace(self, name: str) -> Obj | None:
        ns_type = _ns_type()
        ns = self._objects[ns_type.key].get(("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if any(
            k[0] == name for rt in RESOURCE_TYPES if rt.namespaced for k in self._objects[rt.key]
        ):
            return None
        return self._remove(ns_type, ns)

    def _remove(self, rt: ResourceType, old: Obj) -> Obj:
        gone_obj = copy.deepcopy(old)
        del self._objects[rt.key][(old["metadata"].get("namespace", ""), old["metadata"]["name"])]
        if rt.kind == "Service" and rt.group == "":
            services.release(old, self.allocator)
        result = self._commit(rt, "DELETED", gone_obj, old, store=False)
        ns = old["metadata"].get("namespace")
        if ns:
            self._finish_namespace(ns)
        return result

    def _commit(
        self, rt: ResourceType, event: str, obj: Obj, old: Obj | None, store: bool = True
    ) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if store:
            self._objects[rt.key][key] = obj
        change = Change(self._rv, rt.key, event, obj, old)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(change)
        for w in self._watchers:
            if w.rtype.key == rt.key:
                w.offer(change)
        if (
            event == "MODIFIED"
            and meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and rt.kind != "Namespace"
        ):
            self._remove(rt, obj)
        return obj

    # ---------------------------------------------------------------- watch

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Matcher,
        resource_version: str | None,
    ) -> Watcher:
        """Register a watcher whose queue already holds everything after resource_version.

        Replay and registration happen under one lock hold, so no change is lost or
        duplicated between the two.
        """
        w = Watcher(rt, namespace, matches)
        with self._lock:
            if resource_version in (None, "", "0"):
                for obj in self.list(rt, namespace, matches)[0]:
                    w.events.put(("ADDED", obj))
            else:
                try:
                    since = int(resource_version)
                except ValueError as e:
                    raise bad_request(f"invalid resource version {resource_version!r}") from e
                if since < self._compacted_rv:
                    raise gone(f"too old resource version: {since} ({self._compacted_rv + 1})")
                for change in self._history:
                    if change.rv > since and change.type_key == rt.key:
                        w.offer(change)
            self._watchers.append(w)
        return w

    def bookmark(self, w: Watcher) -> None:
        """Queue a BOOKMARK behind every event already queued, so its rv is safe to resume from."""
        with self._lock:
            w.events.put(
                (
                    "BOOKMARK",
                    {
                        "kind": w.rtype.kind,
                        "apiVersion": w.rtype.api_version,
                        "metadata": {"resourceVersion": str(self._rv)},
                    },
                )
            )

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            if w in self._watchers:
                self._watchers.remove(w)
        w.close()

    def drop_watches(self) -> int:
        """Fault injection: end every open watch stream, as an API server restart would."""
        with self._lock:
            dropped = list(self._watchers)
            self._watchers.clear()
        for w in dropped:
            w.close()
        return len(dropped)

    def compact(self) -> None:
        """Fault injection: forget history, so any resume from an older rv gets 410 Gone."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._watchers)

    # ---------------------------------------------------------------- helpers

    def _check_namespace(
        self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]
    ) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns not in (None, "", namespace):
            raise bad_request(_NS_MISMATCH)
        ns = namespace or body_ns or "default"
        ns_obj = self._objects[_ns_type().key].get(("", ns))
        if ns_obj is None:
            raise not_found("", "namespaces", ns)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise APIError(
                403,
                "Forbidden",
                f'{rt.plural} "{meta.get("name", "")}" is forbidden: unable to create new '
                f"content in namespace {ns} because it is being terminated",
                {"name": meta.get("name", ""), "kind": rt.plural},
            )
        return str(ns)

    def _validate_name(self, rt: ResourceType, name: str) -> None:
        pattern, limit = (
            (_DNS1123_LABEL, 63) if rt.kind == "Namespace" else (_DNS1123_SUBDOMAIN, 253)
        )
        if rt.kind == "Service":
            return  # services.prepare_create applies the stricter DNS-1035 rule
        if len(name) > limit or not pattern.match(name):
            raise invalid(
                rt.kind,
                rt.group,
                name,
                [
                    FieldError(
                        "metadata.name",
                        "FieldValueInvalid",
                        f"Invalid value: {name!r}: a lowercase RFC 1123 "
                        f"{'label' if limit == 63 else 'subdomain'} must consist of lower case "
                        "alphanumeric characters, '-' or '.', and must start and end with an "
                        "alphanumeric character",
                    )
                ],
            )

    def _generate_name(self, rt: ResourceType, ns: str, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        for _ in range(100):
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if (ns, name) not in self._objects[rt.key]:
                return name
        raise APIError(500, "InternalError", "could not generate a unique name")

    def all_objects(self) -> Iterable[tuple[ResourceType, Obj]]:
        with self._lock:
            snapshot = [(rt, list(self._objects[rt.key].values())) for rt in RESOURCE_TYPES]
        for rt, objs in snapshot:
            for obj in objs:
                yield rt, obj


def _ns_type() -> ResourceType:
    return next(rt for rt in RESOURCE_TYPES if rt.kind == "Namespace")


def _svc_type() -> ResourceType:
    return next(rt for rt in RESOURCE_TYPES if rt.kind == "Service")

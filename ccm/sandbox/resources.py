"""The resource types the sandbox serves, described once for routing, discovery and OpenAPI.

Everything the server knows about a type (its URL, whether it is namespaced, whether it
has a status subresource) comes from this table, so adding a type is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    has_status: bool = False
    short_names: tuple[str, ...] = ()
    singular: str = ""
    categories: tuple[str, ...] = field(default=())

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> str:
        """Unique name of the storage bucket: the same kind in two groups is two buckets."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, True, ("ns",)),
    ResourceType("", "v1", "Service", "services", True, True, ("svc",), categories=("all",)),
    ResourceType("", "v1", "Node", "nodes", False, True, ("no",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, False, ("cm",)),
    ResourceType("", "v1", "Event", "events", True, False, ("ev",)),
    ResourceType("", "v1", "Endpoints", "endpoints", True, False, ("ep",), singular="endpoints"),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType("events.k8s.io", "v1", "Event", "events", True, False, ("ev",)),
)


def groups() -> dict[str, list[str]]:
    """Named API groups and their versions, in a stable order (the core group is separate)."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCE_TYPES:
        if rt.group and rt.version not in out.setdefault(rt.group, []):
            out[rt.group].append(rt.version)
    return out


def find(group: str, version: str, plural: str) -> ResourceType | None:
    for rt in RESOURCE_TYPES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def in_group_version(group: str, version: str) -> list[ResourceType]:
    return [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]

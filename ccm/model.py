"""The types the core and every driver share (the contract in DESIGN.md).

They are frozen dataclasses built from plain JSON dicts, so the loop can compare what a
driver was asked for last time with what it is asked for now (`==`), and the leak
detector can compare identities, without either side knowing the other's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
AUTOSCALER_TAINT = "ToBeDeletedByClusterAutoscaler"

JSON = dict[str, Any]


class InvalidServiceSpec(Exception):
    """Bad input from the user: never retried until the Service changes."""

    def __init__(self, field: str, message: str, accepted: str = "") -> None:
        self.field = field
        self.message = message
        self.accepted = accepted
        text = f"{field}: {message}"
        if accepted:
            text += f" (accepted: {accepted})"
        super().__init__(text)


class RetryableError(Exception):
    """A failure worth retrying with backoff; `reason` becomes the Warning Event's reason."""

    def __init__(self, message: str, reason: str = "SyncLoadBalancerFailed") -> None:
        self.reason = reason
        super().__init__(message)


class PermanentError(RetryableError):
    """The cloud refused the request itself (bad certificate, quota, invalid parameter):
    sending it again soon cannot help, so the loop retries only on the next resync or
    when the Service changes, instead of backing off and rebuilding every few minutes."""


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def of(cls, service: JSON) -> ServiceRef:
        meta = service.get("metadata") or {}
        return cls(
            str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))
        )


@dataclass(frozen=True)
class ClusterInfo:
    name: str  # the cluster id every cloud resource is tagged with
    load_balancer_class: str = "ccm.dev/lb"


@dataclass(frozen=True)
class Node:
    name: str
    provider_id: str = ""
    internal_ips: tuple[str, ...] = ()
    external_ips: tuple[str, ...] = ()
    zone: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, obj: JSON) -> Node:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        addrs = (obj.get("status") or {}).get("addresses") or []
        return cls(
            name=str(meta.get("name", "")),
            provider_id=str((obj.get("spec") or {}).get("providerID", "")),
            internal_ips=tuple(a["address"] for a in addrs if a.get("type") == "InternalIP"),
            external_ips=tuple(a["address"] for a in addrs if a.get("type") == "ExternalIP"),
            zone=str(labels.get("topology.kubernetes.io/zone", "")),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        )


def node_is_eligible(obj: JSON) -> bool:
    """Whether a Node may receive load-balancer traffic, by the rules the upstream service
    controller applies: not excluded by label, not being removed by the autoscaler."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if EXCLUDE_LABEL in labels:
        return False
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return False
    taints = (obj.get("spec") or {}).get("taints") or []
    return not any(t.get("key") == AUTOSCALER_TAINT for t in taints)


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # TCP, UDP, SCTP (or HTTP/HTTPS for L7 drivers)
    node_port: int | None = None
    name: str = ""
    target_port: int | str | None = None
    app_protocol: str = ""


@dataclass(frozen=True)
class HealthCheck:
    protocol: str  # "TCP" or "HTTP"
    port: int | None  # None: the traffic port
    path: str = ""


@dataclass(frozen=True)
class LoadBalancerSpec:
    """What one Service asks of a driver. `options` holds the driver's own parsed settings;
    the names listed in `identity_options` cannot change in place (changing one replaces);
    those in `observed_options` describe the current state, not the user's intent."""

    service: ServiceRef
    kind: str
    listeners: tuple[Listener, ...]
    scheme: str = "external"
    source_ranges: tuple[str, ...] = ()
    health_check: HealthCheck | None = None
    external_traffic_policy: str = "Cluster"
    session_affinity: str = "None"
    tags: tuple[tuple[str, str], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    identity_options: tuple[str, ...] = ()
    observed_options: tuple[str, ...] = ()  # read from status, not asked for by the user

    def intent(self) -> LoadBalancerSpec:
        """The spec without observed state: what the loop compares to decide whether the
        user changed something (status written by us must not look like a change)."""
        kept = {k: v for k, v in self.options.items() if k not in self.observed_options}
        return replace(self, options=kept, observed_options=())

    def identity(self) -> tuple[Any, ...]:
        extra = tuple((k, _freeze(self.options.get(k))) for k in self.identity_options)
        return (self.service.uid, self.kind, self.scheme, *extra)


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class IngressPoint:
    ip: str = ""
    hostname: str = ""
    ip_mode: str = ""  # VIP or Proxy; empty leaves it to the API server's default

    def to_json(self) -> JSON:
        out: JSON = {}
        if self.ip:
            out["ip"] = self.ip
            if self.ip_mode:
                out["ipMode"] = self.ip_mode
        if self.hostname:
            out["hostname"] = self.hostname
        return out


READY_CONDITION = "ccm.dev/LoadBalancerReady"


@dataclass(frozen=True)
class LoadBalancerStatus:
    """What ensure reports. `ready` None: the driver cannot tell (no condition is written);
    False: the address is known but the load balancer is still provisioning. `followup`
    asks for another ensure once status is written (a replacement's old half to delete)."""

    ingress: tuple[IngressPoint, ...] = ()
    ready: bool | None = None
    followup: bool = False  # ensure again soon (e.g. a replaced LB to delete after the switch)

    def to_json(self) -> JSON:
        return {"ingress": [i.to_json() for i in self.ingress]} if self.ingress else {}


OURS = "ccm"  # OwnedResource.managed_by for what this controller created


@dataclass(frozen=True)
class OwnedResource:
    """One cloud resource a driver found tagged for this cluster.

    `identity` holds what `LeakAwareDriver.resource_identity(spec)` returns for the spec
    the resource was built for, so the leak detector can tell a replacement's leftover
    from the live load balancer without knowing the driver. `managed_by` is "ccm" for our
    own resources, or the controller that made a legacy one ("cloud-provider-aws",
    "aws-load-balancer-controller"); `keep` marks the user's `ccm.dev/keep=true`;
    `addresses` are the IPs/hostnames it serves, so a resource that a Service's status
    still points at is never taken for a leftover.
    """

    provider: str
    kind: str  # e.g. "address", "load-balancer", "target-group"
    id: str
    cluster: str
    owner: ServiceRef | None  # None for shared resources
    identity: tuple[Any, ...] = ()
    created_at: datetime | None = None
    shared: bool = False
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    managed_by: str = OURS
    keep: bool = False
    addresses: tuple[str, ...] = ()
    name: str = ""  # a human name where the id is an ARN or a URL
    delete_order: int = 0  # lower goes first: a load balancer before its target groups

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider, self.kind, self.id)


class IncompleteListing(Exception):
    """A cloud listing failed part-way or looks truncated (a page missing, a pagination
    token repeated): the leak detector must delete nothing on the strength of it."""


@dataclass(frozen=True)
class PriceBook:
    """One provider's list prices in one region, with where they came from, so every
    figure the audit prints can be traced to a source and a date."""

    provider: str
    region: str
    currency: str = "USD"
    hourly: Mapping[str, float] = field(default_factory=dict, hash=False)
    source: str = ""
    date: str = ""
    descriptions: Mapping[str, str] = field(default_factory=dict, hash=False)
    estimated: frozenset[str] = frozenset()  # rate keys the file marks as not list-exact
    flat_rate: str = ""  # the key charged for a load balancer no known controller made
    file: str = ""


@dataclass(frozen=True)
class CostLine:
    """One billed quantity per hour: `quantity` units of `item` at `rate` each."""

    item: str  # the price-file key, e.g. "nlb", "public_ipv4", "lcu"
    description: str
    quantity: float
    rate: float
    exact: bool
    note: str = ""

    @property
    def hourly(self) -> float:
        return self.quantity * self.rate

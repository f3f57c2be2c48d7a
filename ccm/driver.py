"""The driver contract and how drivers are found.

Drivers register a factory under the `ccm.providers` entry-point group, so a third-party
driver is a package that declares one entry point; the core imports no driver by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from ccm.model import (
    JSON,
    ClusterInfo,
    CostLine,
    LoadBalancerSpec,
    LoadBalancerStatus,
    Node,
    OwnedResource,
    PriceBook,
    ServiceRef,
)

ENTRY_POINT_GROUP = "ccm.providers"


@dataclass(frozen=True)
class DriverOptions:
    """What the core hands a driver factory: the cluster and the driver's own settings.

    `config` is the text of the provider configuration (from `--provider-config FILE` or a
    ConfigMap's data), already read by the core, because drivers never talk to Kubernetes.
    """

    cluster: ClusterInfo
    config: Mapping[str, str] = field(default_factory=dict, hash=False)
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)


@runtime_checkable
class Driver(Protocol):
    name: str

    def parse(self, service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
        """Pure; raises InvalidServiceSpec(field, message, accepted) on bad input."""
        ...

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        """Create or converge; idempotent; replaces when identity changed."""
        ...

    def delete(self, ref: ServiceRef) -> None:
        """Remove everything that Service owns; succeeds when some or all are already gone."""
        ...

    def inventory(self) -> Iterable[OwnedResource]: ...

    def prices(self) -> PriceBook: ...


@runtime_checkable
class ObservingDriver(Protocol):
    """Optional: drivers whose state lives in the cluster (the pool driver's allocations)
    rebuild it from the owned Services before the first reconcile."""

    def observe(self, services: list[JSON], cluster: ClusterInfo) -> None: ...


@runtime_checkable
class PlanningDriver(Protocol):
    """Optional: describe, without changing anything, what ensure would do."""

    def plan(self, spec: LoadBalancerSpec, nodes: list[Node]) -> list[str]: ...


@runtime_checkable
class ConfigurableDriver(Protocol):
    """Optional: accept new configuration at run time (the ConfigMap changed)."""

    def configure(self, config: Mapping[str, str]) -> None: ...


@runtime_checkable
class ProbingDriver(Protocol):
    """Optional: one cheap read that proves the cloud API answers with our credentials,
    for /readyz. Raises when it does not. A driver without it is taken as reachable."""

    def probe(self) -> None: ...


@runtime_checkable
class LeakAwareDriver(Protocol):
    """Optional, for drivers whose resources the leak detector removes one by one.

    A driver without it still plugs in: the detector compares `spec.identity()` with
    `OwnedResource.identity`, removes whole-Service orphans with `delete(ref)`, and only
    reports what that cannot express (a replacement's leftover, an unused shared resource).
    """

    def resource_identity(self, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        """The `OwnedResource.identity` of resources built for this spec."""
        ...

    def delete_resources(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        """Delete exactly these, in dependency order, retrying "in use"; one outcome each.
        Already gone counts as deleted."""
        ...

    def protected_ids(self, service: JSON) -> set[str]:
        """Ids of user-owned resources the Service's annotations name (an EIP, a security
        group, a static IP): never deleted, whoever they look owned by."""
        ...

    def legacy_wanted(self, resource: OwnedResource, service: JSON | None) -> bool:
        """Whether the legacy controller that made `resource` would still keep it for
        `service` (None: the Service is gone)."""
        ...


@runtime_checkable
class CostAwareDriver(Protocol):
    """Optional, for drivers whose bill is more than one rate per resource (public IPs per
    zone, capacity units, rules beyond an included number). Without it every resource
    costs one unit of the rate named by `details["price_key"]` (or its kind)."""

    price_region: str  # the region key its price file is read with

    def cost_lines(
        self,
        resources: Sequence[OwnedResource],
        prices: PriceBook,
        capacity_units: Callable[[OwnedResource], float | None],
    ) -> dict[tuple[str, str, str], list[CostLine]]:
        """Per `OwnedResource.key`, what it bills an hour. Takes the whole inventory at
        once because some clouds price tiers across resources (the first five rules)."""
        ...

    def consolidated_cost(self, prices: PriceBook, scheme: str) -> list[CostLine]:
        """What one shared HTTP(S) load balancer (an Ingress or Gateway) of this scheme
        would bill an hour: the figure consolidation savings are computed against."""
        ...


@dataclass(frozen=True)
class DeleteOutcome:
    resource: OwnedResource
    error: str = ""  # empty: deleted (or already gone)


DriverFactory = Callable[[DriverOptions], Driver]


class UnknownProvider(LookupError):
    pass


def installed_providers() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_driver(name: str, options: DriverOptions) -> Driver:
    providers = installed_providers()
    if name not in providers:
        known = ", ".join(sorted(providers)) or "none"
        raise UnknownProvider(f"--provider: unknown provider {name!r}; installed: {known}")
    factory: DriverFactory = providers[name].load()
    driver = factory(options)
    if not isinstance(driver, Driver):
        raise TypeError(f"provider {name!r} does not implement the driver contract")
    return driver

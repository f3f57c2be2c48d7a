"""The bare-metal address-pool driver: hands LoadBalancer Services an IP from the operator's
pools, the job MetalLB's controller does. There is no cloud; the allocation table is the
only state, and it is rebuilt from the Services' status at start-up (`observe`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ccm.model import (
    JSON,
    ClusterInfo,
    CostLine,
    IngressPoint,
    InvalidServiceSpec,
    LoadBalancerSpec,
    LoadBalancerStatus,
    Node,
    OwnedResource,
    PriceBook,
    RetryableError,
    ServiceRef,
)
from ccm.pricing import line, load_prices
from providers.pool.addresses import parse_ip
from providers.pool.allocator import Allocator, Holder
from providers.pool.config import Pool, load_config, pool_of
from providers.pool.service import (
    guarded_tenant,
    read_service,
    request_for,
    status_ips,
    tenant_for,
)
from providers.pool.validation import check_against_pools

log = logging.getLogger(__name__)

_NEVER = datetime.max.replace(tzinfo=UTC)


class PoolDriver:
    name = "pool"

    def __init__(self, cluster: ClusterInfo, config: Mapping[str, str] | None = None) -> None:
        self._cluster = cluster
        self._pools: tuple[Pool, ...] = tuple(load_config(config or {}))
        self._allocator = Allocator()

    @property
    def pools(self) -> tuple[Pool, ...]:
        return self._pools

    def parse(self, service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
        """Pure: reads the pools, never the allocations. With no pools configured at all the
        pool checks are skipped, so the Service fails (retryably) at ensure and recovers
        once the operator supplies a configuration."""
        reading = read_service(service)
        pools = self._pools
        if pools:
            check_against_pools(reading, pools)
        return reading.spec

    def observe(self, services: list[JSON], cluster: ClusterInfo) -> None:
        pools = self._pools
        claims: list[tuple[str, Holder]] = []
        for service in sorted(services, key=_age):
            tenant = _observed_tenant(service)
            for ip in status_ips(service):
                pool = pool_of(parse_ip(ip), pools)
                if pool is None:
                    log.info("pool: ignoring %s shown by %s: not in any pool", ip, tenant.key)
                    continue
                claims.append((ip, replace(tenant, pool=pool.name)))
        for refused in self._allocator.rebuild(claims):
            log.warning("pool: %s; the other Service gets a new IP at its next ensure", refused)

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        decision = self._allocator.assign(request_for(spec), self._pools)
        for step in decision.allocate:
            log.info("pool: %s gets %s from pool %s", spec.service.key, step.ip, step.pool)
        for ip in decision.release:
            log.info("pool: %s released %s", spec.service.key, ip)
        return LoadBalancerStatus(tuple(IngressPoint(ip=ip, ip_mode="VIP") for ip in decision.ips))

    def delete(self, ref: ServiceRef) -> None:
        for ip in self._allocator.release(ref.key, ref.uid):
            log.info("pool: %s released %s", ref.key, ip)

    def inventory(self) -> list[OwnedResource]:
        return [
            OwnedResource(
                provider="pool",
                kind="address",
                id=ip,
                cluster=self._cluster.name,
                owner=_ref(holder),
                identity=holder.identity,
                details={"pool": holder.pool, "shared": holder.sharing_key},
            )
            for ip, holder in self._allocator.holdings()
        ]

    def prices(self) -> PriceBook:
        return load_prices("providers.pool", "pool", self.price_region)

    # ------------------------------------------------------------ cost audit hooks

    price_region = "on-prem"

    def cost_lines(
        self,
        resources: Sequence[OwnedResource],
        prices: PriceBook,
        capacity_units: Callable[[OwnedResource], float | None],
    ) -> dict[tuple[str, str, str], list[CostLine]]:
        return {r.key: [line(prices, "address", 1)] for r in resources}

    def consolidated_cost(self, prices: PriceBook, scheme: str) -> list[CostLine]:
        return [line(prices, "address", 1)]

    def plan(self, spec: LoadBalancerSpec, nodes: list[Node]) -> list[str]:
        try:
            decision = self._allocator.decide(request_for(spec), self._pools)
        except RetryableError as exc:
            return [f"cannot allocate: {exc}"]
        kept = {s.ip for s in decision.keep}
        lines = []
        for step in decision.steps:
            if step.ip in kept:
                lines.append(f"keep {step.ip} (pool {step.pool})")
            else:
                shared = f" (shared with {', '.join(step.shared_with)})" if step.shared_with else ""
                lines.append(f"allocate {step.ip} from pool {step.pool}{shared}")
        lines.extend(f"release {ip}" for ip in decision.release)
        return lines

    def configure(self, config: Mapping[str, str]) -> None:
        """Allocations outside the new pools are left alone until their Service is ensured
        again, so a typo in the ConfigMap does not yank addresses from running Services."""
        self._pools = tuple(load_config(config))
        log.info("pool: %d pools configured: %s", len(self._pools), _names(self._pools))


def _observed_tenant(service: JSON) -> Holder:
    try:
        return tenant_for(read_service(service).spec)
    except InvalidServiceSpec as exc:
        ref = ServiceRef.of(service)
        log.warning("pool: %s does not parse (%s); its address is kept, unshared", ref.key, exc)
        return guarded_tenant(service)


def _age(service: JSON) -> tuple[datetime, str]:
    """Oldest first, so on a conflict the Service that has had the address longest keeps
    it; a missing or unreadable timestamp counts as newest."""
    meta = service.get("metadata") or {}
    key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    try:
        created = datetime.fromisoformat(str(meta.get("creationTimestamp")))
    except ValueError:
        return _NEVER, key
    return (created if created.tzinfo else created.replace(tzinfo=UTC)), key


def _ref(holder: Holder) -> ServiceRef:
    namespace, _, name = holder.key.partition("/")
    return ServiceRef(namespace, name, holder.uid)


def _names(pools: tuple[Pool, ...]) -> str:
    return ", ".join(p.name for p in pools) or "none"

"""The GCP driver: a passthrough Network Load Balancer per Service, external or internal,
on the backend-service model, through google-cloud-compute.

Per Service (names from cluster id + UID + spec identity): a regional forwarding rule on
an address ccm reserves (or the user's static address), a regional backend service, a
firewall rule for the Service ports from the source ranges and, with
`externalTrafficPolicy: Local`, an HTTP health check on the health check node port and
its firewall. Shared by the cluster's Services: one unmanaged instance group per zone
holding the nodes, kube-proxy's /healthz health check and its firewall.

Passthrough load balancers deliver packets to the nodes with the load balancer's address
and the Service port as destination (kube-proxy answers for that address), so the
firewall opens the Service ports, not node ports, as GKE's own controller does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from ccm.model import (
    JSON,
    ClusterInfo,
    CostLine,
    IngressPoint,
    LoadBalancerSpec,
    LoadBalancerStatus,
    Node,
    OwnedResource,
    PermanentError,
    PriceBook,
    RetryableError,
    ServiceRef,
)
from providers.gcp import annotations as A
from providers.gcp import costs
from providers.gcp import names as N
from providers.gcp.calls import Compute, OperationError, is_in_use, is_quota
from providers.gcp.cleanup import Cleaner
from providers.gcp.inventory import DELETE_ORDER, list_owned
from providers.gcp.prices import load_prices

log = logging.getLogger(__name__)

API = "https://www.googleapis.com/compute/v1/"
# Where Google's health checkers connect from (external passthrough NLB and internal
# passthrough NLB together).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22")
HC_INTERVAL, HC_TIMEOUT, HC_HEALTHY, HC_UNHEALTHY = 8, 1, 1, 3  # GKE's values
AFFINITY = {"None": "NONE", "ClientIP": "CLIENT_IP"}


def instance_of(node: Node) -> tuple[str, str] | None:
    """(zone, instance name) from providerID gce://PROJECT/ZONE/NAME."""
    if not node.provider_id.startswith("gce://"):
        return None
    parts = node.provider_id[len("gce://") :].split("/")
    return (parts[1], parts[2]) if len(parts) == 3 and all(parts) else None


def _by_zone(members: frozenset[tuple[str, str]]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for zone, name in members:
        out.setdefault(zone, set()).add(name)
    return {z: frozenset(n) for z, n in out.items()}


def _last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _ref(url: str) -> str:
    """A resource reference without its host: full URLs and partial paths compare."""
    at = url.find("projects/")
    return (url[at:] if at >= 0 else url).rstrip("/")


def _same(a: str, b: str) -> bool:
    return _ref(a) == _ref(b)


@dataclass
class _Network:
    network: str = ""
    subnetwork: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class _NodeState:
    """What this process last made the instance groups hold: a hint that saves reads on
    a steady resync, never the truth (a restart, or another writer, re-reads the cloud)."""

    members: frozenset[tuple[str, str]] = frozenset()
    groups: dict[str, str] = field(default_factory=dict)  # zone -> group URL (with nodes)
    shared_health: bool = False


class GcpDriver:
    name = "gcp"

    def __init__(
        self,
        cluster: ClusterInfo,
        compute: Compute,
        region: str,
        *,
        network: str = "",
        subnetwork: str = "",
        node_tags: Sequence[str] = (),
        prices_file: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.compute = compute
        self.c = compute.clients
        self.project = compute.project
        self.region = region
        self.prices_file = prices_file
        self._net = _Network(network, subnetwork, tuple(node_tags))
        self._nodes = _NodeState()
        self._lock = threading.Lock()  # instance groups and shared health checks
        self._tl = threading.local()  # per reconcile: what this ensure inserted

    @property
    def cid(self) -> str:
        return self.cluster.name

    # ------------------------------------------------------------ parse

    def probe(self) -> None:
        """For /readyz: the region read the driver already needs for its zones."""
        self.compute.read("regions.get", self.c.regions.get, region=self.region)

    def parse(self, service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
        return A.parse(service, cluster)

    # ------------------------------------------------------------ urls

    def _regional(self, collection: str, name: str) -> str:
        return f"{API}projects/{self.project}/regions/{self.region}/{collection}/{name}"

    def _zonal(self, zone: str, collection: str, name: str) -> str:
        return f"{API}projects/{self.project}/zones/{zone}/{collection}/{name}"

    def _global(self, collection: str, name: str) -> str:
        return f"{API}projects/{self.project}/global/{collection}/{name}"

    # ------------------------------------------------------------ ensure

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        self._tl.created = []
        try:
            return self._ensure(spec, nodes)
        except OperationError as e:
            refusal = _refusal(e)
        except gexc.GoogleAPICallError as e:
            if not (is_quota(e) or isinstance(e, gexc.BadRequest)):
                raise
            refusal = _refusal(e)
        if isinstance(refusal, PermanentError):
            self._roll_back(spec)
        raise refusal

    def _roll_back(self, spec: LoadBalancerSpec) -> None:
        """A refused create leaves nothing: what this call inserted for the Service goes
        (shared instance groups and the node health check stay for the others)."""
        created: list[tuple[str, str]] = self._tl.created
        if not created:
            return
        doomed = [
            OwnedResource(
                provider="gcp",
                kind=kind,
                id=name,
                cluster=self.cid,
                owner=spec.service,
                name=name,
                delete_order=DELETE_ORDER[kind],
            )
            for kind, name in created
        ]
        for outcome in Cleaner(self.compute, self.region).delete(doomed):
            if outcome.error:
                log.warning(
                    "%s: roll-back left %s: %s",
                    spec.service.key,
                    outcome.resource.id,
                    outcome.error,
                )

    def _ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        ident = A.identity_hash(spec)
        base = N.base_name(self.cid, spec.service.uid, ident)
        rules = self._service_rules(spec.service.uid)
        self._discover_network(nodes)
        groups = self._sync_nodes(nodes)
        health = self._health_check(spec, base)
        address = self._address(spec, base, ident)
        backend, previous_health = self._backend_service(spec, base, ident, health, groups)
        own_health = self._regional("healthChecks", N.health_check_name(base))
        if spec.external_traffic_policy == "Cluster" and any(
            _same(h, own_health) for h in previous_health
        ):
            self._drop_local_health(base)  # Local -> Cluster: its own check is unused now
        self._firewall(spec, base, ident)
        rule = self._forwarding_rule(spec, base, ident, address, backend, rules.get(base))
        ip = str(rule.I_p_address)
        stale = {name: r for name, r in rules.items() if name != base}
        followup = False
        if stale:
            if ip in spec.options.get("status_ips", ()):
                self._delete_service(spec.service, keep=ident)
            else:
                followup = True
                log.info(
                    "%s: replacement %s is up; the old one goes once status shows it",
                    spec.service.key,
                    base,
                )
        return LoadBalancerStatus(
            ingress=(IngressPoint(ip=ip, ip_mode="VIP"),), ready=True, followup=followup
        )

    def _owner(self, spec: LoadBalancerSpec, ident: str, role: str) -> N.Owner:
        return N.Owner(self.cid, spec.service.uid, spec.service.key, ident, role)

    def _service_rules(self, uid: str) -> dict[str, compute_v1.ForwardingRule]:
        """This Service's forwarding rules of every identity, in one filtered list."""
        found = self.compute.list(
            "forwardingRules.list",
            self.c.forwarding_rules.list,
            region=self.region,
            filter=f'name eq "{N.service_prefix(self.cid, uid)}.*"',
        )
        out = {}
        for r in found:
            owner = N.owner_of(r.description)
            if owner is not None and owner.cluster == self.cid and owner.uid == uid:
                out[r.name] = r
        return out

    def _discover_network(self, nodes: Sequence[Node]) -> None:
        """The cluster's network and subnetwork, and the nodes' tags, from one node's
        instance unless configured; read once per process."""
        need_tags = not self._net.tags
        if self._net.network and self._net.subnetwork and not need_tags:
            return
        for node in nodes:
            where = instance_of(node)
            if where is None:
                continue
            inst = self._instance(*where)
            if inst is None:
                continue
            nic = inst.network_interfaces[0] if inst.network_interfaces else None
            if nic is not None:
                self._net.network = self._net.network or nic.network
                self._net.subnetwork = self._net.subnetwork or nic.subnetwork
            if need_tags:
                self._net.tags = tuple(sorted(set(inst.tags.items) if inst.tags else set()))
            return
        if not self._net.network:
            raise RetryableError("no node with a gce:// providerID to find the network from")

    def _instance(self, zone: str, name: str) -> compute_v1.Instance | None:
        inst: compute_v1.Instance | None = self.compute.get_or_none(
            "instances.get", self.c.instances.get, zone=zone, instance=name
        )
        return inst

    # ------------------------------------------------------------ nodes

    def _sync_nodes(self, nodes: Sequence[Node]) -> dict[str, str]:
        """Make each zone's instance group hold exactly the eligible nodes there; returns
        zone -> group URL for the zones that have nodes."""
        members = frozenset(w for w in (instance_of(n) for n in nodes) if w is not None)
        with self._lock:
            if members == self._nodes.members and self._nodes.groups:
                return dict(self._nodes.groups)
            by_zone: dict[str, set[str]] = {}
            for zone, name in members:
                by_zone.setdefault(zone, set()).add(self._zonal(zone, "instances", name))
            known = bool(self._nodes.groups)
            # First sync in this process: every zone of the region, so a group left with
            # a departed node elsewhere is emptied too. After that, only the zones whose
            # members changed.
            zones = set(by_zone) | set(self._nodes.groups)
            if not known:
                zones |= self._region_zones()
            before = _by_zone(self._nodes.members)
            groups = dict(self._nodes.groups) if known else {}
            for zone in sorted(zones):
                want = by_zone.get(zone, set())
                if known and zone in groups and before.get(zone) == _by_zone(members).get(zone):
                    continue
                url = self._sync_group(zone, want)
                if url is not None and want:
                    groups[zone] = url
                else:
                    groups.pop(zone, None)
            self._nodes.members = members
            self._nodes.groups = groups
            return dict(groups)

    def _region_zones(self) -> set[str]:
        region = self.compute.read("regions.get", self.c.regions.get, region=self.region)
        return {_last(z) for z in region.zones}

    def _sync_group(self, zone: str, want: set[str]) -> str | None:
        name = N.instance_group_name(self.cid)
        group = self.compute.get_or_none(
            "instanceGroups.get", self.c.instance_groups.get, zone=zone, instance_group=name
        )
        if group is None:
            if not want:
                return None
            self._insert(
                "instanceGroups.insert",
                self.c.instance_groups.insert_unary,
                zone=zone,
                instance_group_resource=compute_v1.InstanceGroup(
                    name=name,
                    network=self._net.network,
                    description=N.Owner(self.cid, role="instance-group").description(),
                ),
            )
            have: set[str] = set()
        else:
            listed = self.compute.list(
                "instanceGroups.listInstances",
                self.c.instance_groups.list_instances,
                zone=zone,
                instance_group=name,
                instance_groups_list_instances_request_resource=compute_v1.InstanceGroupsListInstancesRequest(
                    instance_state="ALL"
                ),
            )
            have = {i.instance for i in listed}
        add = sorted(u for u in want if not any(_same(u, h) for h in have))
        remove = sorted(h for h in have if not any(_same(h, u) for u in want))
        if add:
            self.compute.write(
                "instanceGroups.addInstances",
                self.c.instance_groups.add_instances_unary,
                zone=zone,
                instance_group=name,
                instance_groups_add_instances_request_resource=compute_v1.InstanceGroupsAddInstancesRequest(
                    instances=[compute_v1.InstanceReference(instance=u) for u in add]
                ),
            )
        if remove:
            self.compute.write(
                "instanceGroups.removeInstances",
                self.c.instance_groups.remove_instances_unary,
                zone=zone,
                instance_group=name,
                instance_groups_remove_instances_request_resource=compute_v1.InstanceGroupsRemoveInstancesRequest(
                    instances=[compute_v1.InstanceReference(instance=u) for u in remove]
                ),
            )
        return self._zonal(zone, "instanceGroups", name)

    # ------------------------------------------------------------ health checks

    def _health_check(self, spec: LoadBalancerSpec, base: str) -> str:
        hc = spec.health_check
        assert hc is not None and hc.port is not None
        if spec.external_traffic_policy == "Local":
            name = N.health_check_name(base)
            owner = self._owner(spec, A.identity_hash(spec), "health-check")
            self._ensure_health_check(name, hc.port, owner)
            self._ensure_firewall(
                N.health_check_firewall_name(base),
                HEALTH_CHECK_RANGES,
                "TCP",
                (str(hc.port),),
                self._owner(spec, A.identity_hash(spec), "health-check-firewall"),
            )
            return self._regional("healthChecks", name)
        name = N.node_health_check_name(self.cid)
        with self._lock:
            if not self._nodes.shared_health:
                self._ensure_health_check(
                    name, hc.port, N.Owner(self.cid, role="node-health-check")
                )
                self._ensure_firewall(
                    N.node_health_check_firewall_name(self.cid),
                    HEALTH_CHECK_RANGES,
                    "TCP",
                    (str(hc.port),),
                    N.Owner(self.cid, role="node-health-check-firewall"),
                )
                self._nodes.shared_health = True
        return self._regional("healthChecks", name)

    def _ensure_health_check(self, name: str, port: int, owner: N.Owner) -> None:
        want = compute_v1.HealthCheck(
            name=name,
            description=owner.description(),
            type_="HTTP",
            http_health_check=compute_v1.HTTPHealthCheck(port=port, request_path=A.HEALTHZ),
            check_interval_sec=HC_INTERVAL,
            timeout_sec=HC_TIMEOUT,
            healthy_threshold=HC_HEALTHY,
            unhealthy_threshold=HC_UNHEALTHY,
        )
        have = self.compute.get_or_none(
            "regionHealthChecks.get",
            self.c.health_checks.get,
            region=self.region,
            health_check=name,
        )
        if have is None:
            self._insert(
                "regionHealthChecks.insert",
                self.c.health_checks.insert_unary,
                owned="health-check" if owner.uid else "",
                region=self.region,
                health_check_resource=want,
            )
        elif (
            have.http_health_check.port != port or have.http_health_check.request_path != A.HEALTHZ
        ):
            self.compute.write(
                "regionHealthChecks.patch",
                self.c.health_checks.patch_unary,
                region=self.region,
                health_check=name,
                health_check_resource=compute_v1.HealthCheck(
                    type_="HTTP", http_health_check=want.http_health_check
                ),
            )

    # ------------------------------------------------------------ address

    def _address(self, spec: LoadBalancerSpec, base: str, ident: str) -> str:
        """The forwarding rule's IP: the user's static address (must exist; never ours to
        release), or one ccm reserves under the rule's name so the IP survives the rule
        being re-created for a port change."""
        scheme = spec.options["scheme"]
        requested = str(spec.options.get("requested_ip") or "")
        if requested:
            return self._users_address(requested, scheme)
        have = self.compute.get_or_none(
            "addresses.get", self.c.addresses.get, region=self.region, address=base
        )
        if have is not None:
            return str(have.address)
        resource = compute_v1.Address(
            name=base,
            description=self._owner(spec, ident, "address").description(),
            address_type=scheme,
            labels=N.labels(self.cid, spec.service.uid),
        )
        if scheme == A.INTERNAL:
            resource.subnetwork = self._subnetwork(spec)
        else:
            resource.network_tier = spec.options["network_tier"]
        self._insert(
            "addresses.insert",
            self.c.addresses.insert_unary,
            owned="address",
            region=self.region,
            address_resource=resource,
        )
        made = self.compute.read(
            "addresses.get", self.c.addresses.get, region=self.region, address=base
        )
        return str(made.address)

    def _users_address(self, ip: str, scheme: str) -> str:
        found = self.compute.list(
            "addresses.list", self.c.addresses.list, region=self.region, filter=f'address = "{ip}"'
        )
        match = [a for a in found if a.address == ip]
        if not match:
            raise PermanentError(
                f"spec.loadBalancerIP: {ip} is not a reserved static address in region "
                f"{self.region}; reserve it first (gcloud compute addresses create)",
                reason="LoadBalancerIPNotReserved",
            )
        if match[0].address_type and match[0].address_type != scheme:
            raise PermanentError(
                f"spec.loadBalancerIP: {ip} is a {match[0].address_type} address; this "
                f"Service needs an {scheme} one",
                reason="LoadBalancerIPWrongType",
            )
        return ip

    def _subnetwork(self, spec: LoadBalancerSpec) -> str:
        subnet = str(spec.options.get("subnet") or "")
        if subnet:
            return self._regional("subnetworks", subnet)
        return self._net.subnetwork

    # ------------------------------------------------------------ backend service

    def _backend_service(
        self,
        spec: LoadBalancerSpec,
        base: str,
        ident: str,
        health: str,
        groups: dict[str, str],
    ) -> tuple[str, list[str]]:
        """The backend service's URL, and the health checks it used before this call."""
        backends = [
            compute_v1.Backend(group=url, balancing_mode="CONNECTION")
            for _, url in sorted(groups.items())
        ]
        affinity = AFFINITY[spec.session_affinity]
        have = self.compute.get_or_none(
            "regionBackendServices.get",
            self.c.backend_services.get,
            region=self.region,
            backend_service=base,
        )
        previous = list(have.health_checks) if have is not None else []
        if have is None:
            resource = compute_v1.BackendService(
                name=base,
                description=self._owner(spec, ident, "backend-service").description(),
                load_balancing_scheme=spec.options["scheme"],
                protocol=spec.options["protocol"],
                health_checks=[health],
                backends=backends,
                session_affinity=affinity,
            )
            if spec.options["scheme"] == A.INTERNAL:
                resource.network = self._net.network
            self._insert(
                "regionBackendServices.insert",
                self.c.backend_services.insert_unary,
                owned="backend-service",
                region=self.region,
                backend_service_resource=resource,
            )
        else:
            same_groups = {_ref(b.group) for b in have.backends} == {
                _ref(b.group) for b in backends
            }
            same_health = len(have.health_checks) == 1 and _same(have.health_checks[0], health)
            if not (same_groups and same_health and have.session_affinity == affinity):
                self.compute.write(
                    "regionBackendServices.patch",
                    self.c.backend_services.patch_unary,
                    region=self.region,
                    backend_service=base,
                    backend_service_resource=compute_v1.BackendService(
                        health_checks=[health],
                        backends=backends,
                        session_affinity=affinity,
                        fingerprint=have.fingerprint,
                    ),
                )
        return self._regional("backendServices", base), previous

    def _drop_local_health(self, base: str) -> None:
        self._delete_ignoring_missing(
            "firewalls.delete",
            self.c.firewalls.delete_unary,
            firewall=N.health_check_firewall_name(base),
        )
        self._delete_ignoring_missing(
            "regionHealthChecks.delete",
            self.c.health_checks.delete_unary,
            region=self.region,
            health_check=N.health_check_name(base),
        )

    # ------------------------------------------------------------ firewalls

    def _firewall(self, spec: LoadBalancerSpec, base: str, ident: str) -> None:
        ports = tuple(str(lst.port) for lst in spec.listeners)
        self._ensure_firewall(
            N.firewall_name(base),
            spec.source_ranges,
            spec.options["protocol"],
            ports,
            self._owner(spec, ident, "firewall"),
        )

    def _ensure_firewall(
        self,
        name: str,
        sources: Sequence[str],
        protocol: str,
        ports: Sequence[str],
        owner: N.Owner,
    ) -> None:
        allowed = [compute_v1.Allowed(I_p_protocol=protocol.lower(), ports=list(ports))]
        have = self.compute.get_or_none("firewalls.get", self.c.firewalls.get, firewall=name)
        if have is None:
            self._insert(
                "firewalls.insert",
                self.c.firewalls.insert_unary,
                owned="firewall" if owner.uid else "",
                firewall_resource=compute_v1.Firewall(
                    name=name,
                    description=owner.description(),
                    network=self._net.network,
                    direction="INGRESS",
                    source_ranges=list(sources),
                    allowed=allowed,
                    target_tags=list(self._net.tags),
                ),
            )
            return
        same = (
            sorted(have.source_ranges) == sorted(sources)
            and [(a.I_p_protocol, sorted(a.ports)) for a in have.allowed]
            == [(protocol.lower(), sorted(ports))]
            and sorted(have.target_tags) == sorted(self._net.tags)
        )
        if not same:
            self.compute.write(
                "firewalls.patch",
                self.c.firewalls.patch_unary,
                firewall=name,
                firewall_resource=compute_v1.Firewall(
                    source_ranges=list(sources), allowed=allowed, target_tags=list(self._net.tags)
                ),
            )

    # ------------------------------------------------------------ forwarding rule

    def _rule_resource(
        self, spec: LoadBalancerSpec, base: str, ident: str, address: str, backend: str
    ) -> compute_v1.ForwardingRule:
        ports = [str(lst.port) for lst in spec.listeners]
        rule = compute_v1.ForwardingRule(
            name=base,
            description=self._owner(spec, ident, "forwarding-rule").description(),
            I_p_address=address,
            I_p_protocol=spec.options["protocol"],
            load_balancing_scheme=spec.options["scheme"],
            backend_service=backend,
            labels=N.labels(self.cid, spec.service.uid),
        )
        if len(ports) > A.MAX_LISTED_PORTS:
            rule.all_ports = True
        else:
            rule.ports = ports
        if spec.options["scheme"] == A.INTERNAL:
            rule.network = self._net.network
            rule.subnetwork = self._subnetwork(spec)
            rule.allow_global_access = bool(spec.options["allow_global_access"])
        else:
            rule.network_tier = spec.options["network_tier"]
        return rule

    def _forwarding_rule(
        self,
        spec: LoadBalancerSpec,
        base: str,
        ident: str,
        address: str,
        backend: str,
        have: compute_v1.ForwardingRule | None,
    ) -> compute_v1.ForwardingRule:
        want = self._rule_resource(spec, base, ident, address, backend)
        if have is not None:
            shape_changed = (
                sorted(have.ports) != sorted(want.ports)
                or bool(have.all_ports) != bool(want.all_ports)
                or have.I_p_address != want.I_p_address
            )
            if shape_changed:
                # Ports and address are immutable on a forwarding rule; the address is
                # reserved, so the IP comes back with the new rule.
                log.info("%s: re-creating forwarding rule %s for new ports", spec.service.key, base)
                self._delete_ignoring_missing(
                    "forwardingRules.delete",
                    self.c.forwarding_rules.delete_unary,
                    region=self.region,
                    forwarding_rule=base,
                )
                have = None
            elif spec.options["scheme"] == A.INTERNAL and bool(have.allow_global_access) != bool(
                want.allow_global_access
            ):
                self.compute.write(
                    "forwardingRules.patch",
                    self.c.forwarding_rules.patch_unary,
                    region=self.region,
                    forwarding_rule=base,
                    forwarding_rule_resource=compute_v1.ForwardingRule(
                        allow_global_access=want.allow_global_access
                    ),
                )
                have.allow_global_access = want.allow_global_access
        if have is None:
            self._insert(
                "forwardingRules.insert",
                self.c.forwarding_rules.insert_unary,
                owned="forwarding-rule",
                region=self.region,
                forwarding_rule_resource=want,
            )
            made: compute_v1.ForwardingRule = self.compute.read(
                "forwardingRules.get",
                self.c.forwarding_rules.get,
                region=self.region,
                forwarding_rule=base,
            )
            return made
        return have

    # ------------------------------------------------------------ helpers

    def _insert(self, label: str, fn: Callable[..., Any], owned: str = "", **kwargs: Any) -> None:
        """Insert; an insert that already happened (a retried request, a restart
        mid-create, another worker) finds its resource by name and is done. `owned` is
        the kind of a per-Service resource, recorded for a roll-back."""
        try:
            self.compute.write(label, fn, **kwargs)
        except gexc.Conflict:
            log.info("%s: already exists (deterministic name); using it", label)
            return
        if owned:
            resource = next(v for k, v in kwargs.items() if k.endswith("_resource"))
            self._tl.created.append((owned, str(resource.name)))

    def _delete_ignoring_missing(self, label: str, fn: Callable[..., Any], **kwargs: Any) -> None:
        with contextlib.suppress(gexc.NotFound):
            self.compute.write(label, fn, **kwargs)

    # ------------------------------------------------------------ delete

    def delete(self, ref: ServiceRef) -> None:
        self._delete_service(ref, keep=None)

    def _delete_service(self, ref: ServiceRef, keep: str | None) -> None:
        """Every resource of the Service (of every identity but `keep`), in dependency
        order; what is already gone counts as deleted."""
        owned = [
            r
            for r in list_owned(self.compute, self.cid, self.region, service_uid=ref.uid)
            if r.owner is not None
            and r.owner.uid == ref.uid
            and (keep is None or r.identity != (keep,))
        ]
        failed = [o for o in self.delete_resources(owned) if o.error]
        if failed:
            raise RetryableError(
                f"could not delete {len(failed)} of {len(owned)} resources: {failed[0].error}"
            )

    # ------------------------------------------------------------ inventory, leaks, prices

    def inventory(self) -> Iterable[OwnedResource]:
        return list_owned(self.compute, self.cid, self.region, zones=self._region_zones())

    def resource_identity(self, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        return (A.identity_hash(spec),)

    def delete_resources(self, resources: Sequence[OwnedResource]) -> list[Any]:
        outcomes = Cleaner(self.compute, self.region).delete(resources)
        if any(o.resource.shared and not o.error for o in outcomes):
            with self._lock:  # the next ensure re-creates what it needs
                self._nodes = _NodeState()
        return outcomes

    def protected_ids(self, service: JSON) -> set[str]:
        ip = str((service.get("spec") or {}).get("loadBalancerIP") or "").strip()
        return {ip} if ip else set()

    def legacy_wanted(self, resource: OwnedResource, service: JSON | None) -> bool:
        # GKE's in-tree controller records no cluster id on its resources, so none is
        # ever inventoried as this cluster's; nothing legacy reaches this point.
        return True

    def prices(self) -> PriceBook:
        return load_prices(self.region, self.prices_file)

    @property
    def price_region(self) -> str:
        return self.region

    def cost_lines(
        self,
        resources: Sequence[OwnedResource],
        prices: PriceBook,
        capacity_units: Callable[[OwnedResource], float | None],
    ) -> dict[tuple[str, str, str], list[CostLine]]:
        return costs.cost_lines(resources, prices)

    def consolidated_cost(self, prices: PriceBook, scheme: str) -> list[CostLine]:
        return costs.consolidated_cost(prices)

    def plan(self, spec: LoadBalancerSpec, nodes: list[Node]) -> list[str]:
        base = N.base_name(self.cid, spec.service.uid, A.identity_hash(spec))
        zones = ", ".join(sorted({w[0] for w in (instance_of(n) for n in nodes) if w})) or "none"
        ports = ",".join(str(lst.port) for lst in spec.listeners)
        on = spec.options.get("requested_ip") or f"address {base}"
        hc = spec.health_check
        local = spec.external_traffic_policy == "Local" and hc is not None
        health = f"per-Service HTTP on {hc.port if hc else '?'}" if local else "shared :10256"
        return [
            f"forwarding rule {base}: {spec.options['scheme']} {spec.options['protocol']} "
            f"{ports} on {on}",
            f"backend service {base}: instance groups {N.instance_group_name(self.cid)} "
            f"in zones {zones}",
            f"firewall {N.firewall_name(base)} from {', '.join(spec.source_ranges)}",
            f"health check: {health} /healthz",
        ]


def _refusal(e: Exception) -> RetryableError:
    """GCP's own words for the Warning Event; quota and bad requests are permanent."""
    message = str(e.message) if isinstance(e, gexc.GoogleAPICallError) else str(e)
    if is_quota(e):
        return PermanentError(f"GCP quota exceeded: {message}", reason="QuotaExceeded")
    if is_in_use(e):
        return RetryableError(f"GCP: {message}")
    return PermanentError(f"GCP refused the request: {message}")

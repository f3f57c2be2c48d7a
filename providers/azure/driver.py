"""The Azure driver: AKS's model, through azure-mgmt-network.

One Standard load balancer per cluster for public Services (`<cluster>`) and one for
internal Services (`<cluster>-internal`). Per Service: a frontend IP configuration, one
load-balancing rule and one probe per port (named from its UID, as AKS names them), a
Standard static public IP for a public Service, and one NSG rule per protocol in the
cluster's NSG allowing its ports from the source ranges to its frontend IP. The backend
pool holds the nodes' InternalIPs (IP-based addresses: no NIC is touched).

An internal <-> public switch adds the new frontend on the other LB first, returns its
IP for status, and removes the old frontend, its rules, probes and public IP only once
status shows the new address. The last Service leaving an LB deletes the LB.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ccm.driver import DeleteOutcome
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
from ccm.service_fields import annotation_field
from providers.azure import annotations as A
from providers.azure import costs
from providers.azure import names as N
from providers.azure.calls import Arm, error_code
from providers.azure.inventory import Inventory
from providers.azure.lb import LoadBalancerWriter
from providers.azure.prices import load_prices

log = logging.getLogger(__name__)
PRIORITIES = range(500, 4097)
PERMANENT_CODES = frozenset(
    {
        "InvalidResourceReference",
        "PublicIPAddressInUse",
        "PublicIPAddressCannotBeDeleted",
        "InvalidRequestFormat",
        "InvalidRequestContent",
        "DnsRecordInUse",
        "SecurityRuleInvalidPriority",
        "SubnetNotFound",
        "PrivateIPAddressNotInSubnet",
        "PrivateIPAddressInUse",
        "QuotaExceeded",
        "PublicIPCountLimitReached",
        "LoadBalancerRulesLimitReached",
        "InvalidParameter",
        "AuthorizationFailed",
    }
)


def _ref(resource_id: str) -> dict[str, str]:
    return {"id": resource_id}


class AzureDriver:
    name = "azure"

    def __init__(
        self,
        cluster: ClusterInfo,
        arm: Arm,
        subscription: str,
        resource_group: str,
        location: str,
        *,
        vnet: str,
        subnet: str,
        security_group: str,
        vnet_resource_group: str = "",
        prices_file: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.arm = arm
        self.c = arm.client
        self.subscription = subscription
        self.rg = resource_group
        self.location = location
        self.vnet = vnet
        self.subnet = subnet
        self.vnet_rg = vnet_resource_group or resource_group
        self.nsg = security_group
        self.prices_file = prices_file
        self._writers = {
            internal: LoadBalancerWriter(
                arm, resource_group, N.lb_name(cluster.name, internal), self._skeleton(internal)
            )
            for internal in (False, True)
        }
        self._nsg_lock = threading.Lock()

    @property
    def cid(self) -> str:
        return self.cluster.name

    def lb_writes(self) -> int:
        """Load-balancer PUTs sent so far: what coalescing saves shows here."""
        return sum(w.puts for w in self._writers.values())

    # ------------------------------------------------------------ ids

    def _network_id(self, rg: str, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{rg}"
            f"/providers/Microsoft.Network/{kind}/{name}"
        )

    def lb_id(self, internal: bool) -> str:
        return self._network_id(self.rg, "loadBalancers", N.lb_name(self.cid, internal))

    def subnet_id(self, subnet: str = "") -> str:
        vnet = self._network_id(self.vnet_rg, "virtualNetworks", self.vnet)
        return f"{vnet}/subnets/{subnet or self.subnet}"

    def vnet_id(self) -> str:
        return self._network_id(self.vnet_rg, "virtualNetworks", self.vnet)

    def pip_rg(self, spec: LoadBalancerSpec) -> str:
        return str(spec.options.get("pip_resource_group") or "") or self.rg

    def pip_name(self, spec: LoadBalancerSpec) -> str:
        return str(spec.options.get("pip_name") or "") or N.public_ip_name(
            self.cid, spec.service.uid
        )

    def identity(self, spec: LoadBalancerSpec) -> str:
        """Where this generation lives, as full resource ids (so a default spelled out in
        an annotation is the same generation as the default left implicit)."""
        if spec.options["internal"]:
            return f"{self.lb_id(True)}|{self.subnet_id(spec.options['subnet'])}".lower()
        pip = self._network_id(self.pip_rg(spec), "publicIPAddresses", self.pip_name(spec))
        return f"{self.lb_id(False)}|{pip}".lower()

    def _skeleton(self, internal: bool) -> Callable[[], JSON]:
        def make() -> JSON:
            return {
                "location": self.location,
                "sku": {"name": "Standard", "tier": "Regional"},
                "tags": N.lb_tags(self.cid),
                "properties": {
                    "frontendIPConfigurations": [],
                    "backendAddressPools": [{"name": N.pool_name(self.cid), "properties": {}}],
                    "loadBalancingRules": [],
                    "probes": [],
                },
            }

        return make

    # ------------------------------------------------------------ parse

    def probe(self) -> None:
        """For /readyz: list the resource group's load balancers (a read the driver needs)."""
        self.arm.list("loadBalancers.list", self.c.load_balancers.list, self.rg)

    def parse(self, service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
        return A.parse(service, cluster)

    # ------------------------------------------------------------ ensure

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        try:
            return self._ensure(spec, nodes)
        except HttpResponseError as e:
            raise _refusal(e) from e

    def _ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        internal = bool(spec.options["internal"])
        ident = self.identity(spec)
        frontend, public_ip = self._frontend(spec, ident)
        addresses = _pool_addresses(nodes, self.vnet_id())
        lb = self._writers[internal].submit(
            lambda doc: _place(doc, self.lb_id(internal), self.cid, spec, frontend, addresses)
        )
        assert lb is not None
        ip = public_ip or self._private_ip(spec, lb)
        self._security_rules(spec, ident, ip)
        other = self._writers[not internal]
        followup = False
        if ip in spec.options.get("status_ips", ()):
            self._leave(other, spec.service.uid)
            if internal:
                self._delete_our_pips(spec.service.uid, keep="")
        elif self._has_frontend(other, spec.service.uid):
            followup = True
            log.info(
                "%s: new frontend on %s is up; the old one goes once status shows it",
                spec.service.key,
                N.lb_name(self.cid, internal),
            )
        return LoadBalancerStatus(
            ingress=(IngressPoint(ip=ip, ip_mode="VIP"),), ready=True, followup=followup
        )

    def _frontend(self, spec: LoadBalancerSpec, ident: str) -> tuple[JSON, str]:
        """The frontend's JSON, and its public IP's address ("" for internal)."""
        o = spec.options
        if o["internal"]:
            props: JSON = {"subnet": _ref(self.subnet_id(o["subnet"]))}
            if o["requested_ip"]:
                props.update(privateIPAllocationMethod="Static", privateIPAddress=o["requested_ip"])
            else:
                props["privateIPAllocationMethod"] = "Dynamic"
            return {"name": N.frontend_name(spec.service.uid), "properties": props}, ""
        pip = self._public_ip(spec, ident)
        address = str((pip.get("properties") or {}).get("ipAddress") or "")
        if not address:
            raise RetryableError(f"public IP {pip.get('name')} has no address yet")
        frontend = {
            "name": N.frontend_name(spec.service.uid),
            "properties": {"publicIPAddress": _ref(str(pip["id"]))},
        }
        return frontend, address

    def _public_ip(self, spec: LoadBalancerSpec, ident: str) -> JSON:
        """The user's public IP (named, or found by its address), or ours, made or
        brought in line with the DNS label and tags."""
        o = spec.options
        rg = self.pip_rg(spec)
        ops = self.c.public_ip_addresses
        if o["requested_ip"] and not o["pip_name"]:
            found = [
                p
                for p in self.arm.list("publicIPAddresses.list", ops.list, rg)
                if (p.as_dict().get("properties") or {}).get("ipAddress") == o["requested_ip"]
            ]
            if not found:
                raise PermanentError(
                    f"{annotation_field(A.IPV4)}: no public IP with address {o['requested_ip']} "
                    f"in resource group {rg}; create it first (or name it in {A.PIP_NAME})",
                    reason="PublicIPNotFound",
                )
            user: JSON = found[0].as_dict()
            return user
        name = self.pip_name(spec)
        have = self._get_pip(rg, name)
        if o["pip_name"]:
            if have is None:
                raise PermanentError(
                    f"{annotation_field(A.PIP_NAME)}: public IP {name} not found in "
                    f"resource group {rg}",
                    reason="PublicIPNotFound",
                )
            return have
        tags = {
            **o["pip_tags"],
            **N.public_ip_tags(self.cid, spec.service.uid, spec.service.key, ident),
        }
        want: JSON = {
            "location": self.location,
            "sku": {"name": "Standard", "tier": "Regional"},
            "tags": tags,
            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
        }
        if o["dns_label"]:
            want["properties"]["dnsSettings"] = {"domainNameLabel": o["dns_label"]}
        if have is not None:
            if (have.get("tags") or {}).get(N.TAG_CLUSTER) not in (None, self.cid):
                raise PermanentError(
                    f"public IP {name} belongs to cluster {have['tags'][N.TAG_CLUSTER]}"
                )
            label = ((have.get("properties") or {}).get("dnsSettings") or {}).get(
                "domainNameLabel", ""
            )
            if have.get("tags") == tags and label == o["dns_label"]:
                return have
            want["properties"] = {**(have.get("properties") or {}), **want["properties"]}
            if not o["dns_label"]:
                want["properties"].pop("dnsSettings", None)
        made = self.arm.lro(
            "publicIPAddresses.createOrUpdate",
            ops.begin_create_or_update,
            rg,
            name,
            _strip_pip(want),
        )
        out: JSON = made.as_dict()
        return out

    def _get_pip(self, rg: str, name: str) -> JSON | None:
        try:
            pip = self.arm.read("publicIPAddresses.get", self.c.public_ip_addresses.get, rg, name)
        except ResourceNotFoundError:
            return None
        out: JSON = pip.as_dict()
        return out

    def _private_ip(self, spec: LoadBalancerSpec, lb: JSON) -> str:
        name = N.frontend_name(spec.service.uid)
        front = next(f for f in lb["properties"]["frontendIPConfigurations"] if f["name"] == name)
        ip = str((front.get("properties") or {}).get("privateIPAddress") or "")
        if not ip:
            raise RetryableError(f"frontend {name} has no address yet")
        return ip

    def _has_frontend(self, writer: LoadBalancerWriter, uid: str) -> bool:
        lb = writer.read()
        fronts = ((lb or {}).get("properties") or {}).get("frontendIPConfigurations") or []
        return any(f["name"] == N.frontend_name(uid) for f in fronts)

    def _leave(self, writer: LoadBalancerWriter, uid: str) -> None:
        if self._has_frontend(writer, uid):
            writer.submit(lambda doc: _remove_children(doc, lambda name: N.owns_child(name, uid)))

    # ------------------------------------------------------------ NSG

    def _security_rules(self, spec: LoadBalancerSpec, ident: str, ip: str) -> None:
        ops = self.c.security_rules
        record = N.RuleRecord(self.cid, spec.service.uid, spec.service.key, ident)
        protocols = sorted({lst.protocol for lst in spec.listeners})
        for protocol in protocols:
            name = N.security_rule_name(spec.service.uid, protocol)
            ports = sorted(str(lst.port) for lst in spec.listeners if lst.protocol == protocol)
            want: JSON = {
                "description": record.description(),
                "protocol": protocol.capitalize(),
                "access": "Allow",
                "direction": "Inbound",
                "sourcePortRange": "*",
                "destinationPortRanges": ports,
                "destinationAddressPrefix": ip,
            }
            if spec.source_ranges == ("Internet",):
                want["sourceAddressPrefix"] = "Internet"
            else:
                want["sourceAddressPrefixes"] = list(spec.source_ranges)
            with self._nsg_lock:
                have = self._get_rule(name)
                if have is not None:
                    props = have.get("properties") or {}
                    if all(props.get(k) == v for k, v in want.items()):
                        continue
                    priority = int(props["priority"])
                else:
                    priority = self._free_priority()
                self.arm.lro(
                    "securityRules.createOrUpdate",
                    ops.begin_create_or_update,
                    self.rg,
                    self.nsg,
                    name,
                    {"properties": {**want, "priority": priority}},
                )
        for stale in sorted({"TCP", "UDP"} - set(protocols)):
            name = N.security_rule_name(spec.service.uid, stale)
            if self._get_rule(name) is not None:  # the Service dropped its last such port
                with self._nsg_lock:
                    self._delete_rule(name)

    def _get_rule(self, name: str) -> JSON | None:
        try:
            rule = self.arm.read(
                "securityRules.get", self.c.security_rules.get, self.rg, self.nsg, name
            )
        except ResourceNotFoundError:
            return None
        out: JSON = rule.as_dict()
        return out

    def _free_priority(self) -> int:
        rules = self.arm.list("securityRules.list", self.c.security_rules.list, self.rg, self.nsg)
        used = {int((r.as_dict().get("properties") or {}).get("priority", 0)) for r in rules}
        for p in PRIORITIES:
            if p not in used:
                return p
        raise PermanentError(
            f"NSG {self.nsg}: no free priority in 500-4096", reason="NoFreePriority"
        )

    def _delete_rule(self, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.arm.lro(
                "securityRules.delete", self.c.security_rules.begin_delete, self.rg, self.nsg, name
            )

    # ------------------------------------------------------------ delete

    def delete(self, ref: ServiceRef) -> None:
        for writer in self._writers.values():
            self._leave(writer, ref.uid)
        self._delete_our_pips(ref.uid, keep="")
        with self._nsg_lock:
            for protocol in ("TCP", "UDP"):
                self._delete_rule(N.security_rule_name(ref.uid, protocol))

    def _delete_our_pips(self, uid: str, keep: str) -> None:
        """Our public IPs for the Service (tagged for this cluster and this UID), in any
        resource group; another cluster's or a user's IP is never touched."""
        for pip in self._inventory().public_ips():
            if pip.owner is not None and pip.owner.uid == uid and pip.id != keep:
                self._delete_pip(pip.id)

    def _delete_pip(self, pip_id: str) -> None:
        rg = pip_id.split("/resourceGroups/")[1].split("/")[0]
        name = pip_id.rsplit("/", 1)[-1]
        with contextlib.suppress(ResourceNotFoundError):
            self.arm.lro(
                "publicIPAddresses.delete", self.c.public_ip_addresses.begin_delete, rg, name
            )

    # ------------------------------------------------------------ inventory, leaks, prices

    def _inventory(self) -> Inventory:
        return Inventory(
            self.arm, self.cid, self.rg, self.nsg, [w.name for w in self._writers.values()]
        )

    def inventory(self) -> Iterable[OwnedResource]:
        return self._inventory().all()

    def resource_identity(self, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        return (self.identity(spec),)

    def delete_resources(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        out: list[DeleteOutcome] = []
        children = [r for r in resources if r.kind in ("frontend", "rule", "probe")]
        for writer in self._writers.values():
            mine = {r.name for r in children if r.details.get("lb") == writer.name}
            if not mine:
                continue
            try:
                writer.submit(_remover(mine))
            except Exception as e:
                out += [DeleteOutcome(r, str(e)) for r in children if r.name in mine]
            else:
                out += [DeleteOutcome(r) for r in children if r.name in mine]
        for r in resources:
            if r.kind in ("frontend", "rule", "probe"):
                continue
            try:
                if r.kind == "public-ip":
                    self._delete_pip(r.id)
                elif r.kind == "security-rule":
                    with self._nsg_lock:
                        self._delete_rule(r.name)
                elif r.kind == "load-balancer":
                    writer = next(w for w in self._writers.values() if w.name == r.name)
                    writer.submit(lambda doc: _remove_children(doc, lambda n: True))
                else:
                    raise ValueError(f"azure: no delete for kind {r.kind!r}")
            except Exception as e:
                out.append(DeleteOutcome(r, str(e) or type(e).__name__))
            else:
                out.append(DeleteOutcome(r))
        return out

    def protected_ids(self, service: JSON) -> set[str]:
        ann = (service.get("metadata") or {}).get("annotations") or {}
        name = str(ann.get(A.PIP_NAME) or "").strip()
        return {name} if name else set()

    def legacy_wanted(self, resource: OwnedResource, service: JSON | None) -> bool:
        return True  # only our own (ccm.dev/cluster-tagged) resources are inventoried

    def prices(self) -> PriceBook:
        return load_prices(self.location, self.prices_file)

    @property
    def price_region(self) -> str:
        return self.location

    def cost_lines(
        self,
        resources: Sequence[OwnedResource],
        prices: PriceBook,
        capacity_units: Callable[[OwnedResource], float | None],
    ) -> dict[tuple[str, str, str], list[CostLine]]:
        return costs.cost_lines(resources, prices)

    def consolidated_cost(self, prices: PriceBook, scheme: str) -> list[CostLine]:
        return costs.consolidated_cost(prices, scheme)


# ------------------------------------------------------------ LB document edits


def _pool_addresses(nodes: Sequence[Node], vnet_id: str) -> list[JSON]:
    out = []
    for n in sorted(nodes, key=lambda n: n.name):
        if n.internal_ips:
            out.append(
                {
                    "name": n.name,
                    "properties": {"ipAddress": n.internal_ips[0], "virtualNetwork": _ref(vnet_id)},
                }
            )
    return out


def _place(
    doc: JSON,
    lb_id: str,
    cluster: str,
    spec: LoadBalancerSpec,
    frontend: JSON,
    addresses: list[JSON],
) -> None:
    """Put the Service's frontend, rules and probes on the LB document, replacing its
    old ones, and set the pool to the nodes."""
    props = doc.setdefault("properties", {})
    uid = spec.service.uid
    pool_id = f"{lb_id}/backendAddressPools/{N.pool_name(cluster)}"
    pools = props.setdefault("backendAddressPools", [])
    pool = next((p for p in pools if p["name"] == N.pool_name(cluster)), None)
    if pool is None:
        pool = {"name": N.pool_name(cluster), "properties": {}}
        pools.append(pool)
    pool_props = pool.setdefault("properties", {})
    current = [
        (a.get("name"), (a.get("properties") or {}).get("ipAddress"))
        for a in pool_props.get("loadBalancerBackendAddresses") or []
    ]
    if current != [(a["name"], a["properties"]["ipAddress"]) for a in addresses]:
        pool_props["loadBalancerBackendAddresses"] = addresses
    fronts = props.setdefault("frontendIPConfigurations", [])
    have = next((f for f in fronts if f["name"] == frontend["name"]), None)
    if have is None:
        fronts.append(frontend)
    else:
        have_props = have.setdefault("properties", {})
        for key, value in frontend["properties"].items():
            have_props[key] = value
    o = spec.options
    rules, probes = [], []
    for lst in spec.listeners:
        name = N.rule_name(uid, lst.protocol, lst.port)
        hc = spec.health_check
        if spec.external_traffic_policy == "Local" and hc is not None and hc.port:
            probe_port = hc.port
        else:
            probe_port = lst.node_port or lst.port
        probe: JSON = {
            "name": name,
            "properties": {
                "protocol": o["probe_protocol"],
                "port": probe_port,
                "intervalInSeconds": o["probe_interval"],
                "numberOfProbes": o["probe_count"],
            },
        }
        if o["probe_protocol"] != "Tcp":
            probe["properties"]["requestPath"] = o["probe_path"]
        probes.append(probe)
        rules.append(
            {
                "name": name,
                "properties": {
                    "frontendIPConfiguration": _ref(
                        f"{lb_id}/frontendIPConfigurations/{frontend['name']}"
                    ),
                    "backendAddressPool": _ref(pool_id),
                    "probe": _ref(f"{lb_id}/probes/{name}"),
                    "protocol": lst.protocol.capitalize(),
                    "frontendPort": lst.port,
                    "backendPort": lst.port if o["floating_ip"] else (lst.node_port or lst.port),
                    "enableFloatingIP": o["floating_ip"],
                    "idleTimeoutInMinutes": o["idle_timeout"],
                    "enableTcpReset": o["tcp_reset"] if lst.protocol == "TCP" else False,
                    "loadDistribution": "SourceIP"
                    if spec.session_affinity == "ClientIP"
                    else "Default",
                    "disableOutboundSnat": True,
                },
            }
        )
    _merge_children(props, "loadBalancingRules", uid, rules)
    _merge_children(props, "probes", uid, probes)


def _merge_children(props: JSON, key: str, uid: str, want: list[JSON]) -> None:
    """Replace the Service's children under `key` with `want`, keeping the order of the
    others and leaving an unchanged child as it is (so an in-sync LB compares equal)."""
    have = props.setdefault(key, [])
    others = [c for c in have if not N.owns_child(c["name"], uid)]
    mine = {c["name"]: c for c in have if N.owns_child(c["name"], uid)}
    merged = []
    for child in want:
        old = mine.get(child["name"])
        if old is not None and all(
            (old.get("properties") or {}).get(k) == v for k, v in child["properties"].items()
        ):
            merged.append(old)
        else:
            merged.append(child)
    props[key] = others + merged


def _remover(names: set[str]) -> Callable[[JSON], None]:
    return lambda doc: _remove_children(doc, lambda n: n in names)


def _remove_children(doc: JSON, doomed: Callable[[str], bool]) -> None:
    props = doc.setdefault("properties", {})
    for key in ("frontendIPConfigurations", "loadBalancingRules", "probes"):
        props[key] = [c for c in props.get(key) or [] if not doomed(c["name"])]


def _strip_pip(doc: JSON) -> JSON:
    props = {
        k: v
        for k, v in (doc.get("properties") or {}).items()
        if k not in ("provisioningState", "ipConfiguration", "resourceGuid", "ipTags")
    }
    return {
        **{k: v for k, v in doc.items() if k not in ("etag", "id", "type", "name")},
        "properties": props,
    }


def _refusal(e: HttpResponseError) -> RetryableError:
    code = error_code(e) or str(e.status_code)
    message = getattr(e.error, "message", None) or e.message
    text = f"Azure {code}: {message}"
    if code in PERMANENT_CODES or (e.status_code == 400):
        return PermanentError(
            text,
            reason="QuotaExceeded"
            if "Quota" in code or "Limit" in code
            else "SyncLoadBalancerFailed",
        )
    return RetryableError(text)

"""The AWS driver: NLB and ALB through boto3, converging with as few calls as possible.

Steady state is read from our own tags: every resource records a hash of the
configuration we applied (`ccm.dev/config`) and target groups a hash of their targets, so
a no-op resync reads the Service's resources (one Resource Groups Tagging call), the load
balancer and its listeners, and writes nothing. Anything whose hash differs is read in
full and converged. A change of identity (kind, scheme, EIPs, private IPs, subnets)
builds a second load balancer under a new name; the old one is deleted only once the
Service's status shows the new one (the next reconcile after the status write).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

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
from providers.aws import costs
from providers.aws import tags as T
from providers.aws.annotations import parse_service
from providers.aws.calls import Caller, error_code
from providers.aws.cleanup import Cleaner
from providers.aws.inventory import list_owned
from providers.aws.legacy import legacy_wanted, protected_ids
from providers.aws.prices import load_prices

log = logging.getLogger(__name__)

CACHE_TTL = 300.0
DEEP_EVERY = 6  # every 6th converge of a load balancer also re-reads listeners and targets


@dataclass(frozen=True)
class PortPlan:
    """One listener and the target group behind it."""

    port: int
    node_port: int
    listener_protocol: str  # TCP, UDP, TCP_UDP, TLS, HTTP, HTTPS
    tg_protocol: str
    certificates: tuple[str, ...] = ()

    def config(self, spec: LoadBalancerSpec) -> str:
        o = spec.options
        hc = spec.health_check
        return T.digest(
            self.node_port,
            self.tg_protocol,
            hc,
            o.get("hc_interval"),
            o.get("hc_timeout"),
            o.get("hc_healthy"),
            o.get("hc_unhealthy"),
            o.get("hc_success_codes"),
            o.get("target_group_attributes"),
            o.get("proxy_protocol"),
        )


@dataclass
class Found:
    """What the tagging API returned for one Service."""

    load_balancers: dict[str, dict[str, str]] = field(default_factory=dict)  # arn -> tags
    target_groups: dict[str, dict[str, str]] = field(default_factory=dict)
    security_groups: dict[str, dict[str, str]] = field(default_factory=dict)  # sg id -> tags


def port_plans(spec: LoadBalancerSpec) -> list[PortPlan]:
    o = spec.options
    ssl_ports = set(o.get("ssl_ports") or ())
    certs = tuple(o.get("ssl_cert") or ())
    by_port: dict[int, list[Any]] = {}
    for lst in spec.listeners:
        by_port.setdefault(lst.port, []).append(lst)
    plans = []
    for port, group in sorted(by_port.items()):
        node_port = int(group[0].node_port or 0)
        protocols = {g.protocol for g in group}
        tls = port in ssl_ports
        if spec.kind == "alb":
            listener = "HTTPS" if tls else "HTTP"
            backend = "HTTPS" if o.get("backend_protocol") == "https" else "HTTP"
        elif protocols >= {"TCP", "UDP"}:
            listener = backend = "TCP_UDP"
        elif "UDP" in protocols:
            listener = backend = "UDP"
        else:
            listener = "TLS" if tls else "TCP"
            backend = "TLS" if tls and o.get("backend_protocol") == "tls" else "TCP"
        plans.append(PortPlan(port, node_port, listener, backend, certs if tls else ()))
    return plans


def instance_id(node: Node) -> str | None:
    """aws:///us-east-1a/i-0123 → i-0123 (the providerID format of every AWS kubelet)."""
    pid = node.provider_id
    if not pid.startswith("aws://"):
        return None
    last = pid.rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None


class AwsDriver:
    name = "aws"

    def __init__(
        self,
        cluster: ClusterInfo,
        clients: Mapping[str, Any],
        region: str,
        caller: Caller | None = None,
        prices_file: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.ec2 = clients["ec2"]
        self.elbv2 = clients["elbv2"]
        self.tagging = clients["resourcegroupstaggingapi"]
        self.elb = clients.get("elb")  # classic ELBs: only legacy ones are ever listed
        self._clients = dict(clients)
        self.region = region
        self.caller = caller or Caller()
        self.prices_file = prices_file
        self._lock = threading.Lock()
        self._subnets: dict[tuple[str, tuple[str, ...]], tuple[float, list[str], str]] = {}
        self._backend_sg: tuple[str, str] | None = None  # (vpc, sg id)
        self._node_sg_rules: set[tuple[str, str]] = set()  # (node sg, backend sg) authorized
        self._nodes_seen: frozenset[str] = frozenset()
        self._backend_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="aws")
        self._registered: dict[str, frozenset[tuple[str, int]]] = {}  # tg arn -> targets
        self._passes: dict[str, int] = {}  # lb arn -> converge passes (for the deep check)

    # ------------------------------------------------------------ helpers

    def _call(self, client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        return self.caller.call(client, operation, **kwargs)

    @property
    def cid(self) -> str:
        return self.cluster.name

    # ------------------------------------------------------------ parse

    def probe(self) -> None:
        """For /readyz: a one-item describe, the cheapest ELBv2 read the policy allows."""
        self.caller.call(self.elbv2, "DescribeLoadBalancers", PageSize=1)

    def parse(self, service: JSON, cluster: ClusterInfo) -> LoadBalancerSpec:
        spec = parse_service(service, cluster)
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        hostnames = tuple(str(i.get("hostname")) for i in ingress if i.get("hostname"))
        return replace(
            spec,
            options={**spec.options, "status_hostnames": hostnames},
            observed_options=(*spec.observed_options, "status_hostnames"),
        )

    # ------------------------------------------------------------ discovery

    def _find(self, uid: str | None = None) -> Found:
        filters = [{"Key": T.cluster_tag(self.cid), "Values": ["owned"]}]
        if uid:
            filters.append({"Key": T.TAG_UID, "Values": [uid]})
        found = Found()
        token = ""
        while True:
            kwargs: dict[str, Any] = {
                "TagFilters": filters,
                "ResourceTypeFilters": [
                    "elasticloadbalancing:loadbalancer",
                    "elasticloadbalancing:targetgroup",
                    "ec2:security-group",
                ],
            }
            if token:
                kwargs["PaginationToken"] = token
            page = self._call(self.tagging, "GetResources", **kwargs)
            for item in page.get("ResourceTagMappingList", []):
                arn = str(item["ResourceARN"])
                tags = T.from_aws(item.get("Tags"))
                if tags.get(T.TAG_CLUSTER) != self.cid:
                    continue  # another cluster's, or not ours: never touched
                if ":targetgroup/" in arn:
                    found.target_groups[arn] = tags
                elif ":security-group/" in arn:
                    found.security_groups[arn.rsplit("/", 1)[-1]] = tags
                elif ":loadbalancer/" in arn:
                    found.load_balancers[arn] = tags
            token = str(page.get("PaginationToken") or "")
            if not token:
                return found

    def _subnets_for(self, spec: LoadBalancerSpec) -> tuple[list[str], str]:
        """Subnet ids and their VPC: named ones, else one tagged subnet per AZ (cached)."""
        named = tuple(spec.options.get("subnets") or ())
        key = (spec.scheme, named)
        with self._lock:
            hit = self._subnets.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_TTL:
            return hit[1], hit[2]
        if named:
            ids = [s for s in named if s.startswith("subnet-")]
            names = [s for s in named if not s.startswith("subnet-")]
            subnets: list[dict[str, Any]] = []
            if ids:
                subnets += self._call(self.ec2, "DescribeSubnets", SubnetIds=ids)["Subnets"]
            if names:
                subnets += self._call(
                    self.ec2, "DescribeSubnets", Filters=[{"Name": "tag:Name", "Values": names}]
                )["Subnets"]
            if len(subnets) < len(named):
                raise RetryableError(
                    f"aws-load-balancer-subnets: found {len(subnets)} of {len(named)} subnets "
                    f"named {', '.join(named)}"
                )
        else:
            role = (
                "kubernetes.io/role/internal-elb"
                if spec.scheme == "internal"
                else "kubernetes.io/role/elb"
            )
            subnets = self._call(
                self.ec2,
                "DescribeSubnets",
                Filters=[
                    {"Name": f"tag:{role}", "Values": ["1", ""]},
                    {"Name": f"tag:{T.cluster_tag(self.cid)}", "Values": ["owned", "shared"]},
                ],
            )["Subnets"]
            per_az: dict[str, dict[str, Any]] = {}
            for s in sorted(subnets, key=lambda s: s["SubnetId"]):
                per_az.setdefault(s["AvailabilityZone"], s)
            subnets = list(per_az.values())
            if not subnets:
                raise RetryableError(
                    f"no subnets found for a {spec.scheme} load balancer: tag subnets with "
                    f"{role}=1 and {T.cluster_tag(self.cid)}, or set "
                    "service.beta.kubernetes.io/aws-load-balancer-subnets"
                )
        vpcs = {s["VpcId"] for s in subnets}
        if len(vpcs) != 1:
            raise RetryableError(f"subnets span several VPCs: {', '.join(sorted(vpcs))}")
        ids = sorted(s["SubnetId"] for s in subnets)
        vpc = vpcs.pop()
        with self._lock:
            self._subnets[key] = (time.monotonic(), ids, vpc)
        return ids, vpc

    # ------------------------------------------------------------ security groups

    def _backend_group(self, vpc: str, nodes: Sequence[Node]) -> str:
        """The one backend group per cluster; node groups get a single rule allowing it.
        Workers race for it on a new cluster, so find-or-create is serialised."""
        with self._backend_lock:
            cached = self._backend_sg
            if cached and cached[0] == vpc:
                sg = cached[1]
            else:
                sg = self._find_or_create_backend(vpc)
                self._backend_sg = (vpc, sg)
            self._authorize_nodes(sg, nodes)
        return sg

    def _find_or_create_backend(self, vpc: str) -> str:
        name = T.backend_sg_name(self.cid)
        groups = self._call(
            self.ec2,
            "DescribeSecurityGroups",
            Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}],
        )["SecurityGroups"]
        if groups:
            return str(groups[0]["GroupId"])
        return str(
            self._call(
                self.ec2,
                "CreateSecurityGroup",
                GroupName=name,
                VpcId=vpc,
                Description=f"ccm: load balancers of cluster {self.cid}",
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": T.as_aws(T.cluster_tags(self.cid, "backend-sg")),
                    }
                ],
            )["GroupId"]
        )

    def _authorize_nodes(self, backend: str, nodes: Sequence[Node]) -> None:
        """One rule per node security group allowing the backend group. Only instances not
        seen before are described: a node leaving never needs a new rule."""
        ids = {i for i in (instance_id(n) for n in nodes) if i}
        new = sorted(ids - self._nodes_seen)
        if not new:
            return
        reservations = self._call(self.ec2, "DescribeInstances", InstanceIds=new)["Reservations"]
        per_instance = [
            [g["GroupId"] for g in inst.get("SecurityGroups") or []]
            for r in reservations
            for inst in r["Instances"]
        ]
        candidates = sorted({g for groups in per_instance if len(groups) > 1 for g in groups})
        tagged: set[str] = set()
        if candidates:  # several groups: the cluster-tagged one is the node group
            described = self._call(self.ec2, "DescribeSecurityGroups", GroupIds=candidates)[
                "SecurityGroups"
            ]
            tagged = {
                g["GroupId"]
                for g in described
                if T.cluster_tag(self.cid) in T.from_aws(g.get("Tags"))
            }
        node_groups: set[str] = set()
        for groups in per_instance:
            if len(groups) == 1:
                node_groups.add(groups[0])
            elif groups:
                chosen = [g for g in groups if g in tagged]
                if not chosen:
                    log.warning(
                        "instance groups %s: none tagged %s; no node rule added",
                        groups,
                        T.cluster_tag(self.cid),
                    )
                node_groups.update(chosen[:1])
        with self._lock:
            known = {node_sg for node_sg, b in self._node_sg_rules if b == backend}
        for node_sg in sorted(node_groups - known):
            try:
                self._call(
                    self.ec2,
                    "AuthorizeSecurityGroupIngress",
                    GroupId=node_sg,
                    IpPermissions=[
                        {
                            "IpProtocol": "-1",
                            "UserIdGroupPairs": [
                                {
                                    "GroupId": backend,
                                    "Description": f"ccm load balancers of {self.cid}",
                                }
                            ],
                        }
                    ],
                )
            except ClientError as e:
                if error_code(e) != "InvalidPermission.Duplicate":
                    raise
            with self._lock:
                self._node_sg_rules.add((node_sg, backend))
        with self._lock:
            self._nodes_seen = self._nodes_seen | ids

    def _ingress_permissions(self, spec: LoadBalancerSpec) -> list[dict[str, Any]]:
        perms = []
        v4 = [r for r in spec.source_ranges if ipaddress.ip_network(r, strict=False).version == 4]
        v6 = [r for r in spec.source_ranges if ipaddress.ip_network(r, strict=False).version == 6]
        for plan in port_plans(spec):
            protos = {"TCP_UDP": ["tcp", "udp"], "UDP": ["udp"]}.get(
                plan.listener_protocol, ["tcp"]
            )
            for proto in protos:
                perm: dict[str, Any] = {
                    "IpProtocol": proto,
                    "FromPort": plan.port,
                    "ToPort": plan.port,
                }
                if v4:
                    perm["IpRanges"] = [{"CidrIp": c} for c in v4]
                if v6:
                    perm["Ipv6Ranges"] = [{"CidrIpv6": c} for c in v6]
                perms.append(perm)
        return perms

    def _frontend_group(
        self,
        spec: LoadBalancerSpec,
        vpc: str,
        ident: str,
        existing: Mapping[str, Mapping[str, str]],
        pending: list[Future[Any]],
    ) -> str:
        """The Service's frontend group. A new group's ingress rules are authorised in the
        background (appended to `pending`), alongside CreateLoadBalancer."""
        perms = self._ingress_permissions(spec)
        config = T.digest(perms)
        mine = [
            sg
            for sg, tags in existing.items()
            if tags.get(T.TAG_ROLE) == "frontend-sg" and tags.get(T.TAG_IDENTITY) == ident
        ]
        tags = T.service_tags(self.cid, spec.service, ident, "frontend-sg", spec.tags)
        tags[T.TAG_CONFIG] = config
        if not mine:
            sg = self._call(
                self.ec2,
                "CreateSecurityGroup",
                GroupName=T.frontend_sg_name(self.cid, spec.service.uid, ident),
                VpcId=vpc,
                Description=f"ccm: frontend of {spec.service.key}",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": T.as_aws(tags)}],
            )["GroupId"]
            if perms:
                pending.append(
                    self._pool.submit(
                        self._call,
                        self.ec2,
                        "AuthorizeSecurityGroupIngress",
                        GroupId=sg,
                        IpPermissions=perms,
                    )
                )
            return str(sg)
        sg = mine[0]
        if existing[sg].get(T.TAG_CONFIG) != config:
            self._sync_rules(sg, perms)
            self._call(
                self.ec2,
                "CreateTags",
                Resources=[sg],
                Tags=[{"Key": T.TAG_CONFIG, "Value": config}],
            )
        return sg

    def _sync_rules(self, sg: str, want: list[dict[str, Any]]) -> None:
        group = self._call(self.ec2, "DescribeSecurityGroups", GroupIds=[sg])["SecurityGroups"][0]
        have = _flatten(group.get("IpPermissions") or [])
        desired = _flatten(want)
        add, remove = desired - have, have - desired
        if add:
            self._call(
                self.ec2, "AuthorizeSecurityGroupIngress", GroupId=sg, IpPermissions=_unflatten(add)
            )
        if remove:
            self._call(
                self.ec2, "RevokeSecurityGroupIngress", GroupId=sg, IpPermissions=_unflatten(remove)
            )

    # ------------------------------------------------------------ ensure

    def ensure(self, spec: LoadBalancerSpec, nodes: list[Node]) -> LoadBalancerStatus:
        ident = T.identity_hash(spec)
        found = self._find(spec.service.uid)
        current = [a for a, t in found.load_balancers.items() if t.get(T.TAG_IDENTITY) == ident]
        if current:
            lb = self._converge(spec, nodes, ident, current[0], found)
        else:
            lb = self._create(spec, nodes, ident, found)
        dns = str(lb.get("DNSName", ""))
        stale = [a for a, t in found.load_balancers.items() if t.get(T.TAG_IDENTITY) != ident]
        followup = False
        if dns in spec.options.get("status_hostnames", ()):
            self._delete_identities(found, keep=ident)
        elif stale or _has_stale(found, ident):
            followup = True
            log.info(
                "%s: replacement %s is up; the old one goes once status shows it",
                spec.service.key,
                lb.get("LoadBalancerName"),
            )
        ready = (lb.get("State") or {}).get("Code") == "active"
        return LoadBalancerStatus(
            ingress=(IngressPoint(hostname=dns),), ready=ready, followup=followup
        )

    def _lb_config(self, spec: LoadBalancerSpec, subnets: list[str], groups: list[str]) -> str:
        o = spec.options
        return T.digest(
            subnets,
            groups,
            o.get("attributes"),
            o.get("cross_zone"),
            o.get("ip_address_type"),
            o.get("ssl_negotiation_policy"),
            o.get("alpn_policy"),
            [(p.port, p.listener_protocol, p.certificates) for p in port_plans(spec)],
        )

    def _create(
        self, spec: LoadBalancerSpec, nodes: list[Node], ident: str, found: Found
    ) -> dict[str, Any]:
        """Create the whole set; on a permanent failure remove what this call created."""
        created: list[tuple[str, str]] = []
        try:
            return self._build(spec, nodes, ident, found, created)
        except ClientError as e:
            self._rollback(created)
            if error_code(e) in PERMANENT_CODES:
                raise _permanent(e) from e
            raise
        except Exception:
            self._rollback(created)
            raise

    def _rollback(self, created: list[tuple[str, str]]) -> None:
        """Load balancer first (its listeners hold the target groups), then groups, then SG."""
        order = {"lb": 0, "tg": 1, "sg": 2}
        for kind, ident in sorted(created, key=lambda c: order[c[0]]):
            try:
                if kind == "lb":
                    self._call(self.elbv2, "DeleteLoadBalancer", LoadBalancerArn=ident)
                elif kind == "tg":
                    self._call(self.elbv2, "DeleteTargetGroup", TargetGroupArn=ident)
                elif kind == "sg":
                    self._delete_sg(ident)
            except ClientError as e:
                log.warning("rollback of %s %s failed: %s", kind, ident, e)

    def _build(
        self,
        spec: LoadBalancerSpec,
        nodes: list[Node],
        ident: str,
        found: Found,
        created: list[tuple[str, str]],
    ) -> dict[str, Any]:
        o = spec.options
        subnets, vpc = self._subnets_for(spec)
        groups = list(o.get("security_groups") or ())
        pending: list[Future[Any]] = []
        if not groups:
            sg = self._frontend_group(spec, vpc, ident, found.security_groups, pending)
            if sg not in found.security_groups:
                created.append(("sg", sg))
            groups = [sg]
            if o.get("manage_backend_sg_rules", True):
                groups.append(self._backend_group(vpc, nodes))
        name = T.lb_name(self.cid, spec.service.uid, ident)
        tags = T.service_tags(self.cid, spec.service, ident, "load-balancer", spec.tags)
        tags[T.TAG_CONFIG] = self._lb_config(spec, subnets, groups)
        kwargs: dict[str, Any] = {
            "Name": name,
            "Type": "application" if spec.kind == "alb" else "network",
            "Scheme": spec.scheme,
            "Tags": T.as_aws(tags),
            "SecurityGroups": groups,
            "IpAddressType": o.get("ip_address_type") or "ipv4",
        }
        eips = list(o.get("eip_allocations") or ())
        private = list(o.get("private_ipv4_addresses") or ())
        if eips or private:
            kwargs["SubnetMappings"] = [
                {
                    "SubnetId": s,
                    **({"AllocationId": eips[i]} if eips else {}),
                    **({"PrivateIPv4Address": private[i]} if private else {}),
                }
                for i, s in enumerate(subnets)
            ]
        else:
            kwargs["Subnets"] = subnets
        try:
            lb = self._call(self.elbv2, "CreateLoadBalancer", **kwargs)["LoadBalancers"][0]
        except ClientError as e:
            if error_code(e) != "DuplicateLoadBalancerName":
                raise _permanent(e) from e
            lb = self._call(self.elbv2, "DescribeLoadBalancers", Names=[name])["LoadBalancers"][0]
        else:
            created.append(("lb", lb["LoadBalancerArn"]))
        self._apply_lb_attributes(spec, lb["LoadBalancerArn"])
        targets = self._targets(spec, nodes)
        # Target groups don't depend on each other, and targets and listeners only on their
        # group: run them side by side, so time to status is a few round trips, not 2N+1.
        plans = port_plans(spec)
        tgs = _gather(
            [
                self._pool.submit(self._create_tg, spec, ident, plan, vpc, targets, created, False)
                for plan in plans
            ]
        )
        lb_arn = lb["LoadBalancerArn"]
        work = [
            self._pool.submit(self._create_listener, spec, lb_arn, plan, tg, ident)
            for plan, tg in zip(plans, tgs, strict=True)
        ]
        work += [
            self._pool.submit(self._register, tg, plan.node_port, targets)
            for plan, tg in zip(plans, tgs, strict=True)
            if targets
        ]
        _gather(work + pending)
        return dict(lb)

    def _register(self, tg: str, port: int, targets: list[str]) -> None:
        self._call(
            self.elbv2,
            "RegisterTargets",
            TargetGroupArn=tg,
            Targets=[{"Id": i, "Port": port} for i in targets],
        )
        with self._lock:
            self._registered[tg] = frozenset((i, port) for i in targets)

    def _apply_lb_attributes(self, spec: LoadBalancerSpec, arn: str) -> None:
        attrs = dict(spec.options.get("attributes") or ())
        if spec.options.get("cross_zone") is not None:
            attrs["load_balancing.cross_zone.enabled"] = str(spec.options["cross_zone"]).lower()
        if attrs:
            self._call(
                self.elbv2,
                "ModifyLoadBalancerAttributes",
                LoadBalancerArn=arn,
                Attributes=[{"Key": k, "Value": v} for k, v in sorted(attrs.items())],
            )

    def _targets(self, spec: LoadBalancerSpec, nodes: Iterable[Node]) -> list[str]:
        want = dict(spec.options.get("target_node_labels") or ())
        out = []
        for n in nodes:
            labels = dict(n.labels)
            if all(labels.get(k) == v for k, v in want.items()):
                iid = instance_id(n)
                if iid:
                    out.append(iid)
        return sorted(out)

    def _tg_kwargs(self, spec: LoadBalancerSpec, plan: PortPlan) -> dict[str, Any]:
        o = spec.options
        hc = spec.health_check
        kwargs: dict[str, Any] = {
            "HealthCheckIntervalSeconds": int(o.get("hc_interval") or 10),
            "HealthyThresholdCount": int(o.get("hc_healthy") or 3),
            "UnhealthyThresholdCount": int(o.get("hc_unhealthy") or 3),
        }
        if hc is not None:
            proto = hc.protocol.upper()
            if plan.tg_protocol in ("UDP", "TCP_UDP") and proto == "TCP" and hc.port is None:
                proto = "TCP"
            kwargs["HealthCheckProtocol"] = proto
            kwargs["HealthCheckPort"] = str(hc.port) if hc.port else "traffic-port"
            if proto in ("HTTP", "HTTPS"):
                kwargs["HealthCheckPath"] = hc.path or "/"
                if o.get("hc_success_codes"):
                    kwargs["Matcher"] = {"HttpCode": str(o["hc_success_codes"])}
        if o.get("hc_timeout"):
            kwargs["HealthCheckTimeoutSeconds"] = int(o["hc_timeout"])
        return kwargs

    def _create_tg(
        self,
        spec: LoadBalancerSpec,
        ident: str,
        plan: PortPlan,
        vpc: str,
        targets: list[str],
        created: list[tuple[str, str]],
        register: bool = True,
    ) -> str:
        tags = T.service_tags(self.cid, spec.service, ident, "target-group", spec.tags)
        tags[T.TAG_CONFIG] = plan.config(spec)
        tags[T.TAG_PORT] = str(plan.port)
        tags["ccm.dev/targets"] = T.digest(targets)
        name = T.tg_name(self.cid, spec.service.uid, ident, plan.port, plan.listener_protocol)
        try:
            tg = self._call(
                self.elbv2,
                "CreateTargetGroup",
                Name=name,
                Protocol=plan.tg_protocol,
                Port=plan.node_port,
                VpcId=vpc,
                TargetType="instance",
                Tags=T.as_aws(tags),
                **self._tg_kwargs(spec, plan),
            )["TargetGroups"][0]
        except ClientError as e:
            if error_code(e) != "DuplicateTargetGroupName":
                raise
            # Our deterministic name: a crash (or failed rollback) left it; adopt it.
            tg = self._call(self.elbv2, "DescribeTargetGroups", Names=[name])["TargetGroups"][0]
        arn = str(tg["TargetGroupArn"])
        created.append(("tg", arn))
        attrs = dict(spec.options.get("target_group_attributes") or ())
        if spec.options.get("proxy_protocol"):
            attrs["proxy_protocol_v2.enabled"] = "true"
        if attrs:
            self._call(
                self.elbv2,
                "ModifyTargetGroupAttributes",
                TargetGroupArn=arn,
                Attributes=[{"Key": k, "Value": v} for k, v in sorted(attrs.items())],
            )
        if targets and register:
            self._register(arn, plan.node_port, targets)
        return arn

    def _listener_kwargs(self, spec: LoadBalancerSpec, plan: PortPlan) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Protocol": plan.listener_protocol, "Port": plan.port}
        if plan.certificates:
            kwargs["Certificates"] = [{"CertificateArn": plan.certificates[0]}]
            if spec.options.get("ssl_negotiation_policy"):
                kwargs["SslPolicy"] = spec.options["ssl_negotiation_policy"]
            if spec.kind == "nlb" and spec.options.get("alpn_policy"):
                kwargs["AlpnPolicy"] = [spec.options["alpn_policy"]]
        return kwargs

    def _create_listener(
        self, spec: LoadBalancerSpec, lb: str, plan: PortPlan, tg: str, ident: str
    ) -> None:
        tags = T.service_tags(self.cid, spec.service, ident, "listener", spec.tags)
        try:
            self._call(
                self.elbv2,
                "CreateListener",
                LoadBalancerArn=lb,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
                Tags=T.as_aws(tags),
                **self._listener_kwargs(spec, plan),
            )
        except ClientError as e:
            raise _permanent(e) from e

    # ------------------------------------------------------------ converge

    def _converge(
        self, spec: LoadBalancerSpec, nodes: list[Node], ident: str, arn: str, found: Found
    ) -> dict[str, Any]:
        """Bring an existing load balancer in line. Listeners and registered targets are
        read only when our hash tags say something changed, on every DEEP_EVERY-th pass,
        or when a target group is missing, so steady state costs the tag query and one
        DescribeLoadBalancers."""
        lb = self._call(self.elbv2, "DescribeLoadBalancers", LoadBalancerArns=[arn])[
            "LoadBalancers"
        ][0]
        vpc = str(lb.get("VpcId", ""))
        pending: list[Future[Any]] = []
        want = self._converge_groups(spec, nodes, ident, arn, lb, found, vpc, pending)
        config = self._lb_config(
            spec, sorted(z["SubnetId"] for z in lb.get("AvailabilityZones") or []), want
        )
        mine_tgs = {a: t for a, t in found.target_groups.items() if t.get(T.TAG_IDENTITY) == ident}
        tg_by_port = {int(t.get(T.TAG_PORT, 0)): a for a, t in mine_tgs.items()}
        plans = {p.port: p for p in port_plans(spec)}
        lb_changed = found.load_balancers[arn].get(T.TAG_CONFIG) != config
        with self._lock:
            self._passes[arn] = self._passes.get(arn, 0) + 1
            periodic = self._passes[arn] % DEEP_EVERY == 0
        deep = lb_changed or periodic or set(tg_by_port) != set(plans)
        targets = self._targets(spec, nodes)
        created: list[tuple[str, str]] = []
        tag_updates: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for port, plan in plans.items():
            tg = tg_by_port.get(port)
            if tg is None:
                tg_by_port[port] = self._create_tg(spec, ident, plan, vpc, targets, created)
            else:
                updates = self._converge_tg(spec, plan, tg, mine_tgs[tg], targets, deep)
                if updates:
                    tag_updates.setdefault(tuple(sorted(updates.items())), []).append(tg)
        for tags, arns in tag_updates.items():  # one AddTags for groups that changed alike
            self._call(
                self.elbv2,
                "AddTags",
                ResourceArns=arns,
                Tags=[{"Key": k, "Value": v} for k, v in tags],
            )
        if deep:
            self._converge_listeners(spec, arn, ident, plans, tg_by_port)
        for port, tg in list(tg_by_port.items()):
            if port not in plans:
                self._call(self.elbv2, "DeleteTargetGroup", TargetGroupArn=tg)
        if lb_changed:
            if (lb.get("IpAddressType") or "ipv4") != (
                spec.options.get("ip_address_type") or "ipv4"
            ):
                self._call(
                    self.elbv2,
                    "SetIpAddressType",
                    LoadBalancerArn=arn,
                    IpAddressType=spec.options.get("ip_address_type") or "ipv4",
                )
            self._apply_lb_attributes(spec, arn)
            self._call(
                self.elbv2,
                "AddTags",
                ResourceArns=[arn],
                Tags=[{"Key": T.TAG_CONFIG, "Value": config}],
            )
        _gather(pending)
        return dict(lb)

    def _converge_groups(
        self,
        spec: LoadBalancerSpec,
        nodes: list[Node],
        ident: str,
        arn: str,
        lb: Mapping[str, Any],
        found: Found,
        vpc: str,
        pending: list[Future[Any]],
    ) -> list[str]:
        if not spec.options.get("security_groups"):
            front = self._frontend_group(spec, vpc, ident, found.security_groups, pending)
            want = [front] + (
                [self._backend_group(vpc, nodes)]
                if spec.options.get("manage_backend_sg_rules", True)
                else []
            )
        else:
            want = list(spec.options["security_groups"])
        if sorted(lb.get("SecurityGroups") or []) != sorted(want):
            self._call(self.elbv2, "SetSecurityGroups", LoadBalancerArn=arn, SecurityGroups=want)
        return want

    def _converge_listeners(
        self,
        spec: LoadBalancerSpec,
        arn: str,
        ident: str,
        plans: Mapping[int, PortPlan],
        tg_by_port: Mapping[int, str],
    ) -> None:
        listeners = self._call(self.elbv2, "DescribeListeners", LoadBalancerArn=arn)["Listeners"]
        by_port = {int(li["Port"]): li for li in listeners}
        for port, plan in plans.items():
            tg = tg_by_port[port]
            listener = by_port.get(port)
            if listener is None:
                self._create_listener(spec, arn, plan, tg, ident)
            elif (
                listener["Protocol"] != plan.listener_protocol
                or _forward_target(listener) != tg
                or _cert(listener) != (plan.certificates[:1] or None)
            ):
                self._call(
                    self.elbv2,
                    "ModifyListener",
                    ListenerArn=listener["ListenerArn"],
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
                    **self._listener_kwargs(spec, plan),
                )
        for port, listener in by_port.items():
            if port not in plans:
                self._call(self.elbv2, "DeleteListener", ListenerArn=listener["ListenerArn"])

    def _converge_tg(
        self,
        spec: LoadBalancerSpec,
        plan: PortPlan,
        arn: str,
        tags: Mapping[str, str],
        targets: list[str],
        deep: bool = False,
    ) -> dict[str, str]:
        """Converge one target group; returns the hash tags to update (batched by caller).

        A deep pass reads the registered targets even when the tag matches: a target
        someone deregistered by hand is registered again within DEEP_EVERY resyncs."""
        updates: dict[str, str] = {}
        config = plan.config(spec)
        if tags.get(T.TAG_CONFIG) != config:
            self._call(
                self.elbv2, "ModifyTargetGroup", TargetGroupArn=arn, **self._tg_kwargs(spec, plan)
            )
            updates[T.TAG_CONFIG] = config
        digest = T.digest(targets)
        with self._lock:
            known = self._registered.get(arn)
        # The targets tag is written at birth, before RegisterTargets: a crash in between
        # leaves a group whose tag matches but which has no targets. So a group this
        # process has not registered itself is read once (a read, not a write).
        if (
            known is None
            or deep
            or tags.get("ccm.dev/targets") != digest
            or tags.get(T.TAG_CONFIG) != config
        ):
            if known is None or deep or tags.get(T.TAG_CONFIG) != config:
                health = self._call(self.elbv2, "DescribeTargetHealth", TargetGroupArn=arn)
                known = frozenset(
                    (d["Target"]["Id"], int(d["Target"].get("Port", 0)))
                    for d in health.get("TargetHealthDescriptions", [])
                )
            want = frozenset((i, plan.node_port) for i in targets)
            if want - known:  # register new targets before deregistering old ones
                self._call(
                    self.elbv2,
                    "RegisterTargets",
                    TargetGroupArn=arn,
                    Targets=[{"Id": i, "Port": p} for i, p in sorted(want - known)],
                )
            if known - want:
                self._call(
                    self.elbv2,
                    "DeregisterTargets",
                    TargetGroupArn=arn,
                    Targets=[{"Id": i, "Port": p} for i, p in sorted(known - want)],
                )
            with self._lock:
                self._registered[arn] = want
            if tags.get("ccm.dev/targets") != digest:
                updates["ccm.dev/targets"] = digest
        return updates

    # ------------------------------------------------------------ delete

    def delete(self, ref: ServiceRef) -> None:
        self._delete_identities(self._find(ref.uid), keep=None)

    def _delete_identities(self, found: Found, keep: str | None) -> None:
        """Load balancers first (their listeners go with them), then target groups, then
        frontend groups, which AWS frees only once the load balancer's ENIs are gone."""

        def doomed(tags: Mapping[str, str]) -> bool:
            return keep is None or tags.get(T.TAG_IDENTITY) != keep

        for arn, tags in found.load_balancers.items():
            if doomed(tags):
                self._ignore_missing(self.elbv2, "DeleteLoadBalancer", LoadBalancerArn=arn)
        for arn, tags in found.target_groups.items():
            if doomed(tags):
                self._ignore_missing(self.elbv2, "DeleteTargetGroup", TargetGroupArn=arn)
        for sg, tags in found.security_groups.items():
            if doomed(tags) and tags.get(T.TAG_ROLE) == "frontend-sg":
                self._delete_sg(sg)

    def _ignore_missing(self, client: Any, operation: str, **kwargs: Any) -> None:
        try:
            self._call(client, operation, **kwargs)
        except ClientError as e:
            if not error_code(e).endswith(("NotFound", "NotFoundException")):
                raise

    def _delete_sg(self, sg: str) -> None:
        """AWS frees a load balancer's group only after its ENIs detach (minutes on real
        AWS). A short wait covers the common case; beyond it the reconcile fails with a
        retryable error and the loop's backoff retries, instead of pinning a worker."""
        for attempt in range(3):
            try:
                self._call(self.ec2, "DeleteSecurityGroup", GroupId=sg)
                return
            except ClientError as e:
                code = error_code(e)
                if code == "InvalidGroup.NotFound":
                    return
                if code != "DependencyViolation":
                    raise
                if attempt < 2:
                    time.sleep(2)
        raise RetryableError(
            f"security group {sg} is still in use by a deleted load "
            "balancer's network interfaces; will retry"
        )

    # ------------------------------------------------------------ inventory, prices

    def inventory(self) -> Iterable[OwnedResource]:
        return list_owned(self._call, self.cid, self.tagging, self.elbv2, self.elb)

    # ------------------------------------------------------------ leak detector hooks

    def resource_identity(self, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        return (T.identity_hash(spec),)

    def delete_resources(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        outcomes = Cleaner(self._call, self._clients, self.cid).delete(resources)
        if any(o.resource.shared and not o.error for o in outcomes):
            with self._backend_lock:  # the next ensure finds or makes a new one
                self._backend_sg = None
                self._node_sg_rules.clear()
        return outcomes

    def protected_ids(self, service: JSON) -> set[str]:
        return protected_ids(service)

    def legacy_wanted(self, resource: OwnedResource, service: JSON | None) -> bool:
        return legacy_wanted(resource, service)

    def prices(self) -> PriceBook:
        return load_prices(self.region, self.prices_file)

    # ------------------------------------------------------------ cost audit hooks

    @property
    def price_region(self) -> str:
        return self.region

    def cost_lines(
        self,
        resources: Sequence[OwnedResource],
        prices: PriceBook,
        capacity_units: Callable[[OwnedResource], float | None],
    ) -> dict[tuple[str, str, str], list[CostLine]]:
        return costs.cost_lines(resources, prices, capacity_units)

    def consolidated_cost(self, prices: PriceBook, scheme: str) -> list[CostLine]:
        return costs.consolidated_cost(prices, scheme)


def _gather(futures: list[Future[Any]]) -> list[Any]:
    """Results in order, after every future finished (so a rollback sees everything that
    was created), raising the first failure."""
    wait(futures)
    for f in futures:
        exc = f.exception()
        if exc is not None:
            raise exc
    return [f.result() for f in futures]


def _has_stale(found: Found, ident: str) -> bool:
    groups = (found.load_balancers, found.target_groups, found.security_groups)
    return any(
        t.get(T.TAG_IDENTITY) not in (None, ident) and t.get(T.TAG_UID)
        for g in groups
        for t in g.values()
    )


PERMANENT_CODES = frozenset(
    {
        "CertificateNotFound",
        "ValidationError",
        "InvalidConfigurationRequest",
        "UnsupportedProtocol",
        "SSLPolicyNotFound",
        "ALPNPolicyNotSupported",
        "InvalidSubnet",
        "SubnetNotFound",
        "InvalidSecurityGroup",
        "AllocationIdNotFound",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "TooManyLoadBalancers",
        "TooManyTargetGroups",
        "TooManyListeners",
        "TooManyCertificates",
        "TooManyTags",
        "DuplicateTagKeys",
        "RulesPerSecurityGroupLimitExceeded",
        "SecurityGroupLimitExceeded",
        "InvalidScheme",
        "AvailabilityZoneNotSupported",
    }
)


def _permanent(e: ClientError) -> RetryableError:
    """AWS's own code and message, as the Warning Event shows them; PermanentError when
    the same request cannot succeed later (bad input or a quota)."""
    err = e.response.get("Error", {})
    message = f"AWS {err.get('Code')}: {err.get('Message')}"
    return (
        PermanentError(message) if err.get("Code") in PERMANENT_CODES else RetryableError(message)
    )


def _forward_target(listener: Mapping[str, Any]) -> str | None:
    for action in listener.get("DefaultActions") or []:
        if action.get("Type") == "forward":
            return str(action.get("TargetGroupArn"))
    return None


def _cert(listener: Mapping[str, Any]) -> tuple[str, ...] | None:
    certs = tuple(str(c["CertificateArn"]) for c in listener.get("Certificates") or [])
    return certs[:1] or None


def _flatten(perms: Iterable[Mapping[str, Any]]) -> set[tuple[str, int, int, str]]:
    out = set()
    for p in perms:
        proto, lo, hi = (
            str(p.get("IpProtocol")),
            int(p.get("FromPort", -1)),
            int(p.get("ToPort", -1)),
        )
        for r in p.get("IpRanges") or []:
            out.add((proto, lo, hi, str(r["CidrIp"])))
        for r in p.get("Ipv6Ranges") or []:
            out.add((proto, lo, hi, str(r["CidrIpv6"])))
    return out


def _unflatten(rules: Iterable[tuple[str, int, int, str]]) -> list[dict[str, Any]]:
    out = []
    for proto, lo, hi, cidr in sorted(rules):
        rng = (
            {"Ipv6Ranges": [{"CidrIpv6": cidr}]}
            if ":" in cidr
            else {"IpRanges": [{"CidrIp": cidr}]}
        )
        out.append({"IpProtocol": proto, "FromPort": lo, "ToPort": hi, **rng})
    return out

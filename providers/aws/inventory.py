"""Everything in the account tagged for this cluster, as the leak detector and the audit
see it, in a number of calls that grows with pages, not with resources.

Three tag views are joined: ours (`ccm.dev/cluster`), the in-tree / cloud-provider-aws
controller's (`kubernetes.io/cluster/<id>=owned` plus `kubernetes.io/service-name`, no
`ccm.dev/cluster`), and aws-load-balancer-controller's (`elbv2.k8s.aws/cluster` plus
`service.k8s.aws/stack`). Load balancer details (DNS name, creation time, type) come from
one paginated DescribeLoadBalancers instead of one call per load balancer. Classic ELBs are
listed through the classic API: the tagging API does not return them everywhere (moto
does not), and listing them directly works in both.

A listing that fails or whose pagination loops raises IncompleteListing: a partial
inventory would make the missing resources look deleted and the rest look orphaned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ccm.model import IncompleteListing, OwnedResource, ServiceRef
from providers.aws import tags as T
from providers.aws.calls import error_code

LEGACY_IN_TREE = "cloud-provider-aws"
LEGACY_LBC = "aws-load-balancer-controller"
LBC_CLUSTER = "elbv2.k8s.aws/cluster"
LBC_STACK = "service.k8s.aws/stack"
RESOURCE_TYPES = [
    "elasticloadbalancing:loadbalancer",
    "elasticloadbalancing:targetgroup",
    "ec2:security-group",
]
DELETE_ORDER = {"load-balancer": 0, "classic-load-balancer": 0, "target-group": 1}
PRICE_KEYS = {"network": "nlb", "application": "alb", "gateway": "gwlb"}

Call = Callable[..., dict[str, Any]]  # (client, operation, **kwargs) -> response


def pages(
    call: Call, client: Any, operation: str, token_in: str, token_out: str, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Every page of a listing, or IncompleteListing: never a silent partial result."""
    seen: set[str] = set()
    token = ""
    while True:
        args = dict(kwargs)
        if token:
            args[token_in] = token
        try:
            page = call(client, operation, **args)
        except ClientError as e:
            raise IncompleteListing(f"{operation} failed: {error_code(e)}: {e}") from e
        yield page
        token = str(page.get(token_out) or "")
        if not token:
            return
        if token in seen:
            raise IncompleteListing(f"{operation} returned the same page token twice")
        seen.add(token)


@dataclass
class _Tagged:
    kind: str
    id: str
    name: str
    tags: dict[str, str]
    managed_by: str
    details: dict[str, Any] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    created_at: datetime | None = None


def _kind_of(arn: str) -> tuple[str, str, str]:
    """(kind, id, name) from a tagging-API ARN."""
    if ":targetgroup/" in arn:
        return "target-group", arn, arn.split(":targetgroup/")[1].split("/")[0]
    if ":security-group/" in arn:
        sg = arn.rsplit("/", 1)[-1]
        return "security-group", sg, sg
    rest = arn.split(":loadbalancer/")[1]
    if rest.startswith(("net/", "app/", "gwy/")):
        return "load-balancer", arn, rest.split("/")[1]
    return "classic-load-balancer", rest, rest


def _managed_by(tags: Mapping[str, str], cluster: str) -> str | None:
    """Who made a resource found under this cluster's tags; None: not a Service's."""
    if T.TAG_CLUSTER in tags:
        return T.MANAGED_BY[1] if tags[T.TAG_CLUSTER] == cluster else None
    if tags.get(LBC_CLUSTER) == cluster:
        return LEGACY_LBC if tags.get(LBC_STACK) else None
    if tags.get(T.cluster_tag(cluster)) == "owned" and tags.get(T.TAG_SERVICE):
        return LEGACY_IN_TREE
    return None  # e.g. the cluster's node security group: tagged, but no Service's


def list_owned(
    call: Call, cluster: str, tagging: Any, elbv2: Any, elb: Any | None
) -> list[OwnedResource]:
    found: dict[str, _Tagged] = {}
    for key, value in ((T.cluster_tag(cluster), "owned"), (LBC_CLUSTER, cluster)):
        for page in pages(
            call,
            tagging,
            "GetResources",
            "PaginationToken",
            "PaginationToken",
            TagFilters=[{"Key": key, "Values": [value]}],
            ResourceTypeFilters=RESOURCE_TYPES,
            TagsPerPage=500,
        ):
            for item in page.get("ResourceTagMappingList", []):
                tags = T.from_aws(item.get("Tags"))
                by = _managed_by(tags, cluster)
                if by is None:
                    continue
                kind, rid, name = _kind_of(str(item["ResourceARN"]))
                if kind != "classic-load-balancer":  # listed below, with its details
                    found[rid] = _Tagged(kind, rid, name, tags, by)
    _describe_v2(call, elbv2, found)
    if elb is not None:
        _classic(call, elb, cluster, found)
    return _resources(found, cluster)


def _describe_v2(call: Call, elbv2: Any, found: dict[str, _Tagged]) -> None:
    lbs = {rid: t for rid, t in found.items() if t.kind == "load-balancer"}
    if not lbs:
        return
    described: set[str] = set()
    for page in pages(call, elbv2, "DescribeLoadBalancers", "Marker", "NextMarker", PageSize=400):
        for lb in page.get("LoadBalancers", []):
            t = lbs.get(str(lb["LoadBalancerArn"]))
            if t is None:
                continue
            described.add(t.id)
            t.addresses = (str(lb.get("DNSName", "")),)
            t.created_at = lb.get("CreatedTime")
            t.details.update(
                type=lb.get("Type"),
                scheme=lb.get("Scheme"),
                price_key=PRICE_KEYS.get(str(lb.get("Type")), "nlb"),
                zones=len(lb.get("AvailabilityZones") or []),
            )
    for rid in set(lbs) - described:
        del found[rid]  # deleted between the two listings


def _classic(call: Call, elb: Any, cluster: str, found: dict[str, _Tagged]) -> None:
    names: dict[str, dict[str, Any]] = {}
    for page in pages(call, elb, "DescribeLoadBalancers", "Marker", "NextMarker", PageSize=400):
        for lb in page.get("LoadBalancerDescriptions", []):
            names[str(lb["LoadBalancerName"])] = lb
    ordered = sorted(names)
    for i in range(0, len(ordered), 20):  # DescribeTags takes at most 20 names
        try:
            described = call(elb, "DescribeTags", LoadBalancerNames=ordered[i : i + 20])
        except ClientError as e:
            raise IncompleteListing(f"DescribeTags failed: {error_code(e)}: {e}") from e
        for item in described.get("TagDescriptions", []):
            name = str(item["LoadBalancerName"])
            tags = T.from_aws(item.get("Tags"))
            by = _managed_by(tags, cluster)
            if by is None:
                continue
            lb = names[name]
            found[name] = _Tagged(
                "classic-load-balancer",
                name,
                name,
                tags,
                by,
                details={
                    "scheme": lb.get("Scheme"),
                    "price_key": "clb",
                    "zones": len(lb.get("AvailabilityZones") or []),
                },
                addresses=(str(lb.get("DNSName", "")),),
                created_at=lb.get("CreatedTime"),
            )


def _owner(t: _Tagged) -> ServiceRef | None:
    uid = t.tags.get(T.TAG_UID, "")
    key = t.tags.get(T.TAG_SERVICE) or t.tags.get(LBC_STACK) or ""
    ns, sep, name = key.partition("/")
    if not sep:
        return None
    return ServiceRef(ns, name, uid)


def _resources(found: dict[str, _Tagged], cluster: str) -> list[OwnedResource]:
    # Children have no creation time in the API: they take their load balancer's.
    born = {
        (t.tags.get(T.TAG_UID), t.tags.get(T.TAG_IDENTITY)): t.created_at
        for t in found.values()
        if t.kind == "load-balancer" and t.created_at
    }
    out = []
    for t in found.values():
        ours = t.managed_by == T.MANAGED_BY[1]
        role = t.tags.get(T.TAG_ROLE, "")
        shared = ours and role == "backend-sg"
        key = (t.tags.get(T.TAG_UID), t.tags.get(T.TAG_IDENTITY))
        out.append(
            OwnedResource(
                provider="aws",
                kind=t.kind,
                id=t.id,
                cluster=cluster,
                owner=None if shared else _owner(t),
                identity=(t.tags.get(T.TAG_IDENTITY, ""),) if ours else (),
                created_at=t.created_at or born.get(key),
                shared=shared,
                details={**t.tags, **t.details, "role": role},
                managed_by=t.managed_by,
                keep=t.tags.get(T.TAG_KEEP, "").lower() == "true",
                addresses=tuple(a for a in t.addresses if a),
                name=t.name,
                delete_order=DELETE_ORDER.get(t.kind, 3 if shared else 2),
            )
        )
    return out

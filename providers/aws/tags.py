"""Names and tags of every AWS resource the driver creates (invariants 2 and 3).

Names derive from the cluster id, the Service UID and a hash of the load balancer's
identity, so a crash between "create" and "record" finds the resource again by name, and a
replacement (new identity) never collides with the resource it replaces. Tags carry the
same facts, so the leak detector and the audit can attribute anything they find.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from ccm.model import LoadBalancerSpec, ServiceRef

TAG_CLUSTER = "ccm.dev/cluster"
TAG_UID = "ccm.dev/service-uid"
TAG_IDENTITY = "ccm.dev/identity"
TAG_ROLE = "ccm.dev/resource"  # load-balancer, target-group, listener, frontend-sg, backend-sg
TAG_CONFIG = "ccm.dev/config"  # hash of what was applied: steady state needs no deep reads
TAG_PORT = "ccm.dev/port"  # target groups: the Service port they serve
TAG_SERVICE = "kubernetes.io/service-name"
TAG_KEEP = "ccm.dev/keep"  # "true": the leak detector never deletes it
MANAGED_BY = ("ccm.dev/managed-by", "ccm")


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def digest(*parts: object, size: int = 10) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:size]


def identity_hash(spec: LoadBalancerSpec) -> str:
    return digest(*spec.identity(), size=6)


def lb_name(cluster: str, uid: str, identity: str) -> str:
    """32 characters at most, as ELBv2 requires: ccm-<10>-<6>."""
    return f"ccm-{digest(cluster, uid)}-{identity}"


def tg_name(cluster: str, uid: str, identity: str, port: int, protocol: str) -> str:
    return f"ccm-{digest(cluster, uid)}-{identity}-{port}{protocol[0].lower()}"


def frontend_sg_name(cluster: str, uid: str, identity: str) -> str:
    return f"{lb_name(cluster, uid, identity)}-frontend"


def backend_sg_name(cluster: str) -> str:
    return f"ccm-{digest(cluster)}-backend"


def service_tags(
    cluster: str, ref: ServiceRef, identity: str, role: str, extra: Iterable[tuple[str, str]] = ()
) -> dict[str, str]:
    tags = dict(extra)
    tags.update(
        {
            cluster_tag(cluster): "owned",
            TAG_CLUSTER: cluster,
            TAG_UID: ref.uid,
            TAG_SERVICE: ref.key,
            TAG_IDENTITY: identity,
            TAG_ROLE: role,
            MANAGED_BY[0]: MANAGED_BY[1],
        }
    )
    return tags


def cluster_tags(cluster: str, role: str) -> dict[str, str]:
    return {
        cluster_tag(cluster): "owned",
        TAG_CLUSTER: cluster,
        TAG_ROLE: role,
        MANAGED_BY[0]: MANAGED_BY[1],
    }


def as_aws(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def from_aws(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in tags or ()}

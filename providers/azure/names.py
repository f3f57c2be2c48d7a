"""Names and ownership records for Azure, as AKS's cloud provider writes them plus ours.

The cluster has two Standard load balancers, `<cluster>` (public) and `<cluster>-internal`.
A Service's children on them (frontend, rules, probes) are named from its UID the way
AKS names them (`a` + the UID without dashes), so a crash between "PUT" and "record" finds
them again and AKS tooling reads them. Children carry no tags; the Service's namespace
and name live in its NSG rule's description and its public IP's tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TAG_SERVICE = "k8s-azure-service"  # "namespace/name", as AKS tags it
TAG_CLUSTER_NAME = "k8s-azure-cluster-name"
TAG_CLUSTER = "ccm.dev/cluster"
TAG_UID = "ccm.dev/service-uid"
TAG_MANAGED_BY = "ccm.dev/managed-by"
TAG_IDENTITY = "ccm.dev/identity"
MANAGED_BY = "ccm"
INTERNAL_SUFFIX = "-internal"


def frontend_name(uid: str) -> str:
    return "a" + uid.replace("-", "").lower()


def rule_name(uid: str, protocol: str, port: int) -> str:
    return f"{frontend_name(uid)}-{protocol}-{port}"


def probe_name(uid: str, protocol: str, port: int) -> str:
    return rule_name(uid, protocol, port)


def owns_child(name: str, uid: str) -> bool:
    front = frontend_name(uid)
    return name == front or name.startswith(front + "-")


def uid_of_child(name: str) -> str:
    """The UID (without dashes) a child's name carries; "" when it is not one of ours."""
    head = name.split("-", 1)[0]
    return head[1:] if head.startswith("a") and len(head) == 33 else ""


def public_ip_name(cluster: str, uid: str) -> str:
    return f"{cluster}-{frontend_name(uid)}"


def security_rule_name(uid: str, protocol: str) -> str:
    return f"ccm-{frontend_name(uid)}-{protocol.lower()}"


def lb_name(cluster: str, internal: bool) -> str:
    return cluster + (INTERNAL_SUFFIX if internal else "")


def pool_name(cluster: str) -> str:
    return cluster


def lb_tags(cluster: str) -> dict[str, str]:
    return {TAG_CLUSTER: cluster, TAG_CLUSTER_NAME: cluster, TAG_MANAGED_BY: MANAGED_BY}


def public_ip_tags(cluster: str, uid: str, service: str, identity: str) -> dict[str, str]:
    return {
        **lb_tags(cluster),
        TAG_SERVICE: service,
        TAG_UID: uid,
        TAG_IDENTITY: identity,
    }


@dataclass(frozen=True)
class RuleRecord:
    """What an NSG rule's description says about its Service."""

    cluster: str
    uid: str
    service: str
    identity: str

    def description(self) -> str:
        return json.dumps(
            {
                TAG_CLUSTER: self.cluster,
                TAG_UID: self.uid,
                TAG_SERVICE: self.service,
                TAG_IDENTITY: self.identity,
                TAG_MANAGED_BY: MANAGED_BY,
            },
            sort_keys=True,
        )


def rule_record(description: str | None) -> RuleRecord | None:
    if not description:
        return None
    try:
        data = json.loads(description)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get(TAG_MANAGED_BY) != MANAGED_BY:
        return None
    if not data.get(TAG_CLUSTER) or not data.get(TAG_UID):
        return None
    return RuleRecord(
        str(data[TAG_CLUSTER]),
        str(data[TAG_UID]),
        str(data.get(TAG_SERVICE, "")),
        str(data.get(TAG_IDENTITY, "")),
    )

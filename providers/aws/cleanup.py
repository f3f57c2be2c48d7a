"""Delete exactly the resources the leak detector names, in the order AWS allows.

Load balancers first (their listeners go with them, which frees the target groups), then
target groups, then security groups (freed once the load balancers' network interfaces
detach), and the cluster's shared backend group last, after revoking the node groups'
rules that reference it. "In use" answers are retried briefly; what still fails is that
resource's outcome and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from ccm.driver import DeleteOutcome
from ccm.model import OwnedResource
from providers.aws import tags as T
from providers.aws.calls import error_code

IN_USE = frozenset({"ResourceInUse", "DependencyViolation", "InvalidGroup.InUse"})
GONE = frozenset(
    {
        "LoadBalancerNotFound",
        "AccessPointNotFound",  # classic ELB
        "TargetGroupNotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
    }
)

Call = Callable[..., dict[str, Any]]


def _in_use(exc: BaseException) -> bool:
    return error_code(exc) in IN_USE


class Cleaner:
    def __init__(
        self,
        call: Call,
        clients: dict[str, Any],
        cluster: str,
        in_use_wait: float = 2.0,
        in_use_attempts: int = 4,
    ) -> None:
        self.call = call
        self.clients = clients
        self.cluster = cluster
        self.retry = Retrying(
            retry=retry_if_exception(_in_use),
            wait=wait_fixed(in_use_wait),
            stop=stop_after_attempt(in_use_attempts),
            reraise=True,
        )

    def delete(self, resources: Sequence[OwnedResource]) -> list[DeleteOutcome]:
        outcomes: list[DeleteOutcome] = []
        failed_groups: set[tuple[str, tuple[Any, ...]]] = set()
        for r in sorted(resources, key=lambda r: r.delete_order):
            group = (r.owner.uid if r.owner else "", tuple(r.identity))
            refusal = self._refusal(r)
            if not refusal and group in failed_groups and r.kind != "load-balancer":
                refusal = "its load balancer could not be deleted"
            if refusal:
                outcomes.append(DeleteOutcome(r, refusal))
                continue
            try:
                self.retry(self._delete_one, r)
            except ClientError as e:
                if error_code(e) not in GONE:
                    err = e.response.get("Error", {})
                    outcomes.append(DeleteOutcome(r, f"{err.get('Code')}: {err.get('Message')}"))
                    if r.kind in ("load-balancer", "classic-load-balancer"):
                        failed_groups.add(group)
                    continue
            outcomes.append(DeleteOutcome(r))
        return outcomes

    def _refusal(self, r: OwnedResource) -> str:
        """Defense in depth: the detector already filters these; the driver checks again."""
        tags = r.details
        if r.keep:
            return f"tagged {T.TAG_KEEP}=true"
        ours = tags.get(T.TAG_CLUSTER) == self.cluster
        legacy = (
            tags.get(T.cluster_tag(self.cluster)) == "owned"
            or tags.get("elbv2.k8s.aws/cluster") == self.cluster
        )
        if r.cluster != self.cluster or not (ours or (legacy and T.TAG_CLUSTER not in tags)):
            return "not tagged for this cluster"
        return ""

    def _delete_one(self, r: OwnedResource) -> None:
        if r.kind == "load-balancer":
            self.call(self.clients["elbv2"], "DeleteLoadBalancer", LoadBalancerArn=r.id)
        elif r.kind == "classic-load-balancer":
            self.call(self.clients["elb"], "DeleteLoadBalancer", LoadBalancerName=r.id)
        elif r.kind == "target-group":
            self.call(self.clients["elbv2"], "DeleteTargetGroup", TargetGroupArn=r.id)
        elif r.kind == "security-group":
            if r.shared:
                self._revoke_references(r.id)
            self.call(self.clients["ec2"], "DeleteSecurityGroup", GroupId=r.id)
        else:
            raise ValueError(f"aws: cannot delete a {r.kind}")

    def _revoke_references(self, sg: str) -> None:
        """Rules in other groups (the node groups) that allow this one: AWS refuses to
        delete a group another group's rule references."""
        ec2 = self.clients["ec2"]
        groups = self.call(
            ec2,
            "DescribeSecurityGroups",
            Filters=[{"Name": "ip-permission.group-id", "Values": [sg]}],
        )["SecurityGroups"]
        for g in groups:
            perms = []
            for p in g.get("IpPermissions", []):
                pairs = [
                    {k: v for k, v in u.items() if k in ("GroupId", "UserId", "Description")}
                    for u in p.get("UserIdGroupPairs", [])
                    if u.get("GroupId") == sg
                ]
                if pairs:
                    perm = {k: v for k, v in p.items() if k in ("IpProtocol", "FromPort", "ToPort")}
                    perms.append({**perm, "UserIdGroupPairs": pairs})
            if not perms:
                continue
            try:
                self.call(
                    ec2, "RevokeSecurityGroupIngress", GroupId=g["GroupId"], IpPermissions=perms
                )
            except ClientError as e:
                if error_code(e) != "InvalidPermission.NotFound":  # revoked meanwhile
                    raise

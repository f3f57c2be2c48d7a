"""What the reference controllers call per Service lifecycle phase, and what the cloud allows.

The benchmark tables put our measured calls next to two yardsticks, so a number means
something: the sequence the cloud's own controller makes for the same operation, and the
fewest calls the cloud API needs for it. Both are data here, written once, so the doc, the
JSON and the per-driver benches agree.

The reference sequences were counted by reading the reference controllers' code (facts
only; none of it is copied), not by running them, for one 2-port TCP Service on a cluster
of 3 nodes in 2 zones whose shared resources already exist:

- AWS: kubernetes/cloud-provider-aws, pkg/providers/v1/aws.go ``EnsureLoadBalancer`` /
  ``UpdateLoadBalancer`` / ``EnsureLoadBalancerDeleted`` (NLB branch) and
  pkg/providers/v1/aws_loadbalancer.go ``ensureLoadBalancerv2``, ``createListenerV2``,
  ``ensureTargetGroup``, ``reconcileLBAttributes``, ``updateInstanceSecurityGroupsForNLB``.
- GCP: kubernetes/cloud-provider-gcp, providers/gce/gce_loadbalancer_external.go
  ``ensureExternalLoadBalancer``, ``updateExternalLoadBalancer``,
  ``ensureExternalLoadBalancerDeleted`` (target-pool passthrough NLB).
- Azure: kubernetes-sigs/cloud-provider-azure, pkg/provider/azure_loadbalancer.go
  ``EnsureLoadBalancer`` → ``reconcileLoadBalancer``, ``reconcilePublicIP``,
  ``reconcileSecurityGroup``; ``EnsureLoadBalancerDeleted`` (availability-set nodes).

"resync" for a reference controller means its EnsureLoadBalancer run on an unchanged
Service (what a restart or any Service update costs): k8s.io/cloud-provider's service
controller (controllers/service/controller.go ``needsUpdate``) drops informer resyncs of
unchanged Services before they reach the cloud, so a periodic resync there costs 0 calls
and also never repairs drift.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("create", "resync", "node_added", "node_removed", "annotation", "delete")
PHASE_LABELS = {
    "first": "first Service in a cluster (create+delete)",
    "create": "create",
    "resync": "no-op resync",
    "node_added": "node added",
    "node_removed": "node removed",
    "annotation": "annotation change",
    "delete": "delete",
}


@dataclass(frozen=True)
class Sequence:
    """One phase's calls, in order; `source` names the function they come from."""

    calls: tuple[str, ...]
    source: str
    note: str = ""

    @property
    def reads(self) -> int:
        return sum(1 for c in self.calls if _is_read(c))

    @property
    def writes(self) -> int:
        return len(self.calls) - self.reads


def _is_read(call: str) -> bool:
    action = call.split(":", 1)[-1]
    return action.startswith(("Describe", "Get", "List", "GET ", "list", "get"))


def _twice(*calls: str) -> tuple[str, ...]:
    """A per-port step of a 2-port Service."""
    return calls + calls


_AWS_RESYNC_READS = (
    "ec2:DescribeInstances",  # aws.go EnsureLoadBalancer: getInstancesByNodeNames
    "ec2:DescribeSubnets",  # aws.go findELBSubnets
    "ec2:DescribeRouteTables",  # aws.go findELBSubnets: isSubnetPublic
    "elbv2:DescribeLoadBalancers",  # ensureLoadBalancerv2: describeLoadBalancerv2
    "elbv2:DescribeListeners",  # ensureLoadBalancerv2: sync mappings
    "elbv2:DescribeTargetGroups",  # ensureLoadBalancerv2: actual target groups
    *_twice("elbv2:DescribeTargetHealth"),  # ensureTargetGroup per port
    "elbv2:DescribeLoadBalancerAttributes",  # reconcileLBAttributes
    "elbv2:DescribeLoadBalancers",  # ensureLoadBalancerv2: re-read when dirty (always set)
    "ec2:DescribeSecurityGroups",  # updateInstanceSecurityGroupsForNLB: getTaggedSecurityGroups
)

# cloud-provider-aws, NLB: aws.go EnsureLoadBalancer → aws_loadbalancer.go
AWS: dict[str, Sequence] = {
    # ensureLoadBalancerv2 (LB missing): CreateLoadBalancer, createListenerV2 per port
    # (ensureTargetGroup(nil): CreateTargetGroup, DescribeTargetHealth, RegisterTargets;
    # then CreateListener), reconcileLBAttributes, updateInstanceSecurityGroupsForNLB
    # (client rule + MTU rule on the node security group).
    "create": Sequence(
        (
            "ec2:DescribeInstances",
            "ec2:DescribeSubnets",
            "ec2:DescribeRouteTables",
            "elbv2:DescribeLoadBalancers",
            "elbv2:CreateLoadBalancer",
            *_twice(
                "elbv2:CreateTargetGroup",
                "elbv2:DescribeTargetHealth",
                "elbv2:RegisterTargets",
                "elbv2:CreateListener",
            ),
            "elbv2:DescribeLoadBalancerAttributes",
            "ec2:DescribeSecurityGroups",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupIngress",
        ),
        "aws.go EnsureLoadBalancer; aws_loadbalancer.go ensureLoadBalancerv2, createListenerV2",
    ),
    # ensureLoadBalancerv2 (LB exists, nothing changed): every describe, no write.
    "resync": Sequence(
        _AWS_RESYNC_READS,
        "aws.go EnsureLoadBalancer; aws_loadbalancer.go ensureLoadBalancerv2",
        "a periodic resync of an unchanged Service makes 0 calls (filtered by needsUpdate)",
    ),
    # aws.go UpdateLoadBalancer: for an NLB it re-runs EnsureLoadBalancer; ensureTargetGroup
    # registers the new instance in each target group.
    "node_added": Sequence(
        (*_AWS_RESYNC_READS, *_twice("elbv2:RegisterTargets")),
        "aws.go UpdateLoadBalancer → EnsureLoadBalancer; ensureTargetGroupTargets",
    ),
    "node_removed": Sequence(
        (*_AWS_RESYNC_READS, *_twice("elbv2:DeregisterTargets")),
        "aws.go UpdateLoadBalancer → EnsureLoadBalancer; ensureTargetGroupTargets",
    ),
    # healthcheck-interval changed: ensureLoadBalancerv2 sees healthCheckModified and, per
    # port, creates a new target group (CreateTargetGroup, DescribeTargetHealth,
    # RegisterTargets), points the listener at it (ModifyListener) and deletes the old one.
    "annotation": Sequence(
        (
            *_AWS_RESYNC_READS,
            *_twice(
                "elbv2:CreateTargetGroup",
                "elbv2:RegisterTargets",
                "elbv2:ModifyListener",
                "elbv2:DeleteTargetGroup",
            ),
        ),
        "aws_loadbalancer.go ensureLoadBalancerv2 (healthCheckModified → recreate target group)",
    ),
    # EnsureLoadBalancerDeleted, NLB: describe, clear the node security group rules,
    # DescribeTargetGroups, DeleteLoadBalancer, DeleteTargetGroup per group.
    "delete": Sequence(
        (
            "elbv2:DescribeLoadBalancers",
            "ec2:DescribeSecurityGroups",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "elbv2:DescribeTargetGroups",
            "elbv2:DeleteLoadBalancer",
            *_twice("elbv2:DeleteTargetGroup"),
        ),
        "aws.go EnsureLoadBalancerDeleted (NLB branch)",
    ),
}

_GCP_RESYNC = (
    "compute:instances.list zone-a",  # getInstancesByNames, one list per zone
    "compute:instances.list zone-b",
    "compute:GET forwardingRule",  # forwardingRuleNeedsUpdate
    "compute:addresses.insert",  # ensureStaticIP promotes the rule's ephemeral IP
    "compute:GET address",  # ensureStaticIP reads it back
    "compute:GET firewall",  # firewallNeedsUpdate
    "compute:GET targetPool",  # targetPoolNeedsRecreation
    "compute:GET httpHealthCheck (service)",  # local-traffic health check lookup
    "compute:GET httpHealthCheck (nodes)",  # ensureTargetPoolAndHealthCheck
    "compute:GET targetPool",  # ensureTargetPoolAndHealthCheck → updateTargetPool
    "compute:addresses.delete",  # deferred release (isSafeToReleaseIP = !existed)
)

# cloud-provider-gcp, gce_loadbalancer_external.go (target-pool passthrough NLB). Every
# write returns an Operation the cloud library then waits on: one wait per write, not
# listed (our counts list them apart as "operation waits").
GCP: dict[str, Sequence] = {
    "create": Sequence(
        (
            "compute:instances.list zone-a",
            "compute:instances.list zone-b",
            "compute:GET forwardingRule",  # 404
            "compute:addresses.insert",  # ensureStaticIP
            "compute:GET address",
            "compute:GET firewall",  # 404
            "compute:firewalls.insert",  # createFirewall
            "compute:GET targetPool",  # 404
            "compute:GET httpHealthCheck (service)",  # 404
            "compute:GET httpHealthCheck (nodes)",  # shared, exists
            "compute:targetPools.insert",
            "compute:forwardingRules.insert",  # createForwardingRule
            "compute:addresses.delete",  # release: the IP stays, now ephemeral
        ),
        "gce_loadbalancer_external.go ensureExternalLoadBalancer",
    ),
    "resync": Sequence(
        _GCP_RESYNC,
        "gce_loadbalancer_external.go ensureExternalLoadBalancer",
        "writes even when nothing changed: the static-IP reserve/release pair; a periodic "
        "resync of an unchanged Service makes 0 calls (filtered by needsUpdate)",
    ),
    "node_added": Sequence(
        (
            "compute:instances.list zone-a",
            "compute:instances.list zone-b",
            "compute:GET targetPool",
            "compute:targetPools.addInstance",
        ),
        "gce_loadbalancer_external.go updateExternalLoadBalancer → updateTargetPool",
    ),
    "node_removed": Sequence(
        (
            "compute:instances.list zone-a",
            "compute:instances.list zone-b",
            "compute:GET targetPool",
            "compute:targetPools.removeInstance",
        ),
        "gce_loadbalancer_external.go updateExternalLoadBalancer → updateTargetPool",
    ),
    # loadBalancerSourceRanges changed: the resync path plus updateFirewall.
    "annotation": Sequence(
        (*_GCP_RESYNC, "compute:firewalls.update"),
        "gce_loadbalancer_external.go ensureExternalLoadBalancer → updateFirewall",
    ),
    # Cluster traffic policy: both health-check names are deleted (the shared nodes check
    # fails while in use; the error is ignored), firewall, address and rule → pool.
    "delete": Sequence(
        (
            "compute:firewalls.delete",
            "compute:addresses.delete",
            "compute:forwardingRules.delete",
            "compute:targetPools.delete",
            "compute:httpHealthChecks.delete (service)",
            "compute:httpHealthChecks.delete (nodes)",
        ),
        "gce_loadbalancer_external.go ensureExternalLoadBalancerDeleted",
    ),
}

_AZ_RESYNC = (
    "GET loadBalancers (list)",  # getServiceLoadBalancer lists the resource group's LBs
    "GET publicIPAddresses (list)",  # reconcilePublicIP
    "GET networkInterfaces/node-0",  # EnsureHostsInPool (availability set): per node NIC
    "GET networkInterfaces/node-1",
    "GET networkInterfaces/node-2",
    "GET networkSecurityGroups/nsg",  # reconcileSecurityGroup
    "GET publicIPAddresses (list)",  # reconcilePublicIP after the LB: unused IPs
)

# cloud-provider-azure, azure_loadbalancer.go. Writes are long-running: each PUT/DELETE
# is followed by at least one async-operation poll (not listed).
AZURE: dict[str, Sequence] = {
    "create": Sequence(
        (
            "GET loadBalancers (list)",
            "GET publicIPAddresses (list)",
            "PUT publicIPAddresses/svc",  # reconcilePublicIP: create
            "GET publicIPAddresses/svc",
            "PUT loadBalancers/kubernetes",  # reconcileLoadBalancer: frontend, probe, rules
            "GET loadBalancers/kubernetes",  # refresh after the PUT
            "GET networkInterfaces/node-0",
            "GET networkInterfaces/node-1",
            "GET networkInterfaces/node-2",
            "GET networkSecurityGroups/nsg",
            "PUT networkSecurityGroups/nsg",  # reconcileSecurityGroup: the whole NSG
            "GET publicIPAddresses (list)",
        ),
        "azure_loadbalancer.go EnsureLoadBalancer → reconcileLoadBalancer, reconcilePublicIP, "
        "reconcileSecurityGroup",
    ),
    "resync": Sequence(
        _AZ_RESYNC,
        "azure_loadbalancer.go EnsureLoadBalancer (nothing dirty: no PUT)",
        "a periodic resync of an unchanged Service makes 0 calls (filtered by needsUpdate)",
    ),
    "node_added": Sequence(
        (*_AZ_RESYNC, "GET networkInterfaces/node-3", "PUT networkInterfaces/node-3"),
        "azure_loadbalancer.go UpdateLoadBalancer → EnsureHostsInPool (NIC joins the pool)",
    ),
    "node_removed": Sequence(
        (*_AZ_RESYNC[:2], *_AZ_RESYNC[3:], "PUT networkInterfaces/node-0"),
        "azure_loadbalancer.go UpdateLoadBalancer → EnsureBackendPoolDeleted for the node",
    ),
    # tcp-idle-timeout changed: the resync path plus one PUT of the shared LB.
    "annotation": Sequence(
        (*_AZ_RESYNC, "PUT loadBalancers/kubernetes"),
        "azure_loadbalancer.go reconcileLoadBalancer (rule idle timeout changed → PUT LB)",
    ),
    "delete": Sequence(
        (
            "GET loadBalancers (list)",
            "GET networkSecurityGroups/nsg",
            "PUT networkSecurityGroups/nsg",  # reconcileSecurityGroup: rules removed
            "PUT loadBalancers/kubernetes",  # reconcileLoadBalancer: frontend + rules gone
            "GET publicIPAddresses (list)",
            "DELETE publicIPAddresses/svc",  # reconcilePublicIP: unused, owned
        ),
        "azure_loadbalancer.go EnsureLoadBalancerDeleted",
    ),
}

REFERENCE: dict[str, dict[str, Sequence]] = {"aws": AWS, "gcp": GCP, "azure": AZURE}

# The fewest calls each cloud API allows for the phase, as (reads, writes); operation
# waits/polls not counted. The derivations are in the per-driver benches' MINIMUM tables
# (bench/aws_bench.py, bench/gcp_bench.py, bench/azure_bench.py); annotation change is the
# one in-place write the changed setting needs, after one read to find the resource.
ANNOTATION_MINIMUM: dict[str, tuple[int, int]] = {
    "aws": (1, 2),  # healthcheck-interval: ModifyTargetGroup per port
    "gcp": (1, 1),  # source ranges: firewalls.patch
    "azure": (1, 1),  # tcp idle timeout: PUT of the load balancer (its rules)
}

# The longest chain of calls where each needs the previous one's answer, for a create in
# a warm cluster: the floor on time to status whatever the parallelism. Waits on
# long-running operations count, since the next call needs the resource to exist.
DEPENDENT_CHAIN: dict[str, tuple[tuple[str, ...], str]] = {
    "aws": (
        ("ec2:CreateSecurityGroup", "elbv2:CreateLoadBalancer", "elbv2:CreateListener"),
        "the NLB needs its security group's id; the listener needs the LB's ARN (the "
        "target group is created alongside); the DNS name comes back from CreateLoadBalancer",
    ),
    "gcp": (
        (
            "backendServices.insert",
            "operation wait",
            "forwardingRules.insert",
            "operation wait",
        ),
        "the forwarding rule names the backend service, which must exist; the address and "
        "firewall go alongside",
    ),
    "azure": (
        ("PUT publicIPAddresses", "operation poll", "PUT loadBalancers", "operation poll"),
        "the LB frontend references the public IP, which must have succeeded; the NSG rule "
        "goes alongside",
    ),
}

POOL_NOTE = (
    "The pool driver hands out addresses from a configured range in process memory: it "
    "makes no cloud calls in any phase, so it has no row here."
)

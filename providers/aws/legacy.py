"""What the other AWS controllers would still keep, so their leftovers can be told apart
from load balancers they still serve.

Facts from the controllers' documented behaviour:
- kubernetes/cloud-provider-aws (and the in-tree provider) serves LoadBalancer Services
  without `spec.loadBalancerClass`; `aws-load-balancer-type: nlb` makes an NLB, any other
  value (or none) a Classic ELB, except `external` and `nlb-ip`, which it leaves to
  aws-load-balancer-controller.
- aws-load-balancer-controller serves Services with `loadBalancerClass:
  service.k8s.aws/nlb`, or with `aws-load-balancer-type: external` / `nlb-ip`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccm.model import JSON, OwnedResource

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
LBC_CLASS = "service.k8s.aws/nlb"
LBC_TYPES = ("external", "nlb-ip")
USER_OWNED = (
    "service.beta.kubernetes.io/aws-load-balancer-eip-allocations",
    "service.beta.kubernetes.io/aws-load-balancer-security-groups",
    "service.beta.kubernetes.io/aws-load-balancer-extra-security-groups",
)


def _annotations(service: JSON) -> Mapping[str, Any]:
    return (service.get("metadata") or {}).get("annotations") or {}


def legacy_wanted(resource: OwnedResource, service: JSON | None) -> bool:
    if service is None or (service.get("metadata") or {}).get("deletionTimestamp"):
        return False
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return False
    kind = str(_annotations(service).get(TYPE, "")).strip().lower()
    cls = spec.get("loadBalancerClass")
    if resource.managed_by == "aws-load-balancer-controller":
        return cls == LBC_CLASS or (cls is None and kind in LBC_TYPES)
    if cls is not None or kind in LBC_TYPES:
        return False  # the in-tree controller no longer serves it
    if resource.kind in ("classic-load-balancer", "security-group"):
        return kind != "nlb"  # a Classic ELB and its k8s-elb-… security group
    return kind == "nlb"  # its NLB and target groups


def protected_ids(service: JSON) -> set[str]:
    """EIP allocations and security groups a Service names: the user's, never deleted."""
    out: set[str] = set()
    ann = _annotations(service)
    for name in USER_OWNED:
        value = ann.get(name)
        if isinstance(value, str):
            out.update(v.strip() for v in value.split(",") if v.strip())
    return out

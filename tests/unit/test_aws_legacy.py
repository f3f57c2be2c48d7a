"""Which legacy-controller resources their Service still wants, and user-owned ids."""

from __future__ import annotations

from typing import Any

import pytest

from ccm.model import OwnedResource, ServiceRef
from providers.aws.legacy import legacy_wanted, protected_ids

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"


def res(kind: str, by: str = "cloud-provider-aws") -> OwnedResource:
    return OwnedResource("aws", kind, "x", "c", ServiceRef("ns", "n", ""), managed_by=by)


def svc(annotation: str | None = None, **spec: Any) -> dict[str, Any]:
    ann = {TYPE: annotation} if annotation is not None else {}
    return {"metadata": {"annotations": ann}, "spec": {"type": "LoadBalancer", **spec}}


@pytest.mark.parametrize(
    ("kind", "by", "service", "wanted"),
    [
        ("classic-load-balancer", "cloud-provider-aws", svc(), True),
        ("classic-load-balancer", "cloud-provider-aws", svc("nlb"), False),
        ("classic-load-balancer", "cloud-provider-aws", svc("external"), False),
        ("classic-load-balancer", "cloud-provider-aws", svc(loadBalancerClass="ccm.dev/lb"), False),
        ("classic-load-balancer", "cloud-provider-aws", svc(type="ClusterIP"), False),
        ("classic-load-balancer", "cloud-provider-aws", None, False),
        ("security-group", "cloud-provider-aws", svc(), True),
        ("load-balancer", "cloud-provider-aws", svc("nlb"), True),
        ("load-balancer", "cloud-provider-aws", svc(), False),
        ("load-balancer", "aws-load-balancer-controller", svc("external"), True),
        (
            "load-balancer",
            "aws-load-balancer-controller",
            svc(loadBalancerClass="service.k8s.aws/nlb"),
            True,
        ),
        ("load-balancer", "aws-load-balancer-controller", svc("nlb"), False),
        (
            "target-group",
            "aws-load-balancer-controller",
            svc(loadBalancerClass="ccm.dev/lb"),
            False,
        ),
    ],
)
def test_legacy_wanted(kind: str, by: str, service: dict[str, Any] | None, wanted: bool) -> None:
    assert legacy_wanted(res(kind, by), service) is wanted


def test_protected_ids_tolerates_junk() -> None:
    ann = {
        "service.beta.kubernetes.io/aws-load-balancer-eip-allocations": " eipalloc-1 , eipalloc-2,",
        "service.beta.kubernetes.io/aws-load-balancer-security-groups": "sg-1",
        "service.beta.kubernetes.io/aws-load-balancer-extra-security-groups": "",
    }
    assert protected_ids({"metadata": {"annotations": ann}}) == {"eipalloc-1", "eipalloc-2", "sg-1"}
    assert protected_ids({}) == set()
    assert protected_ids({"metadata": {"annotations": {ann.popitem()[0]: 5}}}) == set()

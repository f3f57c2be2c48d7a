"""The AWS driver's inventory and resource-level deletes, against moto server."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ccm.model import IncompleteListing, Node
from providers.aws.seed import seed_decoys, seed_legacy_clb
from tests.integration.aws_harness import CLUSTER, AwsWorld


def service(i: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": f"s{i}",
            "uid": f"00000000-0000-4000-8000-{i:012d}",
            "annotations": annotations or {},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "ccm.dev/lb",
            "ports": [{"name": "tcp", "port": 80, "nodePort": 30080, "protocol": "TCP"}],
        },
    }


def build(aws: AwsWorld, n: int) -> Any:
    driver = aws.driver()
    nodes = [Node.from_json(o) for o in aws.nodes()]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: driver.ensure(driver.parse(service(i), CLUSTER), nodes), range(n)))
    return driver


def test_inventory_costs_pages_not_calls_per_resource(aws: AwsWorld) -> None:
    build(aws, 30)
    fresh = aws.driver()
    owned = list(fresh.inventory())
    assert Counter(r.kind for r in owned) == {
        "load-balancer": 30,
        "target-group": 30,
        "security-group": 31,  # 30 frontends + the shared backend group
    }
    calls = dict(fresh.caller.calls)
    # 91 resources at 100 a page, twice (our tags, aws-load-balancer-controller's), one
    # page of load balancers, one of classic ELBs (none here, so no DescribeTags).
    assert sum(calls.values()) <= 6, calls
    assert "DescribeListeners" not in str(calls)


def test_legacy_and_decoys_are_told_apart(aws: AwsWorld) -> None:
    decoys = seed_decoys(aws.raw, aws.seeded, CLUSTER.name)
    clb = seed_legacy_clb(aws.raw, aws.seeded, CLUSTER.name, "shop", "cart")
    owned = {r.id: r for r in aws.driver().inventory()}
    assert decoys["untagged_lb"] not in owned and decoys["other_cluster_lb"] not in owned
    assert owned[decoys["kept_lb"]].keep
    legacy = owned[clb]
    assert (legacy.kind, legacy.managed_by) == ("classic-load-balancer", "cloud-provider-aws")
    assert legacy.owner is not None and legacy.owner.key == "shop/cart" and not legacy.owner.uid
    assert legacy.details["price_key"] == "clb" and legacy.addresses


def test_a_failed_or_looping_listing_is_incomplete_not_partial(aws: AwsWorld) -> None:
    build(aws, 2)
    aws.proxy.add(match="GetResources", status=400, error_code="AccessDeniedException", times=1)
    with pytest.raises(IncompleteListing, match="GetResources"):
        list(aws.driver().inventory())


def test_delete_resources_in_dependency_order_and_only_those(aws: AwsWorld) -> None:
    driver = build(aws, 2)
    owned = list(driver.inventory())
    first = [r for r in owned if r.owner and r.owner.name == "s0"]
    # Children listed before their load balancer: the driver still deletes it first.
    first.sort(key=lambda r: -r.delete_order)
    outcomes = driver.delete_resources(first)
    assert [o.error for o in outcomes] == [""] * 3
    left = {r.id for r in driver.inventory()}
    assert not left & {r.id for r in first}
    assert {r.id for r in owned if r.owner and r.owner.name == "s1"} <= left
    assert driver.delete_resources(first) == [type(o)(o.resource) for o in outcomes]  # gone=ok


def test_refuses_what_is_not_provably_ours(aws: AwsWorld) -> None:
    decoys = seed_decoys(aws.raw, aws.seeded, CLUSTER.name)
    driver = aws.driver()
    kept = next(r for r in driver.inventory() if r.id == decoys["kept_lb"])
    out = driver.delete_resources([kept])
    assert "keep" in out[0].error
    arns = [
        lb["LoadBalancerArn"] for lb in aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
    ]
    assert decoys["kept_lb"] in arns

"""The seeded AWS world, built through a FaultProxy in front of moto server, and its Nodes
registered in the sandbox through the official client: what the AWS driver's tests and
`ccm demo` stand on, so it must look like a real cluster's on both sides."""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from kubernetes import client

from ccm.faultproxy import FaultProxy
from providers.aws.seed import (
    SeededCluster,
    aws_clients,
    node_objects,
    seed_cluster,
    start_moto,
)

RETRYING = Config(retries={"max_attempts": 2, "mode": "standard"})
TAG = "kubernetes.io/cluster/demo"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server, url = start_moto()
    yield url
    # moto's backends are process-wide: leave none of this module's state to the next one.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    server.stop()


@pytest.fixture(scope="module")
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as p:
        yield p


@pytest.fixture(scope="module")
def ec2(proxy: FaultProxy) -> Any:
    return aws_clients(proxy.url, "us-east-1", config=RETRYING)["ec2"]


@pytest.fixture(scope="module")
def seeded(ec2: Any, proxy: FaultProxy) -> SeededCluster:
    proxy.calls.clear()
    return seed_cluster(ec2, "demo", nodes=3)


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_network_is_tagged_for_subnet_discovery(seeded: SeededCluster, ec2: Any) -> None:
    vpc = ec2.describe_vpcs(VpcIds=[seeded.vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags(vpc) == {TAG: "owned", "Name": "demo-vpc"}
    subnets = {
        s["SubnetId"]: s
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [seeded.vpc_id]}])[
            "Subnets"
        ]
    }
    assert set(subnets) == {*seeded.public_subnets, *seeded.private_subnets}
    for az, pub_id, priv_id in zip(
        ("us-east-1a", "us-east-1b"), seeded.public_subnets, seeded.private_subnets, strict=True
    ):
        pub, priv = subnets[pub_id], subnets[priv_id]
        assert pub["AvailabilityZone"] == priv["AvailabilityZone"] == az
        assert tags(pub) == {
            TAG: "shared",
            "kubernetes.io/role/elb": "1",
            "Name": f"demo-public-{az}",
        }
        assert tags(priv) == {
            TAG: "shared",
            "kubernetes.io/role/internal-elb": "1",
            "Name": f"demo-private-{az}",
        }
        assert pub["MapPublicIpOnLaunch"] is True
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [seeded.vpc_id]}]
    )["InternetGateways"]
    assert [g["InternetGatewayId"] for g in igws] == [seeded.internet_gateway]
    routes = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [seeded.public_subnets[0]]}]
    )["RouteTables"][0]["Routes"]
    igw_routes = [r for r in routes if r.get("GatewayId") == seeded.internet_gateway]
    assert [r["DestinationCidrBlock"] for r in igw_routes] == ["0.0.0.0/0"]
    sg = ec2.describe_security_groups(GroupIds=[seeded.node_security_group])["SecurityGroups"][0]
    assert sg["VpcId"] == seeded.vpc_id
    assert tags(sg) == {TAG: "owned", "Name": "demo-nodes"}


def test_instances_spread_over_private_subnets(seeded: SeededCluster, ec2: Any) -> None:
    reservations = ec2.describe_instances(Filters=[{"Name": f"tag:{TAG}", "Values": ["owned"]}])[
        "Reservations"
    ]
    instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    assert set(instances) == {s.instance_id for s in seeded.instances}
    assert Counter(s.az for s in seeded.instances) == {"us-east-1a": 2, "us-east-1b": 1}
    for s in seeded.instances:
        inst = instances[s.instance_id]
        assert inst["Placement"]["AvailabilityZone"] == s.az
        assert inst["SubnetId"] in seeded.private_subnets
        assert [g["GroupId"] for g in inst["SecurityGroups"]] == [seeded.node_security_group]
        assert inst["PrivateIpAddress"] == s.private_ip
        assert s.node_name == f"ip-{s.private_ip.replace('.', '-')}.ec2.internal"
        assert s.provider_id == f"aws:///{s.az}/{s.instance_id}"
        assert tags(inst)[TAG] == "owned"


def test_seeding_goes_through_the_proxy(seeded: SeededCluster, proxy: FaultProxy) -> None:
    counts = proxy.counts()
    assert counts["ec2:CreateVpc"] == 1
    assert counts["ec2:CreateSubnet"] == 4
    assert counts["ec2:RunInstances"] == 3
    assert counts["ec2:AttachInternetGateway"] == 1


def test_seeding_rides_out_a_transient_ec2_failure(ec2: Any, proxy: FaultProxy) -> None:
    proxy.calls.clear()
    proxy.add(match="ec2:RunInstances", status=503, error_code="Unavailable", times=1)
    try:
        other = seed_cluster(ec2, "other", azs=("us-east-1c",), nodes=1, image_id="ami-12c6146b")
    finally:
        proxy.clear()
    assert proxy.counts()["ec2:RunInstances"] == 2  # botocore retried the failed one
    assert len(other.instances) == 1 and other.instances[0].az == "us-east-1c"
    assert "ec2:DescribeImages" not in proxy.counts()


def test_node_objects_register_through_the_official_client(
    seeded: SeededCluster, core: client.CoreV1Api
) -> None:
    objs = node_objects(seeded, labels={"pool": "general"})
    assert [o["metadata"]["name"] for o in objs] == [s.node_name for s in seeded.instances]
    for obj in objs:
        core.create_node(obj)
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert set(nodes) == {s.node_name for s in seeded.instances}
    for s in seeded.instances:
        node = core.read_node(s.node_name)
        assert node.spec.provider_id == s.provider_id
        assert node.metadata.labels["topology.kubernetes.io/zone"] == s.az
        assert node.metadata.labels["node.kubernetes.io/instance-type"] == "m5.large"
        assert node.metadata.labels["pool"] == "general"
        addresses = {(a.type, a.address) for a in node.status.addresses}
        assert {("InternalIP", s.private_ip), ("Hostname", s.node_name)} <= addresses
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert [c.status for c in ready] == ["True"]
        assert node.status.node_info.kubelet_version == "v1.32.0"


def test_aws_clients_use_dummy_credentials_only_without_real_ones(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    clients = aws_clients(proxy.url, "us-east-1")
    assert set(clients) == {"ec2", "elb", "elbv2", "resourcegroupstaggingapi"}
    assert clients["elbv2"].describe_load_balancers()["LoadBalancers"] == []
    assert clients["ec2"]._request_signer._credentials.access_key == "test"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    from_env = aws_clients(proxy.url, "us-east-1")["ec2"]
    assert from_env._request_signer._credentials.access_key == "AKIAFROMENVIRONMENT"
    assert from_env.meta.endpoint_url == proxy.url

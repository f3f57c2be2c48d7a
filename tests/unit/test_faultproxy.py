"""FaultProxy in front of moto server, seen through real boto3 clients.

What matters is not that the proxy returns some bytes but that botocore reads them the way
it reads a misbehaving AWS: throttling and 5xx are retried by its standard retry mode and
then surface as ClientError with the injected code, a dropped connection is a connection
error, and a non-retryable code is not retried at all.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from ccm.faultproxy import FaultProxy
from providers.aws.seed import start_moto

RETRY_TWICE = Config(retries={"max_attempts": 2, "mode": "standard"})  # 3 attempts in all
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server, url = start_moto()
    yield url
    # moto's backends are process-wide: leave none of this module's state to the next one.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    server.stop()


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as p:
        yield p


def client(url: str, service: str, config: Config = RETRY_TWICE) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


def test_forwards_calls_and_records_service_and_action(proxy: FaultProxy, moto_url: str) -> None:
    ec2 = client(proxy.url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    # The body went through intact: moto itself (asked directly) has the VPC.
    direct = client(moto_url, "ec2").describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert direct[0]["CidrBlock"] == "10.9.0.0/16"
    assert client(proxy.url, "elbv2").describe_load_balancers()["LoadBalancers"] == []
    client(proxy.url, "resourcegroupstaggingapi").get_resources()  # JSON: X-Amz-Target
    ec2.describe_vpcs()
    assert proxy.calls == [
        "ec2:CreateVpc",
        "elasticloadbalancing:DescribeLoadBalancers",
        "tagging:GetResources",
        "ec2:DescribeVpcs",
    ]
    assert proxy.counts()["ec2:CreateVpc"] == 1
    assert sum(proxy.counts().values()) == 4


def test_throttling_is_retried_then_surfaces_with_its_code(proxy: FaultProxy) -> None:
    proxy.add(
        match=r"^elasticloadbalancing:DescribeLoadBalancers$", status=400, error_code="Throttling"
    )
    with pytest.raises(ClientError) as err:
        client(proxy.url, "elbv2").describe_load_balancers()
    assert err.value.response["Error"]["Code"] == "Throttling"
    assert err.value.response["Error"]["Message"] == "Rate exceeded"
    assert err.value.response["Error"]["Type"] == "Sender"
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert proxy.counts() == {"elasticloadbalancing:DescribeLoadBalancers": 3}


def test_ec2_errors_use_the_ec2_shape(proxy: FaultProxy) -> None:
    # <Response><Errors> is parsed to the code and message, not to a generic HTTP error.
    proxy.add(match="ec2:DescribeVpcs", status=400, error_code="RequestLimitExceeded")
    with pytest.raises(ClientError) as err:
        client(proxy.url, "ec2", NO_RETRIES).describe_vpcs()
    assert err.value.response["Error"] == {
        "Code": "RequestLimitExceeded",
        "Message": "Request limit exceeded.",
    }
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_5xx_is_retried_and_defaults_its_code(proxy: FaultProxy) -> None:
    elbv2 = client(proxy.url, "elbv2")
    proxy.add(match="DescribeLoadBalancers", status=500, times=1)
    assert elbv2.describe_load_balancers()["ResponseMetadata"]["RetryAttempts"] == 1
    proxy.add(match="DescribeLoadBalancers", status=500)
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers()
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["Error"]["Type"] == "Receiver"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    proxy.clear()
    proxy.add(match="ec2:", status=503)
    with pytest.raises(ClientError) as err:
        client(proxy.url, "ec2").describe_vpcs()
    assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert proxy.counts() == {
        "elasticloadbalancing:DescribeLoadBalancers": 2 + 3,
        "ec2:DescribeVpcs": 3,
    }


def test_a_non_retryable_code_is_not_retried(proxy: FaultProxy) -> None:
    proxy.add(match="CreateLoadBalancer", status=400, error_code="DuplicateLoadBalancerName")
    elbv2 = client(proxy.url, "elbv2")
    with pytest.raises(elbv2.exceptions.DuplicateLoadBalancerNameException):
        elbv2.create_load_balancer(Name="web", Subnets=["subnet-1"])
    assert proxy.counts() == {"elasticloadbalancing:CreateLoadBalancer": 1}


def test_json_protocol_errors_map_to_modeled_exceptions(proxy: FaultProxy) -> None:
    tagging = client(proxy.url, "resourcegroupstaggingapi")
    proxy.add(match="tagging:GetResources", status=400, error_code="InvalidParameterException")
    with pytest.raises(tagging.exceptions.InvalidParameterException) as err:
        tagging.get_resources()
    headers = err.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "InvalidParameterException"
    assert proxy.counts() == {"tagging:GetResources": 1}  # a client error: not retried
    proxy.clear()
    proxy.add(match="tagging:", status=500, error_code="InternalServiceException", times=1)
    assert tagging.get_resources()["ResponseMetadata"]["RetryAttempts"] == 1


def test_latency_is_added_to_matching_calls_only(proxy: FaultProxy) -> None:
    ec2, elbv2 = client(proxy.url, "ec2"), client(proxy.url, "elbv2")
    ec2.describe_vpcs()  # warm: connection set up, backend loaded
    proxy.add(match="^ec2:", latency=0.3)
    start = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - start >= 0.3
    elbv2.describe_load_balancers()
    assert proxy.counts() == {
        "ec2:DescribeVpcs": 2,
        "elasticloadbalancing:DescribeLoadBalancers": 1,
    }


def test_reset_is_a_connection_error_that_botocore_retries(proxy: FaultProxy) -> None:
    ec2 = client(proxy.url, "ec2")
    proxy.add(match="ec2:DescribeVpcs", reset=True)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        ec2.describe_vpcs()
    assert proxy.counts()["ec2:DescribeVpcs"] == 3
    proxy.clear()
    assert ec2.describe_vpcs()["Vpcs"] is not None  # the client reconnects once it stops


def test_times_counts_down_and_match_selects(proxy: FaultProxy) -> None:
    ec2, elbv2 = client(proxy.url, "ec2", NO_RETRIES), client(proxy.url, "elbv2", NO_RETRIES)
    proxy.add(match="DescribeVpcs$", status=500, times=2)
    outcomes = []
    for _ in range(3):
        try:
            ec2.describe_vpcs()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("failed")
        elbv2.describe_load_balancers()  # never matched, never failed
    assert outcomes == ["failed", "failed", "ok"]


def test_probability_is_seeded_and_replayable(moto_url: str) -> None:
    def run(seed: int) -> list[bool]:
        with FaultProxy(moto_url, seed=seed) as p:
            p.add(status=500, probability=0.5)
            ec2 = client(p.url, "ec2", NO_RETRIES)
            hits = []
            for _ in range(20):
                try:
                    ec2.describe_vpcs()
                    hits.append(False)
                except ClientError:
                    hits.append(True)
            assert len(p.calls) == 20
            return hits

    first = run(7)
    assert first == run(7)
    assert 0 < sum(first) < 20


def test_keep_alive_and_non_aws_requests(proxy: FaultProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/moto-api/")
    first = conn.getresponse()
    assert first.status == 200
    assert b"<html" in first.read().lower()
    sock = conn.sock
    proxy.add(match=r"^http:GET /moto-api/", status=503, error_code="Unavailable")
    conn.request("GET", "/moto-api/?x=1")
    second = conn.getresponse()
    assert conn.sock is sock  # the same client connection carried both
    assert second.status == 503
    # Google's error shape: the status in `code`, the rule's code as the reason.
    error = json.loads(second.read())["error"]
    assert (error["code"], error["status"]) == (503, "UNAVAILABLE")
    assert error["errors"][0]["reason"] == "Unavailable"
    conn.close()
    assert proxy.calls == ["http:GET /moto-api/"] * 2


def test_concurrent_clients_are_all_served(proxy: FaultProxy) -> None:
    proxy.add(match="ec2:", latency=0.05)  # overlap the calls

    ec2 = client(proxy.url, "ec2", NO_RETRIES)  # botocore clients are thread-safe

    def calls(_: int) -> int:
        return sum(len(ec2.describe_vpcs()["Vpcs"]) > 0 for _ in range(5))

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(calls, range(8))) == 40
    assert proxy.counts() == {"ec2:DescribeVpcs": 40}


def test_unreachable_upstream_is_a_502_and_stop_closes_the_port() -> None:
    with FaultProxy("http://127.0.0.1:9") as p:  # the discard port: nothing listens
        url = p.url
        with pytest.raises(ClientError) as err:
            client(url, "ec2", NO_RETRIES).describe_vpcs()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    with pytest.raises(EndpointConnectionError):
        client(url, "ec2", NO_RETRIES).describe_vpcs()


def test_bad_rules_are_rejected() -> None:
    p = FaultProxy("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="probability"):
        p.add(probability=1.5)
    with pytest.raises(ValueError, match="status"):
        p.add(status=200)
    with pytest.raises(ValueError, match="error_code"):
        p.add(error_code="Throttling")
    with pytest.raises(RuntimeError):
        _ = p.url

"""Build the AWS driver from DriverOptions: region, endpoint, clients, rate limits."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from ccm.driver import DriverOptions
from ccm.ratelimit import parse_rates
from providers.aws.calls import Caller
from providers.aws.driver import AwsDriver

# botocore's own retries are off: providers.aws.calls retries under its token buckets,
# so one policy decides and every attempt is counted.
BOTO_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


def clients(endpoint_url: str | None, region: str) -> dict[str, Any]:
    session = boto3.session.Session(region_name=region)
    kwargs: dict[str, Any] = {"config": BOTO_CONFIG}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if session.get_credentials() is None:  # moto / LocalStack accept any credentials
            kwargs.update(aws_access_key_id="test", aws_secret_access_key="test")
    return {
        name: session.client(name, **kwargs)
        for name in ("ec2", "elbv2", "elb", "resourcegroupstaggingapi")
    }


def make_driver(options: DriverOptions) -> AwsDriver:
    s = options.settings
    region = str(
        s.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    endpoint = s.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or None
    caller = Caller(rates=parse_rates(str(s.get("rates", "")), "elasticloadbalancing:write=5/10"))
    return AwsDriver(
        options.cluster, clients(endpoint, region), region, caller, prices_file=s.get("prices_file")
    )

"""moto server + fault proxy + seeded VPC, and the AWS driver pointed at them."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from ccm.driver import DriverOptions
from ccm.model import ClusterInfo
from providers.aws.driver import AwsDriver
from providers.aws.factory import clients, make_driver
from providers.aws.seed import SeededCluster, node_objects, seed_cluster, start_moto
from providers.aws.tags import cluster_tag
from tests.integration.cloud_calls import RecordingProxy
from tests.integration.moto_fidelity import elbv2_targets_by_id_and_port

CLUSTER = ClusterInfo("aws-test", "ccm.dev/lb")
REGION = "us-east-1"


@dataclass
class AwsWorld:
    moto_url: str
    proxy: RecordingProxy  # a FaultProxy whose .journal keeps every driver call
    seeded: SeededCluster
    raw: dict[str, Any]  # boto3 clients straight to moto: the test's own view of the cloud

    def driver(self) -> AwsDriver:
        return make_driver(
            DriverOptions(CLUSTER, settings={"endpoint_url": self.proxy.url, "region": REGION})
        )

    def nodes(self) -> list[dict[str, Any]]:
        return node_objects(self.seeded)

    def tagged(self) -> list[tuple[str, dict[str, str]]]:
        """Every ELBv2/EC2 resource ccm created for the cluster (not the seeded VPC)."""
        out = []
        pages = (
            self.raw["resourcegroupstaggingapi"]
            .get_paginator("get_resources")
            .paginate(
                TagFilters=[
                    {"Key": cluster_tag(CLUSTER.name), "Values": ["owned"]},
                    {"Key": "ccm.dev/managed-by", "Values": ["ccm"]},
                ]
            )
        )
        for page in pages:
            for item in page["ResourceTagMappingList"]:
                out.append((item["ResourceARN"], {t["Key"]: t["Value"] for t in item["Tags"]}))
        return out


@contextmanager
def aws_world() -> Iterator[AwsWorld]:
    """A fresh AWS (moto server, or LocalStack when $CCM_AWS_ENDPOINT_URL is set), reset
    and seeded, behind a fault proxy that records the driver's calls (the harness's own
    `raw` clients and seeding go straight to the server, unrecorded)."""
    external = os.environ.get("CCM_AWS_ENDPOINT_URL")
    with ExitStack() as stack:
        if external:
            url = external.rstrip("/")
            # LocalStack keeps state across tests: reset it.
            reset = urllib.request.Request(url + "/_localstack/state/reset", method="POST")
            urllib.request.urlopen(reset)
        else:
            server, url = start_moto()  # reset: every test starts from an empty cloud
            stack.callback(server.stop)
            stack.enter_context(elbv2_targets_by_id_and_port())
        raw = clients(url, REGION)
        seeded = seed_cluster(raw["ec2"], CLUSTER.name)
        proxy = stack.enter_context(RecordingProxy(url))
        yield AwsWorld(url, proxy, seeded, raw)

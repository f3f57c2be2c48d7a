"""The compute emulator + fault proxy + a seeded network, and the GCP driver pointed at
them through the real compute_v1 clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from google.cloud import compute_v1

from ccm.driver import DriverOptions
from ccm.model import ClusterInfo
from providers.gcp.driver import GcpDriver
from providers.gcp.emulator import Emulator, start_emulator
from providers.gcp.emulator.seed import SeededGcp, client, node_objects, seed_cluster
from providers.gcp.factory import make_driver
from tests.integration.cloud_calls import RecordingProxy

CLUSTER = ClusterInfo("gcp-test", "ccm.dev/lb")
PROJECT = "ccm-test"
REGION = "us-central1"
ZONES = ("us-central1-a", "us-central1-b")
# What the emulator holds per collection; networks, subnetworks and instances are the
# seeded cluster's, not ours.
LB_COLLECTIONS = (
    "forwardingRules",
    "backendServices",
    "healthChecks",
    "addresses",
    "firewalls",
    "instanceGroups",
)


@dataclass
class GcpWorld:
    emulator: Emulator
    proxy: RecordingProxy  # a FaultProxy whose .journal keeps every driver call
    seeded: SeededGcp

    def settings(self) -> dict[str, str]:
        return {"endpoint": self.proxy.url, "project": PROJECT, "region": REGION}

    def driver(self) -> GcpDriver:
        return make_driver(DriverOptions(CLUSTER, settings=self.settings()))

    def nodes(self) -> list[dict[str, Any]]:
        return node_objects(self.seeded)

    def names(self, collection: str) -> list[str]:
        return sorted(str(r["name"]) for r in self.emulator.resources(collection))

    def held(self) -> dict[str, list[str]]:
        """Every load-balancer resource in the emulator, by collection: the test's own
        view of the cloud, read without the driver."""
        return {c: self.names(c) for c in LB_COLLECTIONS if self.names(c)}

    def members(self) -> dict[str, list[str]]:
        """zone -> instance names in our instance group there, read with compute_v1
        straight from the emulator (not through the driver or the proxy)."""
        groups = client(compute_v1.InstanceGroupsClient, self.emulator.url)
        out = {}
        for g in self.emulator.resources("instanceGroups"):
            zone = str(g["zone"]).rsplit("/", 1)[-1]
            listed = groups.list_instances(
                request={"project": PROJECT, "zone": zone, "instance_group": g["name"]}
            )
            out[zone] = sorted(str(i.instance).rsplit("/", 1)[-1] for i in listed)
        return out

    def get(self, collection: str, name: str) -> dict[str, Any]:
        found = [r for r in self.emulator.resources(collection) if r["name"] == name]
        assert len(found) == 1, f"{collection}/{name}: {len(found)} found"
        return found[0]


@contextmanager
def gcp_world(nodes: int = 3) -> Iterator[GcpWorld]:
    with start_emulator(project=PROJECT) as emulator:
        seeded = seed_cluster(
            emulator.url, PROJECT, REGION, zones=ZONES, nodes=nodes, cluster=CLUSTER.name
        )
        with RecordingProxy(emulator.url) as proxy:
            yield GcpWorld(emulator, proxy, seeded)

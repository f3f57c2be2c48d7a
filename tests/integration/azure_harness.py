"""The ARM network emulator (HTTPS, its own CA, a bearer token) with a seeded virtual
network and NSG, and the Azure driver pointed at it through NetworkManagementClient.

The driver must speak HTTPS to the emulator, so no recording proxy sits in between: the
emulator's own request log, from the first `settings()` on, is the driver's calls
(seeding, and anything a test builds before it asks for the driver, come earlier)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ccm.driver import DriverOptions
from ccm.model import ClusterInfo
from providers.azure.driver import AzureDriver
from providers.azure.emulator import Emulator, start_emulator
from providers.azure.emulator.seed import SeededAzure, node_objects, seed_cluster
from providers.azure.factory import make_driver

CLUSTER = ClusterInfo("azure-test", "ccm.dev/lb")
RESOURCE_GROUP = "ccm-rg"
LOCATION = "eastus"


@dataclass
class AzureWorld:
    emulator: Emulator
    seeded: SeededAzure
    calls_from: int | None = field(default=None, repr=False)  # emulator.calls index

    def settings(self) -> dict[str, Any]:
        if self.calls_from is None:
            self.calls_from = len(self.emulator.calls)
        return {
            "endpoint": self.emulator.url,
            "subscription": self.emulator.subscription,
            "resource_group": RESOURCE_GROUP,
            "location": LOCATION,
            "token": self.emulator.token,
            "ca_bundle": self.emulator.ca_file,
            "vnet": self.seeded.vnet_id.rsplit("/", 1)[-1],
            "subnet": self.seeded.subnet_id.rsplit("/", 1)[-1],
            "security_group": self.seeded.nsg_name,
            "polling_interval": 0.02,
            # ARM's real budget is per hour; tests need not wait for it
            "rates": "arm:read=100/200,arm:write=50/100",
        }

    def driver(self) -> AzureDriver:
        return make_driver(DriverOptions(CLUSTER, settings=self.settings()))

    def nodes(self) -> list[dict[str, Any]]:
        return node_objects(self.seeded)

    def driver_calls(self) -> list[str]:
        """``"<METHOD> <path>"`` of every request since the driver's settings were first
        handed out."""
        return [] if self.calls_from is None else self.emulator.calls[self.calls_from :]

    def lbs(self) -> dict[str, dict[str, Any]]:
        return {str(lb["name"]): lb for lb in self.emulator.resources("loadBalancers")}

    def children(self, lb: str, key: str) -> list[str]:
        found = self.lbs().get(lb)
        if found is None:
            return []
        return sorted(str(c["name"]) for c in (found.get("properties") or {}).get(key) or [])

    def public_ips(self) -> dict[str, dict[str, Any]]:
        return {str(p["name"]): p for p in self.emulator.resources("publicIPAddresses")}

    def security_rules(self) -> dict[str, dict[str, Any]]:
        nsgs = [
            n
            for n in self.emulator.resources("networkSecurityGroups")
            if n["name"] == self.seeded.nsg_name
        ]
        rules = (nsgs[0].get("properties") or {}).get("securityRules") or [] if nsgs else []
        return {str(r["name"]): r for r in rules}

    def held(self) -> dict[str, list[str]]:
        """Every LB, child, public IP and NSG rule in the emulator: the test's own view."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.lbs()):
            for key in ("frontendIPConfigurations", "loadBalancingRules", "probes"):
                out[f"{name}/{key}"] = self.children(name, key)
        if self.public_ips():
            out["publicIPAddresses"] = sorted(self.public_ips())
        if self.security_rules():
            out["securityRules"] = sorted(self.security_rules())
        return out


@contextmanager
def azure_world(nodes: int = 3) -> Iterator[AzureWorld]:
    with start_emulator() as emulator:
        seeded = seed_cluster(
            emulator,
            resource_group=RESOURCE_GROUP,
            location=LOCATION,
            cluster=CLUSTER.name,
            nodes=nodes,
        )
        yield AzureWorld(emulator, seeded)

"""`ccm demo --provider azure`: the Azure driver on a laptop, with no subscription.

It starts the Kubernetes API sandbox and the ARM network emulator (HTTPS with its own CA,
a bearer token), seeds a virtual network, a subnet and the cluster NSG with matching
Nodes, applies deploy/examples/azure/services.yaml, runs the real controller with the
Azure driver (NetworkManagementClient over TLS), prints the addresses, switches one
Service from public to internal (it moves between the cluster's two load balancers and
its public IP goes), and ends with the cost audit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, TextIO, cast

from kubernetes import client

from ccm.audit.cli import audit
from ccm.cli import build_parser
from ccm.controller import Controller, ControllerConfig
from ccm.demo_support import keep_running, switch_demo
from ccm.driver import DriverOptions
from ccm.kube import Kube
from ccm.model import ClusterInfo
from ccm.sandbox.server import Sandbox
from providers.azure.emulator import start_emulator
from providers.azure.emulator.seed import node_objects, seed_cluster
from providers.azure.factory import make_driver

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "azure" / "services.yaml"
RESOURCE_GROUP = "ccm-demo-rg"
LOCATION = "eastus"
INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
DNS_LABEL = "service.beta.kubernetes.io/azure-dns-label-name"  # public IPs only


def _is_internal(s: dict[str, Any]) -> bool:
    return str((s["metadata"].get("annotations") or {}).get(INTERNAL, "")).lower() == "true"


def demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cluster = ClusterInfo(args.cluster_name, "ccm.dev/lb")
    sandbox = Sandbox(port=args.port).start()
    kubeconfig = sandbox.write_kubeconfig(args.kubeconfig_out)
    emulator = start_emulator()
    print(f"sandbox API  {sandbox.url}   (kubeconfig {kubeconfig})", file=out)
    print(
        f"ARM          {emulator.url}   (the project's network emulator; CA {emulator.ca_file})",
        file=out,
    )
    seeded = seed_cluster(
        emulator, resource_group=RESOURCE_GROUP, location=LOCATION, cluster=cluster.name, nodes=3
    )
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core = client.CoreV1Api(client.ApiClient(cfg))
    for node in node_objects(seeded):
        core.create_node(cast(client.V1Node, node))
    print(
        f"seeded       {RESOURCE_GROUP}/{LOCATION}: a virtual network, subnet "
        f"{seeded.subnet_id.rsplit('/', 1)[-1]}, NSG {seeded.nsg_name}, "
        f"{len(seeded.node_ips)} nodes",
        file=out,
    )
    settings = {
        "subscription": emulator.subscription,
        "resource_group": RESOURCE_GROUP,
        "location": LOCATION,
        "token": emulator.token,
        "ca_bundle": emulator.ca_file,
        "vnet": seeded.vnet_id.rsplit("/", 1)[-1],
        "subnet": seeded.subnet_id.rsplit("/", 1)[-1],
        "security_group": seeded.nsg_name,
        "polling_interval": "0.05",
    }
    driver = make_driver(DriverOptions(cluster, settings={**settings, "endpoint": emulator.url}))
    kube = Kube(client.ApiClient(cfg))
    controller = Controller(
        kube, driver, ControllerConfig(cluster=cluster, ready_poll_interval=1.0)
    )
    controller.start()
    switch_demo(
        core,
        lambda: kube.list_all("services")[0],
        controller.wait_idle,
        EXAMPLES,
        _is_internal,
        {INTERNAL: "true", DNS_LABEL: None},
        "public",
        out,
    )
    lbs = sorted(str(lb["name"]) for lb in emulator.resources("loadBalancers"))
    pips = len(emulator.resources("publicIPAddresses"))
    print(
        f"\nweb moved; load balancers now: {', '.join(lbs) or 'none'}; {pips} public IPs; "
        f"{driver.arm.total()} ARM calls, {driver.lb_writes()} load-balancer PUTs in all",
        file=out,
    )
    flags = [
        "--provider", "azure", "--cluster-name", cluster.name, "--kubeconfig", str(kubeconfig),
        "--azure-endpoint", emulator.url,
        *(f"--provider-setting={k}={v}" for k, v in settings.items()),
    ]  # fmt: skip
    print(
        "\n$ ccm audit --provider azure --cluster-name " + cluster.name + " ...",
        file=out,
        flush=True,
    )
    code = audit(build_parser().parse_args(["audit", *flags]), out)
    if args.keep:
        keep_running(kubeconfig, out)
    controller.stop()
    emulator.stop()
    sandbox.stop()
    return code

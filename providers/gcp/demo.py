"""`ccm demo --provider gcp`: the GCP driver on a laptop, with no project and no account.

It starts the Kubernetes API sandbox and the compute emulator, seeds a network, a
subnetwork and instances in two zones with matching Nodes, applies
deploy/examples/gcp/services.yaml, runs the real controller with the GCP driver (the
real compute_v1 clients over HTTP), prints the addresses, switches one Service from
external to internal to show the replacement leaves nothing behind, and ends with the
cost audit.
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
from providers.gcp.emulator import start_emulator
from providers.gcp.emulator.seed import node_objects, seed_cluster
from providers.gcp.factory import make_driver

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "gcp" / "services.yaml"
PROJECT = "ccm-demo"
REGION = "us-central1"
ZONES = ("us-central1-a", "us-central1-b")
LB_TYPE = "networking.gke.io/load-balancer-type"
COLLECTIONS = ("forwardingRules", "backendServices", "addresses", "firewalls", "healthChecks")


def _is_internal(s: dict[str, Any]) -> bool:
    return str((s["metadata"].get("annotations") or {}).get(LB_TYPE, "")).lower() == "internal"


def demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cluster = ClusterInfo(args.cluster_name, "ccm.dev/lb")
    sandbox = Sandbox(port=args.port).start()
    kubeconfig = sandbox.write_kubeconfig(args.kubeconfig_out)
    emulator = start_emulator(project=PROJECT)
    print(f"sandbox API  {sandbox.url}   (kubeconfig {kubeconfig})", file=out)
    print(f"compute      {emulator.url}   (the project's GCP compute emulator)", file=out)
    seeded = seed_cluster(emulator.url, PROJECT, REGION, zones=ZONES, nodes=3, cluster=cluster.name)
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core = client.CoreV1Api(client.ApiClient(cfg))
    for node in node_objects(seeded):
        core.create_node(cast(client.V1Node, node))
    print(
        f"seeded       {PROJECT}/{REGION}: a network, a subnetwork, "
        f"{len(seeded.instances)} instances in {len(ZONES)} zones",
        file=out,
    )
    settings = {"endpoint": emulator.url, "project": PROJECT, "region": REGION}
    driver = make_driver(DriverOptions(cluster, settings=settings))
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
        {LB_TYPE: "Internal"},
        "external",
        out,
    )
    held = {c: len(emulator.resources(c)) for c in COLLECTIONS}
    print(
        "\nthe external generation is gone; in compute now: "
        + ", ".join(f"{n} {c}" for c, n in held.items())
        + f"; {driver.compute.total()} compute calls in all",
        file=out,
    )
    flags = [
        "--provider", "gcp", "--cluster-name", cluster.name, "--kubeconfig", str(kubeconfig),
        "--gcp-endpoint", emulator.url, "--gcp-project", PROJECT, "--gcp-region", REGION,
    ]  # fmt: skip
    print("\n$ ccm audit " + " ".join(flags), file=out, flush=True)
    code = audit(build_parser().parse_args(["audit", *flags]), out)
    if args.keep:
        keep_running(kubeconfig, out)
    controller.stop()
    emulator.stop()
    sandbox.stop()
    return code

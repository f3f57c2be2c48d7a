"""`ccm demo`: the whole product on a laptop, with no cluster and no AWS account.

It starts the Kubernetes API sandbox and an in-process moto server, seeds a VPC with
tagged subnets, instances and matching Nodes, applies deploy/examples/aws/services.yaml,
runs the real controller with the AWS driver, prints what converges, flips one Service
from NLB to ALB to show the replacement leaves nothing behind, leaks one Service's load
balancer the way a controller outage does and lets the leak detector remove it, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client

from ccm.controller import Controller, ControllerConfig
from ccm.demo_support import keep_running, wait
from ccm.kube import Kube
from ccm.leaks.report import table as leak_table
from ccm.leaks.sweep import SweepConfig, Sweeper
from ccm.model import ClusterInfo
from ccm.sandbox.server import Sandbox
from providers.aws.calls import Caller
from providers.aws.demo_audit import more_services, run_audit
from providers.aws.driver import AwsDriver
from providers.aws.factory import clients
from providers.aws.seed import node_objects, seed_cluster, start_moto

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "aws" / "services.yaml"
TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
REGION = "us-east-1"


def _moto() -> tuple[Any, str]:
    try:
        return start_moto()
    except ImportError as e:
        raise SystemExit(
            "ccm demo needs moto: run it as `uv run --locked --extra demo ccm "
            "demo` (or pip install 'ccm[demo]')"
        ) from e


def _services(kube: Kube) -> list[dict[str, Any]]:
    items, _ = kube.list_all("services")
    return [s for s in items if s["spec"].get("type") == "LoadBalancer"]


def _row(svc: dict[str, Any]) -> tuple[str, str, str, str]:
    ann = svc["metadata"].get("annotations") or {}
    kind = "alb" if ann.get(TYPE) == "alb" else "nlb"
    scheme = ann.get("service.beta.kubernetes.io/aws-load-balancer-scheme", "internet-facing")
    ingress = (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    host = ingress[0].get("hostname", "") if ingress else "<pending>"
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in svc["spec"]["ports"])
    return (svc["metadata"]["name"], f"{kind}/{scheme}", host, ports)


def _table(rows: list[tuple[str, ...]]) -> str:
    head = ("SERVICE", "KIND", "HOSTNAME", "PORTS")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    return "\n".join(lines)


def _leak_demo(controller: Controller, core: client.CoreV1Api, out: Any) -> None:
    """The leak every reference controller suffers: a Service deleted while the controller
    is down, its finalizer removed by hand. The detector finds what it left and removes it
    (two sightings; no minimum age in a demo), then sweeps again: zero orphans."""
    controller.stop()
    core.delete_namespaced_service("api", "default")
    core.patch_namespaced_service("api", "default", {"metadata": {"finalizers": None}})
    print("\ncontroller stopped; deleted Service api and removed its finalizer by hand", file=out)
    sweeper = Sweeper(
        controller.driver,
        controller.cluster,
        controller.owns,
        SweepConfig(min_age=0.0, min_gap=0.0),
    )
    services = Kube(core.api_client).list_all

    def listed() -> list[dict[str, Any]]:
        return services("services")[0]

    print("leak detector, first sweep (finds; confirms before deleting):", file=out)
    print(leak_table([sweeper.sweep(listed)]), file=out, end="")
    time.sleep(0.01)
    print("second sweep (deletes):", file=out)
    print(leak_table([sweeper.sweep(listed)]), file=out, end="")
    print("third sweep:", file=out)
    print(leak_table([sweeper.sweep(listed)]), file=out, end="")


def demo(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    out = sys.stdout
    cluster = ClusterInfo(args.cluster_name, "ccm.dev/lb")
    sandbox = Sandbox(port=args.port).start()
    kubeconfig = sandbox.write_kubeconfig(args.kubeconfig_out)
    server, moto_url = _moto()
    print(f"sandbox API  {sandbox.url}   (kubeconfig {kubeconfig})", file=out)
    print(f"moto (AWS)   {moto_url}", file=out)
    aws = clients(moto_url, REGION)
    seeded = seed_cluster(aws["ec2"], cluster.name)
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core = client.CoreV1Api(client.ApiClient(cfg))
    for node in node_objects(seeded):
        core.create_node(cast(client.V1Node, node))  # raw JSON, sent as-is
    print(
        f"seeded       {seeded.vpc_id}, {len(seeded.public_subnets)} public + "
        f"{len(seeded.private_subnets)} private subnets, {len(seeded.instances)} nodes",
        file=out,
    )
    driver = AwsDriver(cluster, aws, REGION, Caller())
    kube = Kube(client.ApiClient(cfg))
    controller = Controller(
        kube,
        driver,
        ControllerConfig(cluster=cluster, ready_poll_interval=1.0),
    )
    controller.start()
    for doc in yaml.safe_load_all(EXAMPLES.read_text()):
        core.create_namespaced_service("default", doc)
    print(f"applied      {EXAMPLES.relative_to(EXAMPLES.parents[3])}\n", file=out)
    wait(
        lambda: all(
            (s.get("status") or {}).get("loadBalancer", {}).get("ingress") for s in _services(kube)
        ),
        60,
        "load balancers",
    )
    controller.wait_idle()
    print(_table([_row(s) for s in _services(kube)]), file=out)
    lbs = aws["elbv2"].describe_load_balancers()["LoadBalancers"]
    print(f"\n{len(lbs)} load balancers in AWS; flipping web from NLB to ALB ...", file=out)
    old = next(s for s in _services(kube) if s["metadata"]["name"] == "web")
    old_host = old["status"]["loadBalancer"]["ingress"][0]["hostname"]
    old_arns = {lb["LoadBalancerArn"] for lb in lbs if lb["DNSName"] == old_host}
    core.patch_namespaced_service("web", "default", {"metadata": {"annotations": {TYPE: "alb"}}})

    def replaced() -> bool:
        now = {
            lb["LoadBalancerArn"] for lb in aws["elbv2"].describe_load_balancers()["LoadBalancers"]
        }
        return not (old_arns & now)

    wait(replaced, 60, "the old NLB to be deleted")
    controller.wait_idle()
    print(_table([_row(s) for s in _services(kube)]), file=out)
    now = aws["elbv2"].describe_load_balancers()["LoadBalancers"]
    print(
        f"\nold NLB {sorted(old_arns)[0].rsplit('/', 2)[-2]} is gone; {len(now)} load "
        f"balancers, {driver.caller.total()} AWS calls in all "
        f"({driver.caller.throttled} throttled)",
        file=out,
    )
    _leak_demo(controller, core, out)
    controller = Controller(
        kube, driver, ControllerConfig(cluster=cluster, ready_poll_interval=1.0)
    )
    controller.start()
    more_services(core, aws, seeded, cluster.name)
    controller.wait_idle()
    code = run_audit(cluster.name, kubeconfig, moto_url, REGION, out)
    if args.keep:
        keep_running(kubeconfig, out)
    controller.stop()
    sandbox.stop()
    server.stop()
    return code

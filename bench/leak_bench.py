"""Leak sweep over many owned load balancers: AWS calls and wall time.

Seeds N one-port NLB Services through the real AWS driver (each with its load balancer,
target group and frontend security group, plus the cluster's backend group) in moto server,
deletes a tenth of the Services from the sandbox the way a controller outage with hand-
removed finalizers does, then runs the detector: a report sweep (the scan alone), and a
deleting sweep. A sweep must cost pages, not one call per resource.

    uv run --all-extras python -m bench.leak_bench --services 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
from kubernetes import client

from bench.sandbox_bench import RESULTS, Core
from ccm.controller import owns
from ccm.driver import DriverOptions
from ccm.kube import Kube
from ccm.leaks.sweep import Mode, SweepConfig, Sweeper, SweepReport
from ccm.model import JSON, Node
from ccm.sandbox.server import Sandbox
from providers.aws.driver import AwsDriver
from providers.aws.factory import make_driver
from tests.integration.aws_harness import CLUSTER, REGION, AwsWorld, aws_world

# Seeding is set-up, not what is measured: its driver skips the client-side buckets (and
# the fault proxy) so 1,000 load balancers are built in minutes, not a quarter of an hour.
SEED_RATES = (
    ",".join(
        f"{family}=1000/1000"
        for family in ("elasticloadbalancing:read", "elasticloadbalancing:write", "ec2:read")
    )
    + ",ec2:write=1000/1000,tagging:read=1000/1000"
)


def seed_driver(world: AwsWorld) -> AwsDriver:
    settings = {"endpoint_url": world.moto_url, "region": REGION, "rates": SEED_RATES}
    return make_driver(DriverOptions(CLUSTER, settings=settings))


def service(i: int) -> JSON:
    return {
        "metadata": {"name": f"svc-{i:05d}"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": CLUSTER.load_balancer_class,
            "ports": [{"name": "tcp", "port": 80 + i % 1000, "targetPort": 8080}],
        },
    }


def seed(driver: AwsDriver, core: Core, nodes: list[Node], n: int) -> float:
    t0 = time.monotonic()
    created = [
        json.loads(
            core.create_namespaced_service("default", service(i), _preload_content=False).data
        )
        for i in range(n)
    ]

    def build(svc: JSON) -> None:
        driver.ensure(driver.parse(svc, CLUSTER), nodes)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(build, created))
    return time.monotonic() - t0


def measured(
    driver: AwsDriver, s: Sweeper, kube: Kube
) -> tuple[SweepReport, dict[str, int], float]:
    before = Counter(driver.caller.calls)
    t0 = time.monotonic()
    report = s.sweep(lambda: kube.list_all("services")[0])
    took = time.monotonic() - t0
    after = Counter(driver.caller.calls)
    return (
        report,
        {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)},
        took,
    )


def run(services: int, orphan_share: float = 0.1) -> dict[str, Any]:
    """Seed `services` NLBs, orphan a share of them, then time a report sweep, a deleting
    sweep and a sweep after it; the JSON the runner (bench.run) also reads."""
    for noisy in ("werkzeug", "moto", "botocore", "urllib3", "ccm.leaks"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    sandbox = Sandbox().start()
    results: dict[str, Any] = {"services": services}
    try:
        with aws_world() as world:
            cfg = client.Configuration()
            cfg.host = sandbox.url
            api = client.ApiClient(cfg)
            core: Core = client.CoreV1Api(api)
            kube = Kube(api)
            for node in world.nodes():
                core.create_node(node)
            nodes = [Node.from_json(n) for n in world.nodes()]
            seeded = seed(seed_driver(world), core, nodes, services)
            results["seed_seconds"] = round(seeded, 1)
            orphans = int(services * orphan_share)
            for i in range(orphans):
                core.delete_namespaced_service(f"svc-{i:05d}", "default")

            def mine(svc: JSON) -> bool:
                return owns(svc, CLUSTER.load_balancer_class, False)

            fresh = world.driver()  # a new process's view: no caches, default rates
            s = Sweeper(fresh, CLUSTER, mine, SweepConfig(mode=Mode.REPORT, min_age=0.0))
            rss0 = psutil.Process().memory_info().rss
            report, calls, took = measured(fresh, s, kube)
            results["scan"] = {
                "owned": report.owned,
                "orphans": len(report.findings),
                "calls": calls,
                "total_calls": sum(calls.values()),
                "seconds": round(took, 2),
                "rss_delta_mb": round((psutil.Process().memory_info().rss - rss0) / 2**20, 1),
            }
            s.config = SweepConfig(min_age=0.0, max_deletions=10 * orphans + 10)
            report, calls, took = measured(fresh, s, kube)
            results["delete"] = {
                "deleted": len(report.deleted),
                "failed": len(report.failed),
                "calls": calls,
                "total_calls": sum(calls.values()),
                "seconds": round(took, 2),
            }
            report, calls, took = measured(fresh, s, kube)
            results["after"] = {
                "orphans": len(report.findings),
                "calls": calls,
                "total_calls": sum(calls.values()),
                "seconds": round(took, 2),
            }
    finally:
        sandbox.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--orphan-share", type=float, default=0.1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = run(args.services, args.orphan_share)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "leak_bench.json").write_text(json.dumps(results, indent=2))
    print(f"seeded {args.services} NLB Services in {results['seed_seconds']} s")
    for phase in ("scan", "delete", "after"):
        r = results[phase]
        print(
            f"{phase:7} {r['total_calls']:5d} calls {r['seconds']:7.2f} s  {json.dumps(r['calls'])}"
        )
    print(
        f"scan: {results['scan']['owned']} owned resources, "
        f"{results['scan']['orphans']} orphaned; deleted {results['delete']['deleted']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

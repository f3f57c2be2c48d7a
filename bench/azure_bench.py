"""ARM calls per Service lifecycle phase for the Azure driver, and load-balancer PUTs when
20 Services are created together.

In-process: the Kubernetes API sandbox, the ARM network emulator (HTTPS, its own CA) with
a seeded virtual network, NSG and three nodes, and the real controller with the Azure
driver. One 2-port public Service goes through create, a no-op resync, a node added, a
node removed, an in-place annotation change (TCP idle timeout) and delete; every request
the emulator served is counted (operation polls separately). A Service is then created
with 50 ms added to every ARM request (the emulator's own latency fault: the driver
speaks HTTPS to it, so there is no proxy) and the time to its status address measured.
Then 20 Services are created at once and the LB PUTs counted: without coalescing that
is at least 20.

    uv run --all-extras python -m bench.azure_bench
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client

from bench.aws_bench import gone, idle, reconciles
from bench.sandbox_bench import RESULTS, Core
from ccm.sandbox.server import Sandbox
from tests.integration.azure_harness import CLUSTER, AzureWorld, azure_world
from tests.integration.harness import Loop, ip_of, wait_for
from tests.integration.test_loop_azure import service

TOGETHER = 20
LATENCY = 0.05
IDLE_TIMEOUT = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"
# The fewest ARM requests per phase, operation polls not counted:
#  create: PUT public IP, PUT LB, PUT NSG rule (+ GETs to learn the LB's and rule's
#    current state: 3) = 3 reads + 3 writes.
#  resync: GET public IP, LB, NSG rule = 3 reads.
#  node added/removed: GET LB + PUT LB = 1 + 1.
#  delete: GET LB, PUT or DELETE LB, DELETE public IP, DELETE NSG rule = 1 + 3.
MINIMUM = {
    "create": (3, 3),
    "resync": (3, 0),
    "node_added": (1, 1),
    "node_removed": (1, 1),
    "annotation": (1, 1),  # GET LB + PUT LB with the rules' new idle timeout
    "delete": (1, 3),
}


def _kind(call: str) -> str:
    method, _, path = call.partition(" ")
    if "/operations/" in path or "/operationResults/" in path:
        return "poll"
    return "read" if method == "GET" else "write"


def _phase(calls: list[str], seconds: float) -> dict[str, Any]:
    kinds = Counter(_kind(c) for c in calls)
    return {
        "calls": len(calls),
        "reads": kinds["read"],
        "writes": kinds["write"],
        "operation_polls": kinds["poll"],
        "lb_puts": sum(1 for c in calls if c.startswith("PUT") and "/loadBalancers/" in c),
        "seconds": round(seconds, 3),
        "operations": calls,
    }


def warm_up(create: Callable[[str], None], delete: Callable[[str], None]) -> None:
    """The first Service builds the cluster-shared resources; it is counted apart."""
    create("warmup")
    delete("warmup")


def run(world: AzureWorld, sandbox: Sandbox) -> dict[str, Any]:
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core: Core = client.CoreV1Api(client.ApiClient(cfg))
    nodes = world.nodes()
    for node in nodes[:-1]:  # the last joins in the node phase
        core.create_node(cast(client.V1Node, node))
    loop = Loop(sandbox)
    ctl = loop.start(driver=world.driver(), cluster=CLUSTER)
    out: dict[str, Any] = {}

    def measure(name: str, action: Any) -> None:
        at, t0 = len(world.emulator.calls), time.monotonic()  # .calls is a snapshot
        action()
        out[name] = _phase(world.emulator.calls[at:], time.monotonic() - t0)
        if name in MINIMUM:
            out[name]["minimum"] = {"reads": MINIMUM[name][0], "writes": MINIMUM[name][1]}

    def create(name: str) -> None:
        core.create_namespaced_service("default", service(name, [80, 443]))
        wait_for(lambda: ip_of(core, name), 120, f"{name} address")
        idle(ctl)

    def delete(name: str) -> None:
        core.delete_namespaced_service(name, "default")
        wait_for(lambda: gone(core, name), 120, f"{name} gone", every=0.02)
        idle(ctl)

    def resync() -> None:
        before = reconciles(ctl)
        ctl.services.resync()
        idle(ctl, before)

    def node_change(add: bool) -> None:
        before = reconciles(ctl)
        if add:
            core.create_node(cast(client.V1Node, copy.deepcopy(nodes[-1])))
        else:
            core.delete_node(nodes[-1]["metadata"]["name"])
        idle(ctl, before)

    def together() -> None:
        names = [f"s{i}" for i in range(TOGETHER)]
        threads = [
            threading.Thread(target=core.create_namespaced_service, args=("default", service(n)))
            for n in names
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: all(ip_of(core, n) for n in names), 300, "all addresses")
        idle(ctl)

    def annotate() -> None:
        before = reconciles(ctl)
        patch = {"metadata": {"annotations": {IDLE_TIMEOUT: "10"}}}
        core.patch_namespaced_service("web", "default", patch)
        idle(ctl, before)

    def slow_create() -> dict[str, Any]:
        world.emulator.add_fault(".*", 0, times=10_000, latency=LATENCY)
        at, t0 = len(world.emulator.calls), time.monotonic()
        core.create_namespaced_service("default", service("slow", [80, 443]))
        wait_for(lambda: ip_of(core, "slow"), 120, "slow address")
        seconds = time.monotonic() - t0
        before_status = world.emulator.calls[at:]
        world.emulator.clear_faults()
        idle(ctl)
        delete("slow")
        return {
            "injected_per_call": LATENCY,
            "seconds_to_status": round(seconds, 3),
            "calls_before_status": len(before_status),
            "serial_floor_seconds": round(len(before_status) * LATENCY, 3),
            "operations_before_status": before_status,
        }

    try:
        measure("first", lambda: warm_up(create, delete))
        measure("create", lambda: create("web"))
        measure("resync", resync)
        measure("node_added", lambda: node_change(True))
        measure("node_removed", lambda: node_change(False))
        measure("annotation", annotate)
        measure("delete", lambda: delete("web"))
        out["latency"] = slow_create()
        measure("together", together)
        out["together"]["services"] = TOGETHER
    finally:
        loop.stop(ctl)
    return out


def report(out: dict[str, Any]) -> None:
    print(f"{'phase':<14}{'calls':>6}{'reads':>7}{'writes':>8}{'polls':>7}{'LB PUTs':>9}  minimum")
    phases = ("first", "create", "resync", "node_added", "node_removed", "annotation", "delete")
    for name in (*phases, "together"):
        p = out[name]
        m = p.get("minimum")
        floor = f"{m['reads']}r+{m['writes']}w" if m else "-"
        print(
            f"{name:<14}{p['calls']:>6}{p['reads']:>7}{p['writes']:>8}{p['operation_polls']:>7}"
            f"{p['lb_puts']:>9}  {floor}"
        )
    t = out["together"]
    print(
        f"\n{t['services']} Services created at once: {t['lb_puts']} load-balancer PUTs "
        f"(one per Service without coalescing: {t['services']}), {t['seconds']:.1f} s"
    )


def collect() -> dict[str, Any]:
    """Run every phase, the latency run and the together run; the JSON the runner
    (bench.run) also reads."""
    with Sandbox(port=0) as sandbox, azure_world() as world:
        out = run(world, sandbox)
    report(out)
    return out


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    out = collect()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "azure.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'azure.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compute calls per Service lifecycle phase for the GCP driver, and time to status.

In-process: the Kubernetes API sandbox, the compute emulator behind the fault proxy with a
seeded network and three nodes in two zones, and the real controller with the GCP driver.
One 2-port external Service goes through create, a no-op resync, a node added, a node
removed, an in-place annotation change (source ranges) and delete; each phase's HTTP
calls are counted at the proxy (every attempt, operation waits included). A second
Service is then created with 50 ms added to every compute call and the time to its status
address is measured.

    uv run --all-extras python -m bench.gcp_bench
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client

from bench.aws_bench import gone, idle, reconciles
from bench.sandbox_bench import RESULTS, Core
from ccm.sandbox.server import Sandbox
from providers.gcp.emulator.seed import client as compute_client
from tests.integration.gcp_harness import CLUSTER, PROJECT, ZONES, GcpWorld, gcp_world
from tests.integration.harness import Loop, ip_of, wait_for
from tests.integration.test_loop_gcp import service

LATENCY = 0.05
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"

# GKE's in-tree controller, read from its code path for a backend-service (internal)
# load balancer (gce_loadbalancer_internal.go: ensureInternalInstanceGroups,
# ensureInternalHealthCheck, ensureInternalBackendService, two ensureInternalFirewall,
# the forwarding rule and the address): per zone a group get + listInstances, then a get
# of each of the health check, backend service, two firewalls, rule and address, before
# any write. Counted from the code, not measured; operation polls not included.
REFERENCE_READS = {"create": "6 + 2 per zone", "resync": "6 + 2 per zone", "delete": "about 6"}
# The fewest calls compute allows, operation waits not counted:
#  create (warm cluster): insert address, backend service, firewall, forwarding rule (+ a
#    get of the address for its IP) = 4 writes + 1 read.
#  resync: a read of each of the rule, backend service, firewall, address = 4 reads.
#  node added/removed: addInstances/removeInstances in one zone = 1 write.
#  delete: 4 deletes (rule, backend service, firewall, address) after 1 list = 1r + 4w.
MINIMUM = {
    "create": (1, 4),
    "resync": (4, 0),
    "node_added": (0, 1),
    "node_removed": (0, 1),
    "annotation": (1, 1),  # a read of the firewall, then its patch
    "delete": (1, 4),
}


def _kind(call: str) -> str:
    method, _, path = call.removeprefix("http:").partition(" ")
    if "/operations/" in path:
        return "wait"
    return "read" if method == "GET" or path.endswith("/listInstances") else "write"


def _phase(calls: list[str], seconds: float, **extra: Any) -> dict[str, Any]:
    kinds = Counter(_kind(c) for c in calls)
    return {
        "calls": len(calls),
        "reads": kinds["read"],
        "writes": kinds["write"],
        "operation_waits": kinds["wait"],
        "seconds": round(seconds, 3),
        "operations": calls,
        **extra,
    }


def _new_node(world: GcpWorld) -> dict[str, Any]:
    """An instance like the seeded ones (made straight in the emulator, not counted) and
    the Node its kubelet would register."""
    from google.cloud import compute_v1

    name = f"{CLUSTER.name}-node-extra"
    zone = ZONES[1]
    instances = compute_client(compute_v1.InstancesClient, world.emulator.url)
    op = instances.insert_unary(
        request={
            "project": PROJECT,
            "zone": zone,
            "instance_resource": {
                "name": name,
                "machine_type": f"zones/{zone}/machineTypes/e2-standard-4",
                "tags": {"items": [f"{CLUSTER.name}-node"]},
                "network_interfaces": [{"subnetwork": world.seeded.subnetwork}],
            },
        }
    )
    compute_client(compute_v1.ZoneOperationsClient, world.emulator.url).wait(
        request={"project": PROJECT, "zone": zone, "operation": op.name}
    )
    node = copy.deepcopy(world.nodes()[0])
    node["metadata"]["name"] = name
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = zone
    node["spec"]["providerID"] = f"gce://{PROJECT}/{zone}/{name}"
    return node


def warm_up(create: Callable[[str], None], delete: Callable[[str], None]) -> None:
    """The first Service builds the cluster-shared resources; it is counted apart."""
    create("warmup")
    delete("warmup")


def run(world: GcpWorld, sandbox: Sandbox) -> dict[str, Any]:
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core: Core = client.CoreV1Api(client.ApiClient(cfg))
    for node in world.nodes():
        core.create_node(cast(client.V1Node, node))
    loop = Loop(sandbox)
    ctl = loop.start(driver=world.driver(), cluster=CLUSTER)
    out: dict[str, Any] = {}
    calls = world.proxy.calls

    def measure(name: str, action: Any, **extra: Any) -> None:
        at, t0 = len(calls), time.monotonic()
        action()
        out[name] = _phase(list(calls[at:]), time.monotonic() - t0, **extra)
        minimum = MINIMUM.get(name)
        if minimum:
            out[name]["minimum"] = {"reads": minimum[0], "writes": minimum[1]}
        if name in REFERENCE_READS:
            out[name]["reference_reads"] = REFERENCE_READS[name]

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

    extra = _new_node(world)

    def add_node() -> None:
        before = reconciles(ctl)
        core.create_node(cast(client.V1Node, extra))
        idle(ctl, before)

    def remove_node() -> None:
        before = reconciles(ctl)
        core.delete_node(extra["metadata"]["name"])
        idle(ctl, before)

    def annotate() -> None:
        before = reconciles(ctl)
        patch = {"metadata": {"annotations": {SOURCE_RANGES: "10.0.0.0/8"}}}
        core.patch_namespaced_service("web", "default", patch)
        idle(ctl, before)

    try:
        measure("first", lambda: warm_up(create, delete))
        measure("create", lambda: create("web"))
        measure("resync", resync)
        measure("node_added", add_node)
        measure("node_removed", remove_node)
        measure("annotation", annotate)
        measure("delete", lambda: delete("web"))
        world.proxy.add(match=".*", latency=LATENCY)
        at, t0 = len(calls), time.monotonic()
        core.create_namespaced_service("default", service("slow", [80, 443]))
        wait_for(lambda: ip_of(core, "slow"), 120, "slow address")
        seconds = time.monotonic() - t0
        before_status = list(calls[at:])
        world.proxy.clear()
        out["latency"] = {
            "injected_per_call": LATENCY,
            "seconds_to_status": round(seconds, 3),
            "calls_before_status": len(before_status),
            "serial_floor_seconds": round(len(before_status) * LATENCY, 3),
        }
    finally:
        loop.stop(ctl)
    return out


def report(out: dict[str, Any]) -> None:
    print(f"{'phase':<14}{'calls':>6}{'reads':>7}{'writes':>8}{'op waits':>10}  minimum (r+w)")
    for name in ("first", "create", "resync", "node_added", "node_removed", "annotation", "delete"):
        p = out[name]
        m = p.get("minimum")
        floor = f"{m['reads']}+{m['writes']}" if m else "-"
        print(
            f"{name:<14}{p['calls']:>6}{p['reads']:>7}{p['writes']:>8}{p['operation_waits']:>10}"
            f"  {floor}"
        )
    lat = out["latency"]
    print(
        f"\ntime to status with {LATENCY * 1000:.0f} ms per compute call: "
        f"{lat['seconds_to_status']:.3f} s over {lat['calls_before_status']} calls "
        f"(serial floor {lat['serial_floor_seconds']:.2f} s)"
    )


def collect() -> dict[str, Any]:
    """Run every phase and the latency run; the JSON the runner (bench.run) also reads."""
    with Sandbox(port=0) as sandbox, gcp_world() as world:
        out = run(world, sandbox)
    report(out)
    return out


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    out = collect()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gcp.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'gcp.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

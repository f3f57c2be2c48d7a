"""AWS API calls per Service lifecycle phase, and time to status under cloud latency.

Everything runs in-process: the Kubernetes API sandbox, moto server behind the fault
proxy with a seeded VPC and nodes, and the real controller with the AWS driver. One
2-port NLB Service (80 and 443) goes through create, a no-op resync, a node added, a node
removed, an in-place annotation change (health-check interval) and delete; each phase's
AWS calls are counted twice, on the wire (the fault proxy's record of every HTTP attempt)
and in the driver (`driver.caller.calls`). A second
Service is then created with 50 ms added to every AWS call, and the time from the create
returning to the status hostname being visible is measured.

    uv run --all-extras python -m bench.aws_bench
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from bench.reference import PHASE_LABELS
from bench.sandbox_bench import RESULTS, Core
from ccm.controller import Controller
from ccm.sandbox.server import Sandbox
from providers.aws.driver import AwsDriver
from tests.integration.aws_harness import CLUSTER, AwsWorld, aws_world
from tests.integration.harness import Loop, wait_for

LB_CLASS = "ccm.dev/lb"
READY_CONDITION = "ccm.dev/LoadBalancerReady"
READ_PREFIXES = ("Describe", "Get", "List")
LATENCY = 0.05  # seconds injected per AWS call in the latency run
HC_INTERVAL = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"

# Calls the reference controllers make per phase for one 2-port NLB Service: ranges from
# the issue, for cloud-provider-aws's EnsureLoadBalancer/EnsureLoadBalancerDeleted (NLB
# path) and aws-load-balancer-controller's service reconcile. None: not documented.
REFERENCE: dict[str, tuple[int, int] | None] = {
    "first": None,
    "create": (19, 35),
    "resync": (13, 16),
    "node_added": None,
    "node_removed": None,
    "annotation": None,
    "delete": (10, 12),
}

# The fewest calls the cloud API allows for the phase, as (reads, writes).
#  create: CreateLoadBalancer + per port (CreateTargetGroup, CreateListener,
#          RegisterTargets) = 1 + 3x2 = 7, plus the frontend security group's
#          CreateSecurityGroup + AuthorizeSecurityGroupIngress = 9 writes.
#  resync: one tag query (GetResources) and no writes.
#  node added/removed: one tag query + per port RegisterTargets/DeregisterTargets.
#  delete: one tag query + DeleteLoadBalancer + per port DeleteTargetGroup +
#          DeleteSecurityGroup = 1 read + 4 writes.
MINIMUM: dict[str, tuple[int, int] | None] = {
    "first": None,
    "create": (0, 9),
    "resync": (1, 0),
    "node_added": (1, 2),
    "node_removed": (1, 2),
    "annotation": (1, 2),  # one tag query + ModifyTargetGroup per port
    "delete": (1, 4),
}

# The targets: a phase passes when check(reads, writes) holds.
TARGETS: dict[str, tuple[str, Callable[[int, int], bool]]] = {
    "create": ("<= 12 calls", lambda r, w: r + w <= 12),
    "resync": ("<= 4 reads, 0 writes", lambda r, w: r <= 4 and w == 0),
    "delete": ("<= 8 calls", lambda r, w: r + w <= 8),
}
LATENCY_TARGET = 0.5  # seconds from create to status with LATENCY per call

LABELS = PHASE_LABELS  # one wording for the phases, here and in docs/benchmarks.md


def is_read(op: str) -> bool:
    return op.split(":", 1)[-1].startswith(READ_PREFIXES)


@dataclass
class Phase:
    name: str
    seconds: float
    proxy_ops: list[str]  # every HTTP attempt, in order
    driver_ops: dict[str, int]  # the driver's own count
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reads(self) -> int:
        return sum(1 for op in self.proxy_ops if is_read(op))

    @property
    def writes(self) -> int:
        return len(self.proxy_ops) - self.reads

    @property
    def driver_total(self) -> int:
        return sum(self.driver_ops.values())

    def verdict(self) -> str:
        target = TARGETS.get(self.name)
        if target is None:
            return ""
        return "met" if target[1](self.reads, self.writes) else "MISSED"

    def to_json(self) -> dict[str, Any]:
        target = TARGETS.get(self.name)
        ref = REFERENCE.get(self.name)
        minimum = MINIMUM.get(self.name)
        return {
            "label": LABELS[self.name],
            "seconds": round(self.seconds, 3),
            "proxy_calls": len(self.proxy_ops),
            "driver_calls": self.driver_total,
            "reads": self.reads,
            "writes": self.writes,
            "operations": self.proxy_ops,
            "driver_counts": self.driver_ops,
            "counts_agree": Counter(self.proxy_ops) == Counter(self.driver_ops),
            "target": target[0] if target else None,
            "verdict": self.verdict() or None,
            "reference_calls": list(ref) if ref else "not documented",
            "minimum": {"reads": minimum[0], "writes": minimum[1]} if minimum else None,
            **self.extra,
        }


class Meter:
    """Counts the AWS calls made since `start`, on the wire and in the driver."""

    def __init__(self, world: AwsWorld, driver: AwsDriver, ctl: Controller) -> None:
        self.world = world
        self.driver = driver
        self.ctl = ctl
        self._at = 0
        self._before: Counter[str] = Counter()
        self._results: Counter[str] = Counter()
        self._t0 = 0.0

    def start(self) -> None:
        self._at = len(self.world.proxy.calls)
        self._before = Counter(self.driver.caller.calls)
        self._results = Counter(self.ctl.results)
        self._t0 = time.monotonic()

    def wire(self) -> list[str]:
        return list(self.world.proxy.calls[self._at :])

    def stop(self, name: str, **extra: Any) -> Phase:
        ops = self.wire()
        after = Counter(self.driver.caller.calls)
        diff = {k: v - self._before.get(k, 0) for k, v in after.items()}
        results = Counter(self.ctl.results) - self._results
        extra = {"reconciles": dict(sorted(results.items())), **extra}
        return Phase(
            name,
            time.monotonic() - self._t0,
            ops,
            {k: v for k, v in sorted(diff.items()) if v},
            extra,
        )


def lb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": LB_CLASS,
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443},
            ],
        },
    }


def hostname(core: Core, name: str) -> str:
    raw = json.loads(core.read_namespaced_service(name, "default", _preload_content=False).data)
    ingress = ((raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return str(ingress[0].get("hostname") or "") if ingress else ""


def ready(core: Core, name: str) -> str:
    """The ccm.dev/LoadBalancerReady condition's status ("" while there is none)."""
    raw = json.loads(core.read_namespaced_service(name, "default", _preload_content=False).data)
    conditions = (raw.get("status") or {}).get("conditions") or []
    return next((str(c.get("status")) for c in conditions if c.get("type") == READY_CONDITION), "")


def gone(core: Core, name: str) -> bool:
    items = core.list_namespaced_service("default", field_selector=f"metadata.name={name}").items
    return not items


def reconciles(ctl: Controller) -> int:
    return sum(ctl.results.values())


def idle(ctl: Controller, before: int | None = None, timeout: float = 120.0) -> None:
    """Wait for at least one reconcile after `before` (if given), then for a quiet queue."""
    if before is not None:
        wait_for(lambda: reconciles(ctl) > before, timeout, "a reconcile", every=0.02)
    deadline = time.monotonic() + timeout
    while True:
        # wait_idle ignores delayed re-adds (the ready poll, backoff retries): wait them out
        # too, or they land in the next phase's count
        if not ctl.wait_idle(timeout=max(1.0, deadline - time.monotonic()), settle=0.5):
            raise TimeoutError("controller did not go idle")
        if not getattr(ctl.queue, "delayed", 0):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("delayed reconciles still pending")
        time.sleep(0.05)


def create_and_wait(ctl: Controller, core: Core, name: str) -> float:
    core.create_namespaced_service("default", lb_service(name))
    t0 = time.monotonic()
    wait_for(lambda: hostname(core, name), 120, f"{name} status hostname")
    took = time.monotonic() - t0
    idle(ctl)
    return took


def delete_and_wait(ctl: Controller, core: Core, name: str) -> None:
    core.delete_namespaced_service(name, "default")
    wait_for(lambda: gone(core, name), 360, f"{name} gone", every=0.02)
    idle(ctl)


def new_node(world: AwsWorld) -> tuple[str, dict[str, Any]]:
    """An EC2 instance like the seeded ones, and the Node its kubelet would register."""
    ec2 = world.raw["ec2"]
    seeded = world.seeded
    first = ec2.describe_instances(InstanceIds=[seeded.instances[0].instance_id])
    image = first["Reservations"][0]["Instances"][0]["ImageId"]
    inst = ec2.run_instances(
        ImageId=image,
        InstanceType=seeded.instances[0].instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=seeded.private_subnets[0],
        SecurityGroupIds=[seeded.node_security_group],
    )["Instances"][0]
    iid = str(inst["InstanceId"])
    ip = str(inst["PrivateIpAddress"])
    az = str(inst["Placement"]["AvailabilityZone"])
    name = str(inst.get("PrivateDnsName") or f"ip-{ip.replace('.', '-')}.ec2.internal")
    node = copy.deepcopy(world.nodes()[0])
    node["metadata"]["name"] = name
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = az
    node["spec"]["providerID"] = f"aws:///{az}/{iid}"
    node["status"]["addresses"] = [
        {"type": "InternalIP", "address": ip},
        {"type": "InternalDNS", "address": name},
        {"type": "Hostname", "address": name},
    ]
    node["status"]["nodeInfo"]["systemUUID"] = iid
    return iid, node


def run(world: AwsWorld, sandbox: Sandbox) -> tuple[list[Phase], dict[str, Any]]:
    cfg = client.Configuration()
    cfg.host = sandbox.url
    core: Core = client.CoreV1Api(client.ApiClient(cfg))
    for node in world.nodes():
        core.create_node(node)
    driver = world.driver()
    loop = Loop(sandbox)
    ctl = loop.start(driver=driver, cluster=CLUSTER)
    meter = Meter(world, driver, ctl)
    phases: list[Phase] = []
    try:
        # (1) warm-up: the first Service builds the cluster-shared resources
        meter.start()
        took = create_and_wait(ctl, core, "warmup")
        delete_and_wait(ctl, core, "warmup")
        phases.append(meter.stop("first", seconds_to_status=round(took, 3)))

        # (2) create
        meter.start()
        took = create_and_wait(ctl, core, "web")
        phases.append(meter.stop("create", seconds_to_status=round(took, 3)))

        # (3) no-op resync
        meter.start()
        before = reconciles(ctl)
        ctl.services.resync()
        idle(ctl, before)
        phases.append(meter.stop("resync"))

        # (4) node added
        iid, node = new_node(world)  # straight to moto: not counted
        meter.start()
        before = reconciles(ctl)
        core.create_node(node)
        idle(ctl, before)
        phases.append(meter.stop("node_added", instance=iid))

        # (5) node removed
        meter.start()
        before = reconciles(ctl)
        core.delete_node(node["metadata"]["name"])
        idle(ctl, before)
        phases.append(meter.stop("node_removed"))

        # (6) annotation change that applies in place: the health-check interval
        meter.start()
        before = reconciles(ctl)
        patch = {"metadata": {"annotations": {HC_INTERVAL: "30"}}}
        core.patch_namespaced_service("web", "default", patch)
        idle(ctl, before)
        phases.append(meter.stop("annotation"))

        # (7) delete
        meter.start()
        delete_and_wait(ctl, core, "web")
        left = sorted(str(tags.get("ccm.dev/resource")) for _, tags in world.tagged())
        phases.append(meter.stop("delete", left_behind=left))

        # latency run: a Service in the warm cluster, LATENCY added to every AWS call
        world.proxy.add(match=".*", latency=LATENCY)
        meter.start()
        core.create_namespaced_service("default", lb_service("web-latency"))
        t0 = time.monotonic()
        wait_for(lambda: hostname(core, "web-latency"), 120, "web-latency status hostname")
        seconds = time.monotonic() - t0
        in_path = meter.wire()
        wait_for(lambda: ready(core, "web-latency") == "True", 120, "Ready condition")
        ready_seconds = time.monotonic() - t0
        idle(ctl)
        until_idle = meter.wire()
        world.proxy.clear()
        delete_and_wait(ctl, core, "web-latency")
        latency = {
            "injected_per_call": LATENCY,
            "seconds_to_status": round(seconds, 3),
            "target_seconds": LATENCY_TARGET,
            "verdict": "met" if seconds <= LATENCY_TARGET else "MISSED",
            "seconds_to_ready_condition": round(ready_seconds, 3),
            "calls_before_status": len(in_path),
            "operations_before_status": in_path,
            "calls_until_idle": len(until_idle),
            "serial_floor_seconds": round(len(in_path) * LATENCY, 3),
        }
    finally:
        loop.stop(ctl)
    return phases, latency


def fmt_range(r: tuple[int, int] | None) -> str:
    return f"{r[0]}-{r[1]}" if r else "not documented"


def fmt_min(m: tuple[int, int] | None) -> str:
    return f"{sum(m)} ({m[0]}r+{m[1]}w)" if m else "-"


def report(phases: list[Phase], latency: dict[str, Any]) -> None:
    head = ("phase", "wire", "driver", "reads", "writes", "target", "", "reference", "minimum")
    rows = [head]
    for p in phases:
        target = TARGETS.get(p.name)
        rows.append(
            (
                LABELS[p.name],
                str(len(p.proxy_ops)),
                str(p.driver_total),
                str(p.reads),
                str(p.writes),
                target[0] if target else "-",
                p.verdict(),
                fmt_range(REFERENCE[p.name]) if p.name != "first" else "-",
                fmt_min(MINIMUM[p.name]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(
        f"time to status, {LATENCY * 1000:.0f} ms per AWS call: "
        f"{latency['seconds_to_status']:.3f} s (target <= {LATENCY_TARGET} s: "
        f"{latency['verdict']}); {latency['calls_before_status']} AWS calls before status "
        f"(serial floor {latency['serial_floor_seconds']:.2f} s), "
        f"{latency['calls_until_idle']} until idle; Ready condition True after "
        f"{latency['seconds_to_ready_condition']:.3f} s"
    )
    print()
    for p in phases:
        agree = "" if Counter(p.proxy_ops) == Counter(p.driver_ops) else "  (wire != driver!)"
        print(f"{LABELS[p.name]} ({p.seconds:.2f} s, reconciles {p.extra['reconciles']}){agree}:")
        for op in p.proxy_ops:
            print(f"    {'R' if is_read(op) else 'W'} {op}")
        if p.extra.get("left_behind") is not None:
            print(f"    left tagged for the cluster: {p.extra['left_behind']}")
    print("latency run, before status:")
    for op in latency["operations_before_status"]:
        print(f"    {'R' if is_read(op) else 'W'} {op}")


def collect() -> dict[str, Any]:
    """Run every phase and the latency run; the JSON the runner (bench.run) also reads."""
    with Sandbox(bookmark_interval=0.2) as sandbox, aws_world() as world:
        phases, latency = run(world, sandbox)
    report(phases, latency)
    return {
        "service": "one NLB, ports 80 and 443, class ccm.dev/lb, 3 seeded nodes",
        "counted": "wire = FaultProxy.calls (every HTTP attempt); driver = driver.caller.calls",
        "phases": {p.name: p.to_json() for p in phases},
        "latency": latency,
    }


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    out = collect()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aws.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'aws.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

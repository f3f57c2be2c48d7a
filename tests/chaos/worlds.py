"""One cloud per driver for a chaos run: the emulator, how faults reach its wire, the
flags that point a `ccm run` process at it, and the checker's direct view of it.

The clouds come from the integration harnesses (tests/integration/*_harness.py), unchanged:
AWS is moto server and GCP the compute emulator, each behind the harness's FaultProxy, so
the ccm process's SDK calls cross the proxy and faults are real HTTP answers (throttling
bodies, 5xx, TCP resets). The Azure driver must speak HTTPS, which FaultProxy does not
serve, so Azure faults are the emulator's own (`Emulator.add_fault`: status, latency,
Retry-After), on the same wire. The pool driver has no cloud API: its state lives in the
controller and in Service status, so there is nothing to fault and its inventory is read
from the controller's own metrics (see tests/chaos/checker.py).

`view()` always goes straight to the emulator, never through the proxy, so the
checker sees the cloud as it is, not as the faults make it look.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ccm.driver import Driver, DriverOptions, load_driver
from ccm.faultproxy import FaultProxy
from ccm.model import ClusterInfo
from tests.integration.harness import POOLS

AWS_WRITES = r":(Create|Delete|Modify|Register|Deregister|Add|Remove|Authorize|Revoke|Set)"
HTTP_WRITES = r"^(http:)?(POST|PUT|PATCH|DELETE) "


class World:
    """A cloud the ccm process talks to; subclasses fill in the driver's specifics."""

    driver = ""
    cluster = ClusterInfo("", "ccm.dev/lb")

    def nodes(self) -> list[dict[str, Any]]:
        """Every Node the cloud has an instance for (the chaos registers a subset)."""
        raise NotImplementedError

    def ccm_args(self, tmp: Path) -> list[str]:
        """`--provider ...` and the driver's endpoint/credential flags."""
        raise NotImplementedError

    def inject(self, kind: str, params: dict[str, Any]) -> None:
        """Start a cloud fault of the generator's `kind` (cloud-latency, -throttle, -5xx,
        -reset); each expires after its `times` calls, and `clear` ends them all."""
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def calls(self) -> list[str]:
        """Every cloud call the controller made, as the wire saw it (for the run's files)."""
        return []

    def member_problems(self, nodes: list[dict[str, Any]]) -> list[str]:
        """Where the cloud's backends differ from the registered `nodes` (all eligible:
        the chaos sets no exclusion label), read directly from the emulator."""
        return []

    def view(self) -> Driver | None:
        """A driver of the test's own, straight to the emulator (no proxy, no faults), for
        the checker's inventory and parse; None: no cloud to read."""
        raise NotImplementedError


class _ProxiedWorld(World):
    """AWS and GCP: faults are FaultProxy rules in front of the emulator."""

    proxy: FaultProxy
    writes = HTTP_WRITES

    def _throttle(self, match: str, params: dict[str, Any]) -> None:
        self.proxy.add(
            match=match, status=429, times=params["times"], probability=params["probability"]
        )

    def inject(self, kind: str, params: dict[str, Any]) -> None:
        match = self.writes if params.get("write_only") else ".*"
        if kind == "cloud-latency":
            self.proxy.add(match=match, latency=params["latency"], times=params["times"])
        elif kind == "cloud-throttle":
            self._throttle(match, params)
        elif kind == "cloud-5xx":
            self.proxy.add(match=match, status=params["status"], times=params["times"])
        elif kind == "cloud-reset":
            self.proxy.add(match=match, reset=True, times=params["times"])
        else:
            raise ValueError(f"not a cloud fault: {kind}")

    def clear(self) -> None:
        self.proxy.clear()

    def calls(self) -> list[str]:
        return list(self.proxy.calls)


class AwsWorld(_ProxiedWorld):
    driver = "aws"
    writes = AWS_WRITES

    def __init__(self, inner: Any) -> None:
        from tests.integration import aws_harness

        self.inner = inner
        self.proxy = inner.proxy
        self.cluster = aws_harness.CLUSTER
        self.region = aws_harness.REGION

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.inner.nodes())

    def ccm_args(self, tmp: Path) -> list[str]:
        return [
            "--provider", "aws", "--cluster-name", self.cluster.name,
            "--aws-endpoint-url", self.proxy.url, "--aws-region", self.region,
        ]  # fmt: skip

    def _throttle(self, match: str, params: dict[str, Any]) -> None:
        """What AWS itself sends: ELBv2 `400 Throttling`, EC2 `503 RequestLimitExceeded`."""
        times, chance = params["times"], params["probability"]
        elb = match.replace(":", "elasticloadbalancing:", 1) if match != ".*" else "^elastic"
        ec2 = match.replace(":", "ec2:", 1) if match != ".*" else "^ec2:"
        self.proxy.add(
            match=elb, status=400, error_code="Throttling", times=times, probability=chance
        )
        self.proxy.add(
            match=ec2,
            status=503,
            error_code="RequestLimitExceeded",
            times=times,
            probability=chance,
        )

    def member_problems(self, nodes: list[dict[str, Any]]) -> list[str]:
        """Every target group of ours targets exactly the nodes' instances."""
        want = sorted(str(n["spec"]["providerID"]).rsplit("/", 1)[-1] for n in nodes)
        elbv2 = self.inner.raw["elbv2"]
        out = []
        for arn, tags in self.inner.tagged():
            if ":targetgroup/" not in arn:
                continue
            health = elbv2.describe_target_health(TargetGroupArn=arn)
            have = sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])
            if have != want:
                name = arn.split(":targetgroup/")[1].split("/")[0]
                out.append(
                    f"targets: {tags.get('kubernetes.io/service-name')} {name} "
                    f"targets {have}, the nodes are {want}"
                )
        return out

    def view(self) -> Driver:
        settings = {"endpoint_url": self.inner.moto_url, "region": self.region}
        return load_driver("aws", DriverOptions(self.cluster, settings=settings))


class GcpWorld(_ProxiedWorld):
    driver = "gcp"

    def __init__(self, inner: Any) -> None:
        from tests.integration import gcp_harness

        self.inner = inner
        self.proxy = inner.proxy
        self.cluster = gcp_harness.CLUSTER
        self.project = gcp_harness.PROJECT
        self.region = gcp_harness.REGION

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.inner.nodes())

    def ccm_args(self, tmp: Path) -> list[str]:
        return [
            "--provider", "gcp", "--cluster-name", self.cluster.name,
            "--gcp-endpoint", self.proxy.url, "--gcp-project", self.project,
            "--gcp-region", self.region,
        ]  # fmt: skip

    def member_problems(self, nodes: list[dict[str, Any]]) -> list[str]:
        """The zonal instance groups (shared by all Services) hold exactly the nodes."""
        if not self.inner.emulator.resources("forwardingRules"):
            return []  # no load balancer: the groups may be gone or stale, both fine
        want = sorted(str(n["metadata"]["name"]) for n in nodes)
        have = sorted(i for names in self.inner.members().values() for i in names)
        return [] if have == want else [f"targets: instance groups hold {have}, nodes {want}"]

    def view(self) -> Driver:
        settings = {
            "endpoint": self.inner.emulator.url,
            "project": self.project,
            "region": self.region,
        }
        return load_driver("gcp", DriverOptions(self.cluster, settings=settings))


class AzureWorld(World):
    driver = "azure"

    def __init__(self, inner: Any) -> None:
        from tests.integration import azure_harness

        self.inner = inner
        self.cluster = azure_harness.CLUSTER

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.inner.nodes())

    def ccm_args(self, tmp: Path) -> list[str]:
        settings = dict(self.inner.settings())
        endpoint = settings.pop("endpoint")
        return [
            "--provider", "azure", "--cluster-name", self.cluster.name,
            "--azure-endpoint", endpoint,
            *(f"--provider-setting={k}={v}" for k, v in settings.items()),
        ]  # fmt: skip

    def inject(self, kind: str, params: dict[str, Any]) -> None:
        """The emulator's faults hit the next `times` matching calls (no probability): a
        throttle carries Retry-After as ARM's does; a "reset" is a 408 after a wait, what
        ARM's front door answers when the backend does not."""
        match = r"^(PUT|DELETE|POST|PATCH) " if params.get("write_only") else "."
        em = self.inner.emulator
        times = int(params["times"])
        if kind == "cloud-latency":
            em.add_fault(match, 0, times=times, latency=params["latency"])
        elif kind == "cloud-throttle":
            em.add_fault(match, 429, times=max(1, times // 2), retry_after=1)
        elif kind == "cloud-5xx":
            em.add_fault(match, params["status"], times=times)
        elif kind == "cloud-reset":
            em.add_fault(match, 408, times=times, latency=0.5)
        else:
            raise ValueError(f"not a cloud fault: {kind}")

    def clear(self) -> None:
        self.inner.emulator.clear_faults()

    def calls(self) -> list[str]:
        return list(self.inner.driver_calls() or self.inner.emulator.calls)

    def member_problems(self, nodes: list[dict[str, Any]]) -> list[str]:
        """Each LB's backend pool holds exactly the nodes' InternalIPs."""
        want = sorted(
            a["address"]
            for n in nodes
            for a in n["status"]["addresses"]
            if a["type"] == "InternalIP"
        )
        out = []
        for name, lb in self.inner.lbs().items():
            pools = (lb.get("properties") or {}).get("backendAddressPools") or []
            have = sorted(
                str((a.get("properties") or {}).get("ipAddress"))
                for p in pools
                for a in (p.get("properties") or {}).get("loadBalancerBackendAddresses") or []
            )
            if have != want:
                out.append(f"targets: {name} backend pool holds {have}, the nodes are {want}")
        return out

    def view(self) -> Driver:
        return load_driver("azure", DriverOptions(self.cluster, settings=self.inner.settings()))


class PoolWorld(World):
    driver = "pool"
    cluster = ClusterInfo("pool-test", "ccm.dev/lb")

    def nodes(self) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"metal-{i}", "labels": {"kubernetes.io/os": "linux"}},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": f"10.9.0.{10 + i}"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
            for i in range(3)
        ]

    def ccm_args(self, tmp: Path) -> list[str]:
        pools = tmp / "pools.yaml"
        pools.write_text(POOLS)
        return [
            "--provider", "pool", "--cluster-name", self.cluster.name,
            "--provider-config", str(pools),
        ]  # fmt: skip

    def inject(self, kind: str, params: dict[str, Any]) -> None:
        raise ValueError("the pool driver has no cloud to fault")

    def clear(self) -> None:
        pass

    def view(self) -> None:
        return None


AZURE_OPERATION_SECONDS = 1.0
GCP_OPERATION_SECONDS = 1.0


@contextmanager
def _clock(settle: Callable[[], int], every: float) -> Iterator[None]:
    """Time passing on GCP: finish every pending operation each `every` seconds.

    The compute emulator moves an operation one step per poll and has no clock of its
    own, so tests decide when a write lands. A SIGKILLed controller polls no more: its
    insert would stay PENDING forever — the resource never "ready", yet already counted
    as using what it references (FINDINGS.md, gcp seed 103). Real GCP finishes accepted
    operations on its own; this thread does that, while a live client's polls usually
    finish its operations first.
    """
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            settle()

    thread = threading.Thread(target=tick, name="gcp-clock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@contextmanager
def _azure_world(nodes: int) -> Iterator[Any]:
    """tests/integration/azure_harness.azure_world, but with time passing on ARM.

    The harness's emulator finishes a long-running operation only as its client polls
    it, which makes tests decide when a write lands. A SIGKILLed controller polls no
    more, so its last PUT would stay "in progress" forever and every later write to that
    load balancer would get AnotherOperationInProgress (FINDINGS.md, azure seed 2): real
    ARM finishes the operation on its own. `operation_seconds` does that here.
    """
    from providers.azure.emulator import start_emulator
    from providers.azure.emulator.seed import seed_cluster
    from tests.integration import azure_harness as h

    with start_emulator(operation_seconds=AZURE_OPERATION_SECONDS) as emulator:
        seeded = seed_cluster(
            emulator,
            resource_group=h.RESOURCE_GROUP,
            location=h.LOCATION,
            cluster=h.CLUSTER.name,
            nodes=nodes,
        )
        yield h.AzureWorld(emulator, seeded)


@contextmanager
def open_world(driver: str) -> Iterator[World]:
    """A fresh, seeded cloud for `driver`, torn down afterwards."""
    with ExitStack() as stack:
        world: World
        if driver == "aws":
            from tests.integration.aws_harness import aws_world

            world = AwsWorld(stack.enter_context(aws_world()))
        elif driver == "gcp":
            from tests.integration.gcp_harness import gcp_world

            inner = stack.enter_context(gcp_world(nodes=3))
            stack.enter_context(_clock(inner.emulator.settle, GCP_OPERATION_SECONDS))
            world = GcpWorld(inner)
        elif driver == "azure":
            world = AzureWorld(stack.enter_context(_azure_world(nodes=3)))
        elif driver == "pool":
            world = PoolWorld()
        else:
            raise ValueError(f"unknown driver {driver!r}")
        yield world
        world.clear()

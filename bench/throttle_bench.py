"""Many Services created at once against moto server behind ELBv2-style API throttling.

A real account throttles ELBv2 with token buckets; moto never does, so a controller that
retries well and one that storms look the same against it. Here moto server runs as its
own process behind :class:`ThrottlingProxy`, a FaultProxy that answers ``Throttling``
(HTTP 400, the ELBv2 query-protocol error shape) whenever the call's bucket is empty. The
real controller (in-process, AWS driver, the Kubernetes API sandbox) then gets N one-port
NLB Services at once. Reported: wall time from the first create to the last status, as a
ratio to the floor the modelled limits allow for the calls that were needed; throttled
calls; reconciles that ended in an error (retried by the work queue) and Warning Events
(what a user sees).

    uv run --all-extras python -m bench.throttle_bench --services 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from bench.sandbox_bench import RESULTS, Core
from ccm.driver import DriverOptions
from ccm.faultproxy import FaultProxy, FaultRule
from ccm.ratelimit import parse_rates
from ccm.sandbox.server import Sandbox
from providers.aws.calls import DEFAULT_RATES
from providers.aws.driver import AwsDriver
from providers.aws.factory import clients, make_driver
from providers.aws.seed import node_objects, seed_cluster
from tests.integration.aws_harness import CLUSTER, REGION
from tests.integration.harness import Loop

# The modelled ELBv2 limits, per account and region: (bucket capacity, refill per second).
# Source: "Request throttling for the Elastic Load Balancing API", Elastic Load Balancing
# user guide (docs.aws.amazon.com/elasticloadbalancing/latest/userguide/
# elb-api-throttling.html): token buckets per API action; non-mutating (Describe*)
# actions share a bucket of 40 tokens refilled at 10 a second (the page's own worked
# example). The page's per-action table for mutating actions could not be read from
# this environment; each mutating action gets its own bucket of 20 refilled at 5 a
# second, the "mutations ~5/s" figure providers/aws/calls.py's defaults already assume.
DESCRIBE_BUCKET = (40.0, 10.0)
MUTATING_BUCKET = (20.0, 5.0)
# EC2 and the tagging API are not throttled here (the issue models ELBv2 only); the
# driver's own client-side buckets still pace them.

# The controller's client-side buckets for this run (`--provider-setting rates=...`): an
# operator at this scale sets them near the account's limits. ELBv2 writes get 25/s, a
# quarter above the 4 x 5/s the four mutating actions a Service needs allow together, so
# the server's buckets, not the client's, bind and throttling is exercised. The shipped defaults
# (ELBv2 writes 5/s for all actions together, EC2 writes 5/s) would pace 1,000 Services
# to >= 800 s on their own; see `client_floor_s` in the results.
CLIENT_RATES = (
    "elasticloadbalancing:read=10/40,elasticloadbalancing:write=25/25,ec2:write=20/40,"
    "tagging:read=20/40"
)
WORKERS = 4  # ccm run's default --workers
HOSTNAME_TIMEOUT = 1800.0


class Bucket:
    """A token bucket that never blocks: `take` says whether a token was there."""

    def __init__(self, capacity: float, refill: float) -> None:
        self.capacity = capacity
        self.refill = refill
        self._tokens = capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.refill)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def bucket_name(label: str) -> str | None:
    """Which modelled bucket a call draws from; None for calls that are not throttled."""
    service, _, action = label.partition(":")
    if service != "elasticloadbalancing":
        return None
    return "elasticloadbalancing:Describe*" if action.startswith("Describe") else label


class ThrottlingProxy(FaultProxy):
    """A FaultProxy whose ELBv2 calls draw from per-action token buckets; an empty bucket
    is answered with ``Throttling`` (400) and the call never reaches moto."""

    THROTTLE = FaultRule(status=400, error_code="Throttling")

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._buckets: dict[str, Bucket] = {}
        self._bucket_lock = threading.Lock()
        self.throttled: Counter[str] = Counter()  # by bucket
        self.passed: Counter[str] = Counter()  # by bucket
        self.refused: Counter[str] = Counter()  # by call label

    def __enter__(self) -> ThrottlingProxy:
        self.start()
        return self

    def _record(self, label: str) -> FaultRule | None:
        failing = super()._record(label)
        name = bucket_name(label)
        if failing is not None or name is None:
            return failing
        with self._bucket_lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                shape = DESCRIBE_BUCKET if name.endswith("*") else MUTATING_BUCKET
                bucket = self._buckets[name] = Bucket(*shape)
            if bucket.take():
                self.passed[name] += 1
                return None
            self.throttled[name] += 1
            self.refused[label] += 1
        return self.THROTTLE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_process() -> Iterator[str]:
    """moto server in its own process: it then has a core of its own, not our GIL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reset = urllib.request.Request(url + "/moto-api/reset", method="POST")
                urllib.request.urlopen(reset, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def service(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"svc-{i:04d}"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": CLUSTER.load_balancer_class,
            "ports": [{"name": "tcp", "port": 80, "targetPort": 8080}],
        },
    }


def with_hostname(core: Core) -> int:
    raw = json.loads(core.list_namespaced_service("default", _preload_content=False).data)
    return sum(
        1
        for s in raw["items"]
        if ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    )


def warning_events(core: Core) -> Counter[str]:
    raw = json.loads(core.list_namespaced_event("default", _preload_content=False).data)
    return Counter(str(e.get("reason")) for e in raw["items"] if e.get("type") == "Warning")


@dataclass
class Floors:
    """The least wall time the calls that were needed could take."""

    server_s: float  # under the modelled ELBv2 buckets
    server_bucket: str
    client_s: float  # under this run's client-side rates
    shipped_client_s: float  # under the driver's default client-side rates


def bucket_floor(needed: int, capacity: float, refill: float) -> float:
    return max(0.0, needed - capacity) / refill


def floors(proxy: ThrottlingProxy) -> Floors:
    by_bucket = {
        name: bucket_floor(n, *(DESCRIBE_BUCKET if name.endswith("*") else MUTATING_BUCKET))
        for name, n in proxy.passed.items()
    }
    worst = max(by_bucket, key=lambda k: by_bucket[k]) if by_bucket else "-"
    ok = proxy.counts() - proxy.refused  # the calls that got an answer from moto
    families: Counter[str] = Counter()
    for label, n in ok.items():
        service, _, action = label.partition(":")
        kind = "read" if action.startswith(("Describe", "Get", "List")) else "write"
        families[f"{service}:{kind}"] += n
    client = _family_floor(families, CLIENT_RATES)
    shipped = _family_floor(families, "")
    return Floors(round(by_bucket.get(worst, 0.0), 1), worst, client, shipped)


def _family_floor(families: Counter[str], rates: str) -> float:
    merged = {**DEFAULT_RATES, **parse_rates(rates, "")}
    worst = 0.0
    for fam, n in families.items():
        if fam in merged:
            rate, burst = merged[fam]
            worst = max(worst, bucket_floor(n, burst, rate))
    return round(worst, 1)


def run(services: int, writers: int = 8) -> dict[str, Any]:
    """Create `services` Services at once and wait for every status; the JSON the runner
    (bench.run) also reads."""
    for noisy in ("werkzeug", "moto", "botocore", "urllib3", "ccm"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with moto_process() as moto_url, ThrottlingProxy(moto_url) as proxy, Sandbox() as sandbox:
        raw = clients(moto_url, REGION)
        seeded = seed_cluster(raw["ec2"], CLUSTER.name)
        settings = {"endpoint_url": proxy.url, "region": REGION, "rates": CLIENT_RATES}
        driver: AwsDriver = make_driver(DriverOptions(CLUSTER, settings=settings))
        cfg = client.Configuration()
        cfg.host = sandbox.url
        cfg.connection_pool_maxsize = writers
        core: Core = client.CoreV1Api(client.ApiClient(cfg))
        for node in node_objects(seeded):
            core.create_node(node)
        loop = Loop(sandbox)
        ctl = loop.start(driver=driver, cluster=CLUSTER, workers=WORKERS)
        try:
            began = time.monotonic()
            with ThreadPoolExecutor(writers) as pool:
                list(
                    pool.map(
                        lambda i: core.create_namespaced_service("default", service(i)),
                        range(services),
                    )
                )
            deadline = began + HOSTNAME_TIMEOUT
            done = 0
            while time.monotonic() < deadline:
                done = with_hostname(core)
                if done >= services:
                    break
                time.sleep(1.0)
            wall = time.monotonic() - began
            warnings = warning_events(core)
            results = Counter(ctl.results)
            driver_calls = Counter(driver.caller.calls)
        finally:
            loop.stop(ctl)
        f = floors(proxy)
    return {
        "services": services,
        "controller_workers": WORKERS,
        "client_rates": CLIENT_RATES,
        "modelled_limits": {
            "elasticloadbalancing:Describe* (shared)": list(DESCRIBE_BUCKET),
            "each other elasticloadbalancing action": list(MUTATING_BUCKET),
        },
        "converged": done,
        "wall_s": round(wall, 1),
        "elbv2_calls_needed": dict(sorted(proxy.passed.items())),
        "floor_s": f.server_s,
        "floor_bucket": f.server_bucket,
        "ratio_to_floor": round(wall / f.server_s, 2) if f.server_s else None,
        "client_floor_s": f.client_s,
        "shipped_defaults_client_floor_s": f.shipped_client_s,
        "throttled_calls": sum(proxy.throttled.values()),
        "throttled_by_bucket": dict(sorted(proxy.throttled.items())),
        "driver_throttled_seen": driver.caller.throttled,
        "aws_calls_total": sum(driver_calls.values()),
        "aws_calls_per_service": round(sum(driver_calls.values()) / max(1, services), 2),
        "reconcile_results": dict(sorted(results.items())),
        "error_reconciles": results.get("error", 0) + results.get("failed", 0),
        "warning_events": dict(warnings),
        "warning_events_total": sum(warnings.values()),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=1000)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = run(args.services)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throttle.json").write_text(json.dumps(out, indent=2) + "\n")
    for key, value in out.items():
        print(f"{key:<34} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers that run the real controller, in-process, against the sandbox over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client

from ccm.controller import Controller, ControllerConfig, owns
from ccm.driver import Driver, DriverOptions, load_driver
from ccm.kube import Kube
from ccm.leaks.sweep import SweepConfig, Sweeper
from ccm.model import ClusterInfo
from ccm.sandbox.server import Sandbox

POOLS = """
pools:
  - name: public
    addresses: ["192.0.2.10-192.0.2.99"]
  - name: tiny
    addresses: ["198.51.100.7/32"]
    autoAssign: false
  - name: internal
    addresses: ["10.200.0.0/24"]
    autoAssign: false
"""

CLUSTER = ClusterInfo("test-cluster", "ccm.dev/lb")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    every: float = 0.05,
) -> Any:
    """Poll until predicate() is truthy; generous timeouts, speed is measured in bench/."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def pool_driver(config: str = POOLS) -> Driver:
    return load_driver("pool", DriverOptions(CLUSTER, {"pools.yaml": config}))


class Loop:
    """Starts and stops controllers; every one started is stopped at teardown."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.running: list[Controller] = []

    def kube(self) -> Kube:
        cfg = client.Configuration()
        cfg.host = self.sandbox.url
        cfg.connection_pool_maxsize = 16
        return Kube(client.ApiClient(cfg))

    def start(self, driver: Driver | None = None, **overrides: Any) -> Controller:
        settings: dict[str, Any] = {
            "cluster": CLUSTER,
            "workers": 4,
            "backoff_base": 0.2,
            "backoff_cap": 2.0,
            "ready_poll_interval": 0.2,
            "resync_period": 3600.0,
        }
        settings.update(overrides)
        ctl = Controller(self.kube(), driver or pool_driver(), ControllerConfig(**settings))
        ctl.start()
        self.running.append(ctl)
        return ctl

    def stop(self, ctl: Controller) -> None:
        ctl.stop()
        self.running.remove(ctl)


def ip_of(core: client.CoreV1Api, name: str, namespace: str = "default") -> str:
    """The Service's first status IP, "" while it has none."""
    raw = json.loads(core.read_namespaced_service(name, namespace, _preload_content=False).data)
    ingress = raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return str(ingress[0].get("ip", "")) if ingress else ""


def uid_of(core: client.CoreV1Api, name: str, namespace: str = "default") -> str:
    return str(core.read_namespaced_service(name, namespace).metadata.uid)


def list_services(core: client.CoreV1Api) -> list[dict[str, Any]]:
    raw = json.loads(core.list_service_for_all_namespaces(_preload_content=False).data)
    return list(raw["items"])


def leak_sweeper(driver: Driver, cluster: ClusterInfo) -> Sweeper:
    """A sweeper that deletes on the second sighting, with no minimum age."""

    def mine(s: dict[str, Any]) -> bool:
        return owns(s, cluster.load_balancer_class, False)

    return Sweeper(driver, cluster, mine, SweepConfig(min_age=0.0, min_gap=0.0))


def start_on(
    loop: Loop,
    nodes: list[dict[str, Any]],
    driver: Driver,
    core: client.CoreV1Api,
    cluster: ClusterInfo,
) -> Controller:
    """Register the cloud's nodes, then run the controller with `driver`."""
    for node in nodes:
        core.create_node(cast(client.V1Node, node))
    return loop.start(driver=driver, cluster=cluster)

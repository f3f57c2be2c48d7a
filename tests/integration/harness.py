"""Helpers that run the real controller, in-process, against the sandbox over HTTP."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
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


def lb_service(
    name: str, annotations: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A Service of this controller's class; two ports, so multi-listener paths are used."""
    return {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": CLUSTER.load_balancer_class,
            "ports": ports
            or [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443},
            ],
        },
    }


def hostname(core: client.CoreV1Api, name: str) -> str:
    """The Service's first status hostname, "" while it has none."""
    raw = json.loads(core.read_namespaced_service(name, "default", _preload_content=False).data)
    ingress = raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return str(ingress[0].get("hostname", "")) if ingress else ""


def ccm_command(
    command: str,
    kubeconfig: Path,
    *extra: str,
    provider: str = "pool",
    cluster_name: str = "proc",
    provider_config: Path | None = None,
) -> list[str]:
    """`python -m ccm.cli <command>` as a process test runs it.

    `run` gets `--metrics-addr 127.0.0.1:0`: tests run side by side, and the default
    :10258 would make the second controller on the machine fail to start.
    """
    endpoint = ["--metrics-addr", "127.0.0.1:0"] if command == "run" else []
    config = ["--provider-config", str(provider_config)] if provider_config else []
    return [
        sys.executable,
        "-m",
        "ccm.cli",
        command,
        *endpoint,
        "--provider",
        provider,
        "--cluster-name",
        cluster_name,
        "--kubeconfig",
        str(kubeconfig),
        *config,
        *extra,
    ]


def write_pools(tmp: Path, config: str = POOLS) -> Path:
    """The pool driver's configuration file, for a `ccm` process."""
    path = tmp / "pools.yaml"
    path.write_text(config)
    return path


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

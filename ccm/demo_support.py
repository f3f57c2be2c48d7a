"""Pieces every `ccm demo` shares: waiting with a deadline, and the EndpointSlices an
endpoint controller would write (the sandbox runs no Pods, so a demo writes them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"ccm demo: timed out waiting for {what}")
        time.sleep(0.1)


def endpoint_slice(namespace: str, service: str, ready: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-demo",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.0.1.{10 + i}"], "conditions": {"ready": True}} for i in range(ready)
        ],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }


def write_slices(core: client.CoreV1Api, ready: dict[tuple[str, str], int]) -> None:
    """(namespace, Service) -> ready endpoints, as EndpointSlices."""
    discovery = client.DiscoveryV1Api(core.api_client)
    for (ns, name), count in ready.items():
        body = endpoint_slice(ns, name, count)
        discovery.create_namespaced_endpoint_slice(ns, cast(client.V1EndpointSlice, body))

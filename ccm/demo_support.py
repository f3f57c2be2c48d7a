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


def addresses(services: list[dict[str, Any]]) -> dict[str, str]:
    """Service name -> its first status IP ("" while pending), for LoadBalancer Services."""
    out = {}
    for s in services:
        ingress = (s.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        if s["spec"].get("type") == "LoadBalancer":
            out[s["metadata"]["name"]] = str(ingress[0].get("ip", "")) if ingress else ""
    return out


def scheme_table(services: list[dict[str, Any]], internal: Callable[[dict[str, Any]], bool]) -> str:
    """SERVICE / SCHEME / IP / PORTS for the LoadBalancer Services, aligned."""
    ips = addresses(services)
    rows = [("SERVICE", "SCHEME", "IP", "PORTS")]
    for s in services:
        if s["spec"].get("type") != "LoadBalancer":
            continue
        name = s["metadata"]["name"]
        rows.append(
            (
                name,
                "internal" if internal(s) else "external",
                ips[name] or "<pending>",
                ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in s["spec"]["ports"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def keep_running(kubeconfig: Any, out: Any, what: str = "kubectl get svc -A") -> None:
    """`--keep`: leave everything up for kubectl until Ctrl-C."""
    print(f"\n--keep: running. KUBECONFIG={kubeconfig} {what}   (Ctrl-C stops)", file=out)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def switch_demo(
    core: client.CoreV1Api,
    list_services: Callable[[], list[dict[str, Any]]],
    settle: Callable[[], Any],
    examples: Any,
    internal: Callable[[dict[str, Any]], bool],
    switch: dict[str, Any],
    what: str,
    out: Any,
) -> None:
    """The middle of the GCP and Azure demos: apply the example Services (web and
    db-internal, with endpoints), wait for their addresses, then patch web with `switch`
    (to internal) and wait for its new address, printing the table before and after."""
    import yaml

    for doc in yaml.safe_load_all(examples.read_text()):
        core.create_namespaced_service("default", doc)
    write_slices(core, {("default", "web"): 2, ("default", "db-internal"): 1})
    print(f"applied      {examples.relative_to(examples.parents[3])}\n", file=out)
    wait(lambda: all(addresses(list_services()).values()), 60, "addresses")
    settle()
    print(scheme_table(list_services(), internal), file=out)
    before = addresses(list_services())["web"]
    print(f"\nswitching web from {what} to internal ...", file=out)
    core.patch_namespaced_service("web", "default", {"metadata": {"annotations": switch}})
    wait(lambda: addresses(list_services())["web"] not in ("", before), 60, "the new address")
    settle()
    print(scheme_table(list_services(), internal), file=out)

"""The end of `ccm demo`: a few more Services of the kinds a real cluster accumulates,
then `ccm audit` over the whole lot.

It adds an HTTP Service in another namespace (so two HTTP load balancers could share
one), a Redis left open to the internet with nothing behind it, and a Classic ELB made by
the legacy in-tree cloud provider for a Service without a loadBalancerClass. Pods do not
exist in the sandbox, so the EndpointSlices an endpoint controller would write are
written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO, cast

from kubernetes import client

from ccm.audit.cli import audit
from ccm.cli import build_parser
from ccm.demo_support import wait, write_slices
from ccm.kube import Kube
from providers.aws.seed import SeededCluster, seed_legacy_clb

CLASS = "ccm.dev/lb"
TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
READY_ENDPOINTS = {"web": 2, "db-internal": 1, "front": 1, "legacy-app": 1}  # redis: none


def _service(name: str, ports: list[int], cls: str | None = CLASS) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": name},
        "ports": [{"name": f"p{p}", "port": p, "targetPort": p} for p in ports],
    }
    if not cls:  # the in-tree provider's: a Classic ELB, asked for by no annotation
        return {"metadata": {"name": name}, "spec": spec}
    spec["loadBalancerClass"] = cls
    return {"metadata": {"name": name, "annotations": {TYPE: "nlb"}}, "spec": spec}


def more_services(
    core: client.CoreV1Api,
    aws: Mapping[str, Any],
    seeded: SeededCluster,
    cluster: str,
) -> None:
    """Create them and wait until every LoadBalancer Service has an address."""
    for ns in ("shop", "tools"):
        core.create_namespace(cast(client.V1Namespace, {"metadata": {"name": ns}}))
    for ns, body in (
        ("shop", _service("front", [80])),
        ("tools", _service("redis-debug", [6379])),
        ("default", _service("legacy-app", [80], cls=None)),
    ):
        core.create_namespaced_service(ns, cast(client.V1Service, body))  # raw JSON, sent as-is
    lb = seed_legacy_clb(aws, seeded, cluster, "default", "legacy-app")
    dns = aws["elb"].describe_load_balancers(LoadBalancerNames=[lb])["LoadBalancerDescriptions"][0][
        "DNSName"
    ]
    core.patch_namespaced_service_status(
        "legacy-app",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"hostname": dns}]}}},
    )
    write_slices(
        core,
        {
            (ns, name): READY_ENDPOINTS.get(name, 0)
            for ns, name in (
                ("default", "web"),
                ("default", "db-internal"),
                ("shop", "front"),
                ("default", "legacy-app"),
                ("tools", "redis-debug"),
            )
        },
    )
    kube = Kube(core.api_client)

    def addressed() -> bool:
        items = kube.list_all("services")[0]
        return all(
            (s.get("status") or {}).get("loadBalancer", {}).get("ingress")
            for s in items
            if s["spec"].get("type") == "LoadBalancer"
        )

    wait(addressed, 60, "the new Services' load balancers")


def run_audit(cluster: str, kubeconfig: Path, aws_endpoint: str, region: str, out: TextIO) -> int:
    flags = [
        "--provider",
        "aws",
        "--cluster-name",
        cluster,
        "--kubeconfig",
        str(kubeconfig),
        "--aws-endpoint-url",
        aws_endpoint,
        "--aws-region",
        region,
    ]
    print("\n$ ccm audit " + " ".join(flags), file=out, flush=True)
    code = audit(build_parser().parse_args(["audit", *flags]), out)
    print(
        "\nthe same as one self-contained page:\n  ccm audit "
        + " ".join(flags)
        + " -o html > report.html",
        file=out,
    )
    return code

"""Command-line flags shared by `ccm run` and `ccm plan`; argparse only, so `ccm --help`
and `ccm sandbox` start without importing the Kubernetes client."""

from __future__ import annotations

import argparse
from typing import Any


def add_common_flags(p: argparse.ArgumentParser, fleet: bool = False) -> None:
    """With `fleet`, the per-cluster flags repeat: the Nth of each describes the Nth
    cluster, and a flag given once applies to every cluster."""
    many: dict[str, Any] = {"action": "append", "default": None} if fleet else {}
    again = " (repeatable: one per cluster)" if fleet else ""
    p.add_argument(
        "--provider",
        required=not fleet,
        help="driver name (see the ccm.providers entry points)" + again,
        **many,
    )
    p.add_argument(
        "--cluster-name",
        required=not fleet,
        help="cluster id: every cloud resource is tagged with it" + again,
        **many,
    )
    p.add_argument(
        "--kubeconfig",
        help="kubeconfig path (default $KUBECONFIG, ~/.kube/config, then in-cluster)" + again,
        **many,
    )
    p.add_argument("--context", help="kubeconfig context" + again, **many)
    p.add_argument(
        "--load-balancer-class",
        default=None if fleet else "ccm.dev/lb",
        help="spec.loadBalancerClass this controller owns (default ccm.dev/lb)" + again,
        **({"action": "append"} if fleet else {}),  # type: ignore[arg-type]
    )
    p.add_argument(
        "--default-class",
        action="store_true",
        help="also own LoadBalancer Services that have no loadBalancerClass",
    )
    p.add_argument(
        "--provider-config",
        metavar="FILE",
        help="driver configuration file (e.g. the pool driver's pools.yaml)" + again,
        **many,
    )
    p.add_argument(
        "--provider-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a driver setting (repeatable), e.g. rates=ec2:write=2/4",
    )
    p.add_argument(
        "--aws-endpoint-url",
        default=None,
        help="AWS endpoint (LocalStack, moto, VPC endpoint); also $AWS_ENDPOINT_URL",
    )
    p.add_argument("--aws-region", default=None, help="AWS region; also $AWS_REGION")
    p.add_argument(
        "--gcp-endpoint",
        default=None,
        help="compute API endpoint (the emulator, Private Service Connect); also "
        "$CCM_GCP_ENDPOINT or $CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
    )
    p.add_argument("--gcp-project", default=None, help="GCP project; also $GOOGLE_CLOUD_PROJECT")
    p.add_argument("--gcp-region", default=None, help="GCP region; also $CCM_GCP_REGION")
    p.add_argument(
        "--azure-endpoint",
        default=None,
        help="ARM endpoint (the emulator, sovereign clouds); also $CCM_AZURE_ENDPOINT",
    )
    p.add_argument(
        "--provider-configmap",
        default=None,
        metavar="NAMESPACE/NAME",
        help="ConfigMap holding the driver configuration; re-read while running",
    )


def add_run_flags(p: argparse.ArgumentParser) -> None:
    add_common_flags(p)
    p.add_argument("--workers", type=int, default=4, help="concurrent reconciles (default 4)")
    p.add_argument(
        "--resync-period",
        type=float,
        default=300.0,
        help="seconds between full re-ensures that correct drift (default 300)",
    )
    p.add_argument(
        "--backoff-base",
        type=float,
        default=5.0,
        help="seconds before the first retry of a failed reconcile, doubled per failure "
        "(default 5)",
    )
    p.add_argument(
        "--backoff-cap",
        type=float,
        default=300.0,
        help="longest wait between retries of one Service (default 300)",
    )
    p.add_argument(
        "--ready-poll-interval",
        type=float,
        default=5.0,
        help="seconds between re-ensures of a load balancer the cloud still provisions (default 5)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--log-format",
        default="json",
        choices=["json", "text"],
        help="one JSON object per line (default) or text for humans",
    )
    p.add_argument(
        "--metrics-addr",
        default=":10258",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here (default :10258; port 0 picks a free "
        "port, printed at start; 0 alone turns it off)",
    )
    p.add_argument(
        "--readiness-probe-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how often /readyz's cloud reachability read runs (default 30)",
    )
    le = p.add_argument_group("leader election")
    le.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run as one of several replicas: only the holder of the Lease reconciles and "
        "sweeps (default on; --no-leader-elect for a single replica)",
    )
    le.add_argument("--leader-elect-lease-name", default="ccm", help="Lease name (default ccm)")
    le.add_argument(
        "--leader-elect-namespace",
        default=None,
        help="Lease namespace (default $POD_NAMESPACE, else kube-system)",
    )
    le.add_argument(
        "--leader-elect-identity",
        default=None,
        help="this replica's holder identity (default $POD_NAME, else hostname_random)",
    )
    le.add_argument(
        "--leader-elect-lease-duration",
        type=float,
        default=15.0,
        help="seconds a standby waits on an unrenewed Lease before taking it (default 15)",
    )
    le.add_argument(
        "--leader-elect-renew-deadline",
        type=float,
        default=10.0,
        help="seconds a leader keeps trying to renew before it stops and exits (default 10)",
    )
    le.add_argument(
        "--leader-elect-retry-period",
        type=float,
        default=2.0,
        help="seconds between renewals and acquisition attempts (default 2, jittered)",
    )
    leak = p.add_argument_group("leak detector")
    leak.add_argument(
        "--leak-interval",
        type=float,
        default=600.0,
        help="seconds between sweeps for orphaned cloud resources; 0 disables (default 600)",
    )
    leak.add_argument(
        "--leak-min-age",
        type=float,
        default=300.0,
        help="an orphan is deleted only after two sightings this many seconds apart and "
        "once it is this old (default 300)",
    )
    leak.add_argument(
        "--leak-max-deletions",
        type=int,
        default=10,
        help="at most this many deletions a sweep (default 10)",
    )
    leak.add_argument(
        "--leak-mode",
        choices=["report", "delete"],
        default="delete",
        help="report orphans only, or delete them (default delete)",
    )
    leak.add_argument(
        "--leak-delete-legacy",
        action="store_true",
        help="also delete orphans made by the legacy cloud provider or "
        "aws-load-balancer-controller (reported otherwise)",
    )
    leak.add_argument(
        "--leak-events-namespace",
        default=None,
        help="namespace for leak-detector Events (default $POD_NAMESPACE, else kube-system)",
    )


def add_leaks_flags(p: argparse.ArgumentParser) -> None:
    add_common_flags(p)
    p.add_argument("--delete", action="store_true", help="delete what is found (default: report)")
    p.add_argument(
        "--delete-legacy",
        action="store_true",
        help="with --delete, also delete legacy-controller orphans",
    )
    p.add_argument(
        "--min-age",
        type=float,
        default=300.0,
        help="do not delete resources younger than this many seconds, where the cloud "
        "records a creation time (default 300)",
    )
    p.add_argument(
        "--confirm-delay",
        type=float,
        default=5.0,
        help="seconds between the scan and the confirming scan before deleting (default 5)",
    )
    p.add_argument(
        "--max-deletions", type=int, default=10, help="at most this many deletions (default 10)"
    )
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")


def add_audit_flags(p: argparse.ArgumentParser) -> None:
    add_common_flags(p, fleet=True)
    p.add_argument(
        "--prices",
        action="append",
        default=[],
        metavar="FILE",
        help="price file (schema ccm.dev/prices/v1) replacing the bundled one for its "
        "provider (repeatable: one per provider)",
    )
    p.add_argument(
        "--capacity-units",
        type=float,
        default=None,
        metavar="N",
        help="average capacity units (LCU/NLCU) per load balancer per hour, added as an "
        "estimate; a Service's ccm.dev/capacity-units annotation overrides it",
    )
    p.add_argument(
        "--pending-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a Service pending longer than this is reported stuck (default 300)",
    )
    p.add_argument("-o", "--output", choices=["table", "json", "csv", "html"], default="table")

"""kubectl, the real binary, against the sandbox: apply, get, patch, annotate, wait, delete."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ccm.sandbox.server import Sandbox

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")

MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: nlb
spec:
  type: LoadBalancer
  loadBalancerClass: ccm.dev/lb
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
"""


@pytest.fixture
def kubectl(sandbox: Sandbox, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = sandbox.write_kubeconfig(tmp_path / "kubeconfig")

    def run(*args: str, stdin: str | None = None) -> str:
        assert KUBECTL is not None
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", str(config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{proc.stderr}"
        assert "error" not in proc.stderr.lower(), proc.stderr
        return proc.stdout

    return run


def test_apply_get_patch_delete(kubectl, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(MANIFEST)
    assert "service/web created" in kubectl("apply", "-f", str(manifest))
    svc = json.loads(kubectl("get", "service", "web", "-o", "json"))
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerClass"] == "ccm.dev/lb"
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert (
        svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    )

    assert "unchanged" in kubectl("apply", "-f", str(manifest))
    manifest.write_text(MANIFEST.replace("type: nlb", "type: alb"))
    assert "configured" in kubectl("apply", "-f", str(manifest))
    kubectl("annotate", "service", "web", "team=edge")
    kubectl(
        "patch", "service", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}'
    )
    kubectl("patch", "service", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}')
    svc = json.loads(kubectl("get", "svc", "web", "-o", "json"))
    assert (
        svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "alb"
    )
    assert svc["metadata"]["annotations"]["team"] == "edge"
    assert svc["metadata"]["labels"] == {"tier": "front"}
    assert svc["spec"]["ports"][0]["targetPort"] == 9090

    table = kubectl("get", "svc")
    assert "EXTERNAL-IP" in table.splitlines()[0]
    assert "<pending>" in table and "80:" in table

    kubectl("delete", "-f", str(manifest))
    assert "web" not in kubectl("get", "svc", "-o", "name")


def test_wait_for_status(kubectl, sandbox: Sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(MANIFEST)
    kubectl("apply", "-f", str(manifest))
    svc = sandbox.store.get(
        next(
            r
            for r in __import__("ccm.sandbox.resources", fromlist=["x"]).RESOURCE_TYPES
            if r.plural == "services"
        ),
        "default",
        "web",
    )
    import copy

    updated = copy.deepcopy(svc)
    updated["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
    rt = next(
        r
        for r in __import__("ccm.sandbox.resources", fromlist=["x"]).RESOURCE_TYPES
        if r.plural == "services"
    )
    sandbox.store.update(rt, "default", "web", updated, "status")
    out = kubectl(
        "wait",
        "--for=jsonpath={.status.loadBalancer.ingress[0].ip}=198.51.100.7",
        "service/web",
        "--timeout=20s",
    )
    assert "condition met" in out
    assert "198.51.100.7" in kubectl("get", "svc", "web")


def test_discovery_lists_our_resources(kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("api-resources")
    for name in ("services", "nodes", "leases", "endpointslices", "configmaps", "namespaces"):
        assert name in out
    assert "v1.32" in kubectl("version", "-o", "json")


def test_external_ip_goes_from_pending_to_an_address(kubectl, loop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The README's walk-through: apply a Service, watch the pool driver give it an IP."""
    root = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "pool"
    from tests.integration.harness import pool_driver

    kubectl("apply", "-f", str(root / "service.yaml"))
    assert "<pending>" in kubectl("get", "svc", "web")
    loop.start(driver=pool_driver((root / "pools.yaml").read_text()))
    out = kubectl(
        "wait",
        "--for=jsonpath={.status.loadBalancer.ingress[0].ip}=192.0.2.10",
        "service/web",
        "--timeout=30s",
    )
    assert "condition met" in out
    row = kubectl("get", "svc", "web").splitlines()[1]
    assert "192.0.2.10" in row
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=web")
    assert "EnsuredLoadBalancer" in events
    kubectl("delete", "svc", "web", "--timeout=30s")
    assert "web" not in kubectl("get", "svc", "-o", "name")

"""The leak detector and the cost audit with the Azure driver, through the generic path
only (inventory(), delete_resources(), prices()), against the ARM emulator: a Service
deleted while the controller was down, and a public -> internal switch interrupted after
the status moved but before the old frontend and public IP went."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kubernetes import client

from ccm.leaks.classify import Reason
from ccm.leaks.sweep import Action, Sweeper
from ccm.model import JSON, Node
from ccm.sandbox.server import Sandbox
from providers.azure.driver import AzureDriver
from tests.integration.azure_harness import CLUSTER, AzureWorld
from tests.integration.harness import Loop, leak_sweeper, list_services, wait_for
from tests.integration.test_loop_azure import (
    INTERNAL,
    PUBLIC_LB,
    ip_of,
    service,
    start,
    uid_of,
    wanted,
)


def services(core: client.CoreV1Api) -> list[JSON]:
    return list_services(core)


def sweeper(driver: AzureDriver) -> Sweeper:
    return leak_sweeper(driver, CLUSTER)


def test_service_deleted_while_down_is_swept(
    azure: AzureWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, driver = start(loop, azure, core)
    for name in ("gone", "kept"):
        core.create_namespaced_service("default", service(name))
    wait_for(lambda: ip_of(core, "gone") and ip_of(core, "kept"))
    assert ctl.wait_idle()
    gone, kept = uid_of(core, "gone"), uid_of(core, "kept")
    loop.stop(ctl)
    core.delete_namespaced_service("gone", "default")
    core.patch_namespaced_service("gone", "default", {"metadata": {"finalizers": None}})
    sweep = sweeper(driver)
    first = sweep.sweep(lambda: services(core))
    kinds = sorted(f.orphan.resource.kind for f in first.findings)
    assert kinds == ["frontend", "probe", "public-ip", "rule", "security-rule"], kinds
    assert {f.orphan.reason for f in first.findings} == {Reason.SERVICE_GONE}
    assert all(
        f.orphan.resource.owner and f.orphan.resource.owner.uid == gone for f in first.findings
    )
    sweep.sweep(lambda: services(core))
    assert azure.held() == wanted({kept: ("kept", [80], False)})
    assert sweep.sweep(lambda: services(core)).findings == []


def test_interrupted_switch_leaves_a_frontend_the_detector_removes(
    azure: AzureWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, driver = start(loop, azure, core)
    core.create_namespaced_service("default", service("web"))
    public = wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()
    uid = uid_of(core, "web")
    loop.stop(ctl)
    core.patch_namespaced_service("web", "default", {"metadata": {"annotations": INTERNAL}})
    body = json.loads(core.read_namespaced_service("web", "default", _preload_content=False).data)
    nodes = [
        Node.from_json(n) for n in json.loads(core.list_node(_preload_content=False).data)["items"]
    ]
    status = driver.ensure(driver.parse(body, CLUSTER), nodes)
    assert status.followup and status.ingress[0].ip != public
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": status.ingress[0].ip}]}}}
    )
    sweep = sweeper(driver)
    found = sweep.sweep(lambda: services(core))
    assert {f.orphan.reason for f in found.findings} == {Reason.REPLACED}
    assert {f.orphan.resource.kind for f in found.findings} == {
        "frontend",
        "rule",
        "probe",
        "public-ip",
    }
    second = sweep.sweep(lambda: services(core))
    assert {f.action for f in second.findings} == {Action.DELETED}
    assert azure.held() == wanted({uid: ("web", [80], True)})
    assert PUBLIC_LB not in azure.lbs(), "the public LB went with its last frontend"


def test_audit_prices_azure_through_the_generic_path(
    azure: AzureWorld, loop: Loop, core: client.CoreV1Api, sandbox: Sandbox, tmp_path: Path
) -> None:
    ctl, _driver = start(loop, azure, core)
    core.create_namespaced_service("default", service("web", [80, 443]))
    core.create_namespaced_service("default", service("db", [5432], INTERNAL))
    wait_for(lambda: ip_of(core, "web") and ip_of(core, "db"))
    assert ctl.wait_idle()
    kubeconfig = sandbox.write_kubeconfig(tmp_path / "kc")
    flags = [f"--provider-setting={k}={v}" for k, v in azure.settings().items() if k != "endpoint"]
    proc = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "audit", "-o", "json", "--provider", "azure",
         "--cluster-name", CLUSTER.name, "--kubeconfig", str(kubeconfig),
         "--azure-endpoint", azure.emulator.url, *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {s["name"]: s for s in doc["services"]}
    # public LB: web's two rules share the first-five rate; plus its Standard public IP
    assert rows["web"]["kind"] == "slb" and rows["web"]["exact"] is True
    assert rows["web"]["monthly"] == round((0.025 + 0.005) * 730, 2)
    # internal LB: db's one rule carries the whole first-five rate, no public IP
    assert rows["db"]["kind"] == "ilb" and rows["db"]["monthly"] == round(0.025 * 730, 2)
    assert (rows["web"]["public_ips"], rows["db"]["public_ips"]) == (1, 0)
    assert (
        doc["orphans"] == []
        and doc["clusters"][0]["prices"]["file"] == "providers/azure/data/prices.json"
    )
    assert {r["controller"] for r in rows.values()} == {"ccm"}

"""The leak detector and the cost audit with the GCP driver: only inventory(), delete()
and prices() (plus the optional hooks) — no GCP code in either — against the compute
emulator, after the leaks GKE users report: a Service deleted while the controller was
down, and a replacement interrupted before its old generation was deleted."""

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
from providers.gcp.driver import GcpDriver
from tests.integration.gcp_harness import CLUSTER, PROJECT, REGION, GcpWorld
from tests.integration.harness import Loop, leak_sweeper, list_services, wait_for
from tests.integration.test_loop_gcp import INTERNAL, base_of, ip_of, service, shared, start, uid_of


def services(core: client.CoreV1Api) -> list[JSON]:
    return list_services(core)


def sweeper(driver: GcpDriver) -> Sweeper:
    return leak_sweeper(driver, CLUSTER)


def _strip(core: client.CoreV1Api, name: str) -> None:
    core.delete_namespaced_service(name, "default")
    core.patch_namespaced_service(name, "default", {"metadata": {"finalizers": None}})


def test_service_deleted_while_down_is_swept_and_the_rest_untouched(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, driver = start(loop, gcp, core)
    for name in ("gone", "kept"):
        core.create_namespaced_service("default", service(name))
    wait_for(lambda: ip_of(core, "gone") and ip_of(core, "kept"))
    assert ctl.wait_idle()
    kept = base_of(gcp, uid_of(core, "kept"))
    gone = base_of(gcp, uid_of(core, "gone"))
    loop.stop(ctl)
    _strip(core, "gone")
    sweep = sweeper(driver)
    first = sweep.sweep(lambda: services(core))
    assert {f.orphan.resource.name for f in first.findings} == {gone, f"{gone}-fw"}
    assert {f.orphan.reason for f in first.findings} == {Reason.SERVICE_GONE}
    assert all(f.action is Action.CONFIRMING for f in first.findings)
    assert sum(f.monthly_cost for f in first.findings) > 0  # its share of the first-five rate
    second = sweep.sweep(lambda: services(core))
    assert {f.action for f in second.findings} == {Action.DELETED}
    held = gcp.held()
    assert held["forwardingRules"] == [kept] and held["backendServices"] == [kept]
    assert sorted(held["firewalls"]) == sorted([*shared(gcp)["firewalls"], f"{kept}-fw"])
    assert sweep.sweep(lambda: services(core)).findings == []


def test_interrupted_replacement_leaves_a_generation_the_detector_removes(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    old_ip = wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()
    old = base_of(gcp, uid_of(core, "web"))
    loop.stop(ctl)
    # The replacement got as far as the new generation and the status switch, then the
    # controller died before deleting the old generation.
    core.patch_namespaced_service("web", "default", {"metadata": {"annotations": INTERNAL}})
    body = json.loads(core.read_namespaced_service("web", "default", _preload_content=False).data)
    status = driver.ensure(driver.parse(body, CLUSTER), driver_nodes(core))
    new_ip = status.ingress[0].ip
    assert new_ip != old_ip and status.followup
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": new_ip}]}}}
    )
    sweep = sweeper(driver)
    found = sweep.sweep(lambda: services(core))
    assert {f.orphan.reason for f in found.findings} == {Reason.REPLACED}
    assert old in {f.orphan.resource.name for f in found.findings}
    sweep.sweep(lambda: services(core))
    names = gcp.held()["forwardingRules"]
    assert len(names) == 1 and names[0] != old


def driver_nodes(core: client.CoreV1Api) -> list[Node]:
    raw = json.loads(core.list_node(_preload_content=False).data)
    return [Node.from_json(n) for n in raw["items"]]


def test_audit_prices_gcp_through_the_generic_path(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api, sandbox: Sandbox, tmp_path: Path
) -> None:
    ctl, _driver = start(loop, gcp, core)
    for name in ("a", "b"):
        core.create_namespaced_service("default", service(name))
    wait_for(lambda: ip_of(core, "a") and ip_of(core, "b"))
    assert ctl.wait_idle()
    kubeconfig = sandbox.write_kubeconfig(tmp_path / "kc")
    proc = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "audit", "-o", "json", "--provider", "gcp",
         "--cluster-name", CLUSTER.name, "--kubeconfig", str(kubeconfig),
         "--gcp-endpoint", gcp.proxy.url, "--gcp-project", PROJECT, "--gcp-region", REGION],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {s["name"]: s for s in doc["services"]}
    assert set(rows) == {"a", "b"}
    for row in rows.values():
        assert (row["kind"], row["controller"], row["exact"]) == ("nlb", "ccm", False)
        # two rules share the first-five flat rate: $0.025/h between them
        assert row["monthly"] == round(0.025 / 2 * 730, 2)
    assert doc["clusters"][0]["prices"]["file"] == "providers/gcp/data/prices.json"
    assert doc["orphans"] == []

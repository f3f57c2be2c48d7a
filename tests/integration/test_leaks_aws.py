"""The leak detector with the AWS driver: the leaks users of the reference controllers
report, made for real (controller stopped mid-way, finalizers removed by hand) against
moto server, then swept. Decoys that must never be touched are present in every test."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ccm.controller import owns
from ccm.leaks.classify import Reason, Spared
from ccm.leaks.sweep import Action, SweepConfig, Sweeper, SweepReport
from ccm.model import JSON
from ccm.sandbox.server import Sandbox
from providers.aws.driver import AwsDriver
from providers.aws.seed import seed_decoys, seed_legacy_clb
from tests.integration.aws_harness import CLUSTER, AwsWorld
from tests.integration.harness import Loop, hostname, lb_service, wait_for
from tests.integration.test_loop_aws import TYPE

USER_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
USER_EIPS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"


@pytest.fixture
def decoys(aws: AwsWorld, core: client.CoreV1Api) -> Iterator[dict[str, str]]:
    """Untagged LB, another cluster's LB, a kept LB, and a user's SG and EIP that look
    like ours but are named by a Service: each must exist after every scenario."""
    made = seed_decoys(aws.raw, aws.seeded, CLUSTER.name)
    core.create_namespaced_service(
        "default",
        {
            "metadata": {
                "name": "user-resources",
                "annotations": {USER_SG: made["user_sg"], USER_EIPS: made["user_eip"]},
            },
            "spec": {"type": "ClusterIP", "ports": [{"port": 80}]},
        },
    )
    yield made
    lbs = {
        lb["LoadBalancerArn"] for lb in aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
    }
    for role in ("untagged_lb", "other_cluster_lb", "kept_lb"):
        assert made[role] in lbs, f"decoy {role} was deleted"
    groups = aws.raw["ec2"].describe_security_groups()["SecurityGroups"]
    assert made["user_sg"] in {g["GroupId"] for g in groups}, "the user's SG was deleted"
    eips = aws.raw["ec2"].describe_addresses()["Addresses"]
    assert made["user_eip"] in {a["AllocationId"] for a in eips}, "the user's EIP was released"


def nodes(aws: AwsWorld, core: client.CoreV1Api) -> None:
    for node in aws.nodes():
        core.create_node(node)


def services(core: client.CoreV1Api) -> list[JSON]:
    raw = json.loads(core.list_service_for_all_namespaces(_preload_content=False).data)
    return list(raw["items"])


def sweeper(driver: AwsDriver, **config: Any) -> Sweeper:
    def mine(s: JSON) -> bool:
        return owns(s, CLUSTER.load_balancer_class, False)

    return Sweeper(driver, CLUSTER, mine, SweepConfig(min_age=0.0, **config))


def sweep_twice(s: Sweeper, core: client.CoreV1Api) -> SweepReport:
    """Two sightings (min age 0 here: the gates have their own tests), returning the
    second, deleting sweep."""
    first = s.sweep(lambda: services(core))
    assert all(f.action is not Action.DELETED for f in first.findings)
    return s.sweep(lambda: services(core))


def reasons(rep: SweepReport) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in rep.findings:
        out.setdefault(f.orphan.reason.value, set()).add(f.orphan.resource.kind)
    return out


def assert_cloud_matches(aws: AwsWorld, core: client.CoreV1Api, driver: AwsDriver) -> None:
    """Exactly what the live Services want: one load balancer per owned Service with the
    identity its spec asks for and the address its status shows, target groups only of
    those, and the shared backend group only while some Service uses it."""
    live = {
        s["metadata"]["uid"]: s
        for s in services(core)
        if owns(s, CLUSTER.load_balancer_class, False)
    }
    want = {uid: driver.resource_identity(driver.parse(s, CLUSTER)) for uid, s in live.items()}
    seen_lbs: dict[str, int] = {}
    backend = 0
    users = set().union(*(driver.protected_ids(s) for s in services(core)))
    for r in driver.inventory():
        if r.managed_by != "ccm" or r.keep or r.id in users:
            continue
        if r.shared:
            backend += 1
            continue
        assert r.owner is not None and r.owner.uid in live, f"{r.kind} {r.name} has no Service"
        assert tuple(r.identity) == want[r.owner.uid], f"{r.kind} {r.name} is a leftover"
        if r.kind == "load-balancer":
            seen_lbs[r.owner.uid] = seen_lbs.get(r.owner.uid, 0) + 1
            svc = live[r.owner.uid]
            assert hostname(core, svc["metadata"]["name"]) in r.addresses
    assert seen_lbs == {uid: 1 for uid in live}
    assert backend == (1 if live else 0), (
        [r.id for r in driver.inventory() if r.shared],
        [g["GroupId"] for g in aws.raw["ec2"].describe_security_groups()["SecurityGroups"]],
        [c for c in aws.proxy.calls if "SecurityGroup" in c],
    )


@pytest.mark.parametrize("switched", [True, False], ids=["status-switched", "status-not-switched"])
def test_type_flip_interrupted_between_new_lb_and_old_delete(
    aws: AwsWorld,
    decoys: dict[str, str],
    loop: Loop,
    core: client.CoreV1Api,
    sandbox: Sandbox,
    switched: bool,
) -> None:
    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("web"))
    core.create_namespaced_service("default", lb_service("other"))
    nlb = wait_for(lambda: hostname(core, "web"), what="NLB")
    wait_for(lambda: hostname(core, "other"), what="second NLB")
    ctl.wait_idle()
    # The controller dies after building the ALB: before deleting the NLB (the cloud
    # refuses the delete until the "kill"), or before even switching status.
    aws.proxy.add(match="DeleteLoadBalancer", status=400, error_code="OperationNotPermitted")
    if not switched:
        sandbox.faults.add(path="/services/web/status", method="PATCH", status=500)
    core.patch_namespaced_service("web", "default", {"metadata": {"annotations": {TYPE: "alb"}}})
    wait_for(
        lambda: len(aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]) >= 6,
        what="the ALB next to the NLBs and decoys",
    )
    if switched:
        wait_for(lambda: hostname(core, "web") not in ("", nlb), what="status on the ALB")
    loop.stop(ctl)
    aws.proxy.clear()
    sandbox.faults.clear()

    driver = aws.driver()
    rep = sweep_twice(sweeper(driver), core)
    if switched:
        assert reasons(rep) == {"replaced": {"load-balancer", "target-group", "security-group"}}
        assert all(f.action is Action.DELETED for f in rep.findings)
        assert_cloud_matches(aws, core, driver)
    else:
        # The NLB still serves the Service (status points at it): never a leftover yet.
        assert rep.findings == []
        assert Spared.IN_STATUS in {why for _, why in rep.spared}
        loop.start(driver=aws.driver(), cluster=CLUSTER)
        wait_for(lambda: hostname(core, "web") not in ("", nlb), what="status on the ALB")
        wait_for(
            lambda: not sweeper(driver).sweep(lambda: services(core)).findings,
            timeout=60,
            what="the restarted controller to finish the replacement",
        )
        assert_cloud_matches(aws, core, driver)


def test_a_service_that_changes_during_the_scan_loses_nothing(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    """The sweep judges on the Services it listed before a long inventory scan; by the
    time it deletes, the Service may want its resources again (a kind flipped back, a
    delete undone). Deletion re-checks against the Services as they are then."""
    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("web"))
    dns = wait_for(lambda: hostname(core, "web"), what="NLB")
    ctl.wait_idle()
    loop.stop(ctl)
    live = services(core)
    stale = [svc for svc in live if svc["metadata"]["name"] != "web"]  # web "gone"
    views = iter([stale, live])
    s = sweeper(aws.driver())
    first = s.sweep(lambda: stale)  # first sighting of web's resources as orphans
    gone = {"load-balancer", "target-group", "security-group"}
    assert reasons(first) == {"service-gone": gone, "unused-shared": {"security-group"}}
    second = s.sweep(lambda: next(views))  # snapshot: still gone; at deletion: back
    assert second.findings and all(f.action is Action.CONFIRMING for f in second.findings)
    lbs = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
    assert dns in {lb["DNSName"] for lb in lbs}
    assert s.sweep(lambda: services(core)).findings == []


def test_deleted_while_down_with_finalizer_removed(
    aws: AwsWorld, decoys: dict[str, str], loop: Loop, core: client.CoreV1Api
) -> None:
    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    for name in ("a", "b"):
        core.create_namespaced_service("default", lb_service(name))
    wait_for(lambda: hostname(core, "a") and hostname(core, "b"), what="two NLBs")
    loop.stop(ctl)
    for name in ("a", "b"):
        core.delete_namespaced_service(name, "default")
        core.patch_namespaced_service(name, "default", {"metadata": {"finalizers": None}})

    driver = aws.driver()
    backend = [r.id for r in driver.inventory() if r.shared]
    assert len(backend) == 1
    rep = sweep_twice(sweeper(driver), core)
    assert reasons(rep) == {
        "service-gone": {"load-balancer", "target-group", "security-group"},
        "unused-shared": {"security-group"},
    }
    assert all(f.action is Action.DELETED for f in rep.findings), rep.findings
    assert_cloud_matches(aws, core, driver)
    # The node groups' rule that allowed the deleted backend group is gone with it.
    for g in aws.raw["ec2"].describe_security_groups()["SecurityGroups"]:
        for perm in g.get("IpPermissions", []):
            for pair in perm.get("UserIdGroupPairs", []):
                assert pair.get("GroupId") != backend[0], g["GroupId"]


def test_clusterip_while_down_then_the_controller_finishes(
    aws: AwsWorld, decoys: dict[str, str], loop: Loop, core: client.CoreV1Api
) -> None:
    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("flip"))
    core.create_namespaced_service("default", lb_service("stays"))
    wait_for(lambda: hostname(core, "flip") and hostname(core, "stays"), what="NLBs")
    loop.stop(ctl)
    core.patch_namespaced_service("flip", "default", {"spec": {"type": "ClusterIP"}})

    driver = aws.driver()
    rep = sweep_twice(sweeper(driver), core)
    assert reasons(rep) == {
        "not-load-balancer": {"load-balancer", "target-group", "security-group"}
    }
    assert_cloud_matches(aws, core, driver)
    loop.start(driver=aws.driver(), cluster=CLUSTER)  # finds nothing left; drops finalizer
    wait_for(
        lambda: not core.read_namespaced_service("flip", "default").metadata.finalizers,
        what="finalizer removed after an idempotent delete",
    )
    assert_cloud_matches(aws, core, driver)


def test_crash_after_the_lb_before_its_target_groups(
    aws: AwsWorld, decoys: dict[str, str], loop: Loop, core: client.CoreV1Api
) -> None:
    nodes(aws, core)
    # Target groups cannot be made, and the rollback's delete fails too: what a process
    # killed right after CreateLoadBalancer leaves behind.
    aws.proxy.add(match="CreateTargetGroup", status=400, error_code="OperationNotPermitted")
    aws.proxy.add(match="DeleteLoadBalancer", status=400, error_code="OperationNotPermitted")
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("half"))
    wait_for(
        lambda: aws.proxy.counts()["elasticloadbalancing:CreateLoadBalancer"] >= 1,
        what="the load balancer call",
    )
    wait_for(
        lambda: aws.proxy.counts()["elasticloadbalancing:DeleteLoadBalancer"] >= 1,
        what="the failed rollback",
    )
    loop.stop(ctl)
    aws.proxy.clear()
    core.delete_namespaced_service("half", "default")
    core.patch_namespaced_service("half", "default", {"metadata": {"finalizers": None}})

    driver = aws.driver()
    rep = sweep_twice(sweeper(driver), core)
    assert "load-balancer" in reasons(rep)["service-gone"]
    assert not rep.failed
    assert_cloud_matches(aws, core, driver)


def test_legacy_clb_reported_and_deleted_only_with_the_flag(
    aws: AwsWorld, decoys: dict[str, str], core: client.CoreV1Api
) -> None:
    gone = seed_legacy_clb(aws.raw, aws.seeded, CLUSTER.name, "default", "was-a-clb")
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "still-clb"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        },
    )
    alive = seed_legacy_clb(aws.raw, aws.seeded, CLUSTER.name, "default", "still-clb")
    driver = aws.driver()
    rep = sweep_twice(sweeper(driver), core)
    legacy = [f for f in rep.findings if f.orphan.reason is Reason.LEGACY]
    assert [(f.orphan.resource.name, f.action) for f in legacy] == [(gone, Action.LEGACY_KEPT)]
    assert legacy[0].orphan.resource.managed_by == "cloud-provider-aws"
    s = sweeper(driver, delete_legacy=True)
    rep = sweep_twice(s, core)
    assert [(f.orphan.resource.name, f.action) for f in rep.findings] == [(gone, Action.DELETED)]
    names = {
        lb["LoadBalancerName"]
        for lb in aws.raw["elb"].describe_load_balancers()["LoadBalancerDescriptions"]
    }
    assert names == {alive}


def _ccm_leaks(
    tmp: Path, sandbox: Sandbox, aws: AwsWorld, *args: str
) -> subprocess.CompletedProcess[str]:
    kubeconfig = sandbox.write_kubeconfig(tmp / "kc")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ccm.cli",
            "leaks",
            "--provider",
            "aws",
            "--cluster-name",
            CLUSTER.name,
            "--kubeconfig",
            str(kubeconfig),
            "--aws-endpoint-url",
            aws.proxy.url,
            "--aws-region",
            "us-east-1",
            "--min-age",
            "0",
            "--confirm-delay",
            "0.1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_reports_then_deletes_and_refuses_on_a_list_failure(
    aws: AwsWorld,
    decoys: dict[str, str],
    loop: Loop,
    core: client.CoreV1Api,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("web"))
    core.create_namespaced_service("default", lb_service("gone"))
    wait_for(lambda: hostname(core, "web") and hostname(core, "gone"), what="NLBs")
    loop.stop(ctl)
    core.delete_namespaced_service("gone", "default")
    core.patch_namespaced_service("gone", "default", {"metadata": {"finalizers": None}})

    report = _ccm_leaks(tmp_path, sandbox, aws, "-o", "json")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    orphans = doc["sweeps"][0]["orphans"]
    assert {o["reason"] for o in orphans} == {"service-gone"}
    assert {o["owner"]["name"] for o in orphans} == {"gone"}
    assert {o["action"] for o in orphans} == {"reported"}
    assert any(o["kind"] == "load-balancer" and o["monthly_cost"] > 0 for o in orphans)

    sandbox.faults.add(path="^/api/v1/services$", method="GET", status=500)
    refused = _ccm_leaks(tmp_path, sandbox, aws, "--delete")
    assert refused.returncode == 1
    assert "listing Services failed" in refused.stderr
    sandbox.faults.clear()
    driver = aws.driver()
    assert any(r.owner and r.owner.name == "gone" for r in driver.inventory())

    deleted = _ccm_leaks(tmp_path, sandbox, aws, "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted" in deleted.stdout and "load-balancer" in deleted.stdout
    assert_cloud_matches(aws, core, driver)
    clean = _ccm_leaks(tmp_path, sandbox, aws)
    assert "no orphaned resources" in clean.stdout


def test_controller_sweeps_in_the_background_and_leaves_events(
    aws: AwsWorld, decoys: dict[str, str], loop: Loop, core: client.CoreV1Api
) -> None:
    from ccm.leaks.loop import EventTarget, attach

    nodes(aws, core)
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    core.create_namespaced_service("default", lb_service("keep-me"))
    core.create_namespaced_service("default", lb_service("orphan-me"))
    wait_for(lambda: hostname(core, "keep-me") and hostname(core, "orphan-me"), what="NLBs")
    loop.stop(ctl)
    core.delete_namespaced_service("orphan-me", "default")
    core.patch_namespaced_service("orphan-me", "default", {"metadata": {"finalizers": None}})
    ctl = loop.start(driver=aws.driver(), cluster=CLUSTER)
    leaks = attach(
        ctl, SweepConfig(min_age=0.0), interval=0.3, target=EventTarget("kube-system", "ccm-0")
    )
    leaks.start()
    try:
        wait_for(lambda: any(r.deleted for r in leaks.reports), timeout=30, what="a deletion")
        wait_for(
            lambda: leaks.reports and not leaks.reports[-1].findings,
            timeout=30,
            what="a clean sweep",
        )
    finally:
        leaks.stop()
    assert_cloud_matches(aws, core, ctl.driver)  # type: ignore[arg-type]
    raw = json.loads(core.list_namespaced_event("kube-system", _preload_content=False).data)
    msgs = [e["message"] for e in raw["items"] if e["reason"] == "DeletedOrphanedResource"]
    assert any("default/orphan-me" in m and "service-gone" in m for m in msgs), msgs

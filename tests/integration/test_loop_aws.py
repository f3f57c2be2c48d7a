"""The reconcile loop with the AWS driver against moto server, over real HTTP and botocore."""

from __future__ import annotations

import json
from typing import Any

import boto3
from kubernetes import client

from ccm.model import FINALIZER, READY_CONDITION
from providers.aws.driver import DEEP_EVERY
from tests.integration.aws_harness import CLUSTER, AwsWorld
from tests.integration.harness import Loop, hostname, lb_service, wait_for

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"


def start(loop: Loop, aws: AwsWorld, core: client.CoreV1Api) -> Any:
    for node in aws.nodes():
        core.create_node(node)
    driver = aws.driver()
    ctl = loop.start(driver=driver, cluster=CLUSTER)
    return ctl, driver


def kinds(aws: AwsWorld) -> dict[str, int]:
    out: dict[str, int] = {}
    for arn, _ in aws.tagged():
        kind = (
            ("lb-" + arn.split(":loadbalancer/")[1].split("/")[0])
            if ":loadbalancer/" in arn
            else arn.split(":")[5].split("/")[0]
        )
        out[kind] = out.get(kind, 0) + 1
    return out


def test_nlb_create_status_targets_and_tags(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    _ctl, _driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    dns = wait_for(lambda: hostname(core, "web"), what="NLB hostname in status")
    lbs = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
    assert [lb["DNSName"] for lb in lbs] == [dns]
    assert lbs[0]["Type"] == "network"
    listeners = aws.raw["elbv2"].describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])
    assert sorted(li["Port"] for li in listeners["Listeners"]) == [80, 443]
    tgs = aws.raw["elbv2"].describe_target_groups()["TargetGroups"]
    assert len(tgs) == 2
    for tg in tgs:
        health = aws.raw["elbv2"].describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        ids = sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])
        assert ids == sorted(i.instance_id for i in aws.seeded.instances)
    svc = core.read_namespaced_service("web", "default")
    for arn, tags in aws.tagged():
        if tags.get("ccm.dev/resource") == "backend-sg":
            continue
        assert tags["ccm.dev/service-uid"] == svc.metadata.uid, arn
        assert tags["kubernetes.io/service-name"] == "default/web"
        assert tags["ccm.dev/cluster"] == CLUSTER.name
    assert FINALIZER in (svc.metadata.finalizers or [])

    def ready() -> str:
        raw = json.loads(
            core.read_namespaced_service("web", "default", _preload_content=False).data
        )
        conds = raw.get("status", {}).get("conditions") or []
        return next((c["status"] for c in conds if c["type"] == READY_CONDITION), "")

    assert wait_for(lambda: ready() == "True", what="LoadBalancerReady condition")


def test_noop_resync_reads_little_and_writes_nothing(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"))
    assert ctl.wait_idle()
    aws.proxy.calls.clear()
    ctl.services.resync()
    wait_for(lambda: ctl.results["in-sync"] >= 2)
    assert ctl.wait_idle()
    writes = [c for c in aws.proxy.calls if not c.split(":")[1].startswith(("Describe", "Get"))]
    assert writes == []
    assert 0 < len(aws.proxy.calls) <= 4, aws.proxy.calls


def test_type_flips_replace_without_leaks(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web", {TYPE: "nlb"}))
    wait_for(lambda: hostname(core, "web"))
    first = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    for kind in ("alb", "nlb", "alb", "nlb"):
        before = hostname(core, "web")
        core.patch_namespaced_service("web", "default", {"metadata": {"annotations": {TYPE: kind}}})
        wait_for(lambda b=before: hostname(core, "web") not in ("", b), what=f"switch to {kind}")
        assert ctl.wait_idle(timeout=60)
        lbs = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
        assert [lb["DNSName"] for lb in lbs] == [hostname(core, "web")], "old LB not deleted"
        assert lbs[0]["Type"] == ("application" if kind == "alb" else "network")
    last = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    assert last != first, "the NLB after four flips is a new one (same name, new ARN)"
    counts = kinds(aws)
    assert counts.get("targetgroup") == 2, counts
    assert counts.get("security-group") == 2, counts  # the Service's frontend + cluster backend
    assert sum(v for k, v in counts.items() if k.startswith("lb-")) == 1, counts


def test_delete_leaves_only_the_shared_backend_group(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    _ctl, _driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"))
    aws.proxy.calls.clear()
    core.delete_namespaced_service("web", "default")
    wait_for(
        lambda: (
            not core.list_namespaced_service("default", field_selector="metadata.name=web").items
        ),
        what="Service gone",
    )
    left = [tags.get("ccm.dev/resource") for _, tags in aws.tagged()]
    assert left == ["backend-sg"]
    assert aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"] == []
    assert len(aws.proxy.calls) <= 8, aws.proxy.calls


def test_throttling_is_retried(aws: AwsWorld, loop: Loop, core: client.CoreV1Api) -> None:
    aws.proxy.add(match="CreateLoadBalancer", status=400, error_code="Throttling", times=2)
    _ctl, driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"))
    assert driver.caller.throttled == 2
    assert len(aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]) == 1


def test_permanent_error_rolls_back_warns_and_waits_for_a_change(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    aws.proxy.add(match="CreateListener", status=400, error_code="ValidationError", times=1)
    ctl, _driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(
        lambda: any(
            e.reason == "SyncLoadBalancerFailed" and "ValidationError" in e.message
            for e in core.list_namespaced_event("default").items
        ),
        what="Warning with AWS's message",
    )
    assert ctl.wait_idle()
    assert aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"] == [], "rolled back"
    assert aws.proxy.counts()["elasticloadbalancing:CreateLoadBalancer"] == 1, (
        "a permanent error is not retried with backoff"
    )
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"fixed": "1"}}})
    wait_for(lambda: hostname(core, "web"), what="a change to the Service retries")
    lbs = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]
    assert len(lbs) == 1
    assert len(aws.raw["elbv2"].describe_target_groups()["TargetGroups"]) == 2


def _targets(aws: AwsWorld) -> dict[int, list[str]]:
    out = {}
    for tg in aws.raw["elbv2"].describe_target_groups()["TargetGroups"]:
        health = aws.raw["elbv2"].describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        out[tg["Port"]] = sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])
    return out


def _web_served(loop: Loop, aws: AwsWorld, core: client.CoreV1Api) -> tuple[Any, list[str]]:
    """The controller running, one settled NLB Service `web`, and the nodes' instance ids."""
    ctl, _ = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"))
    assert ctl.wait_idle()
    return ctl, sorted(i.instance_id for i in aws.seeded.instances)


def _registrations(aws: AwsWorld) -> dict[str, list[tuple[str, int]]]:
    """Each target group's registered (instance, port) pairs, by group ARN."""
    elbv2 = aws.raw["elbv2"]
    out = {}
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        arn = tg["TargetGroupArn"]
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        out[arn] = sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in health)
    return out


def test_node_changes_register_and_deregister_targets(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    _, ids = _web_served(loop, aws, core)
    assert all(v == ids for v in _targets(aws).values())
    gone = aws.nodes()[0]
    remaining = sorted(set(ids) - {gone["spec"]["providerID"].rsplit("/", 1)[-1]})
    core.patch_node(
        gone["metadata"]["name"],
        {
            "metadata": {
                "labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}
            }
        },
    )
    wait_for(
        lambda: all(v == remaining for v in _targets(aws).values()),
        what="excluded node deregistered",
    )
    core.patch_node(
        gone["metadata"]["name"],
        {"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": None}}},
    )
    wait_for(lambda: all(v == ids for v in _targets(aws).values()), what="node back")


def test_targets_removed_by_hand_come_back_on_a_deep_pass(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    """The targets tag still matches, so only a periodic re-read can see the drift."""
    ctl, ids = _web_served(loop, aws, core)
    for arn, pairs in _registrations(aws).items():
        aws.raw["elbv2"].deregister_targets(
            TargetGroupArn=arn, Targets=[{"Id": i, "Port": p} for i, p in pairs]
        )
    assert all(v == [] for v in _targets(aws).values())
    for _ in range(DEEP_EVERY):  # resyncs until the load balancer's deep pass
        before = ctl.results["in-sync"] + ctl.results["updated"]
        ctl.services.resync()
        wait_for(lambda b=before: ctl.results["in-sync"] + ctl.results["updated"] > b)
        assert ctl.wait_idle()
    wait_for(lambda: all(v == ids for v in _targets(aws).values()), what="targets restored")


def test_a_node_port_change_moves_the_targets_to_the_new_port(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    """Register (instance, new port) before deregistering (instance, old port): ELBv2
    keys a target by id and port, so the group is never empty in between or after."""
    _, ids = _web_served(loop, aws, core)
    ports = [
        {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31080},
        {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 31443},
    ]
    core.patch_namespaced_service("web", "default", {"spec": {"ports": ports}})
    want = sorted([(i, p) for i in ids] for p in (31080, 31443))
    wait_for(
        lambda: sorted(_registrations(aws).values()) == want,
        what="targets on the new node ports",
    )


def test_inventory_lists_everything_tagged_with_owners(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, driver = start(loop, aws, core)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"))
    assert ctl.wait_idle()
    owned = list(driver.inventory())
    by_kind: dict[str, int] = {}
    for r in owned:
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
        if r.kind != "security-group" or r.owner is not None:
            assert r.owner is not None and r.owner.key == "default/web"
    assert by_kind == {"load-balancer": 1, "target-group": 2, "security-group": 2}
    assert sum(1 for r in owned if r.shared) == 1  # the cluster's backend group
    lb = next(r for r in owned if r.kind == "load-balancer")
    assert lb.addresses == (hostname(core, "web"),) and lb.created_at is not None
    assert lb.details["price_key"] == "nlb"
    spec = driver.parse(
        json.loads(core.read_namespaced_service("web", "default", _preload_content=False).data),
        CLUSTER,
    )
    assert all(r.identity == driver.resource_identity(spec) for r in owned if not r.shared)
    assert all(r.created_at == lb.created_at for r in owned if not r.shared)


def test_user_security_groups_are_used_as_given(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    sg = aws.raw["ec2"].create_security_group(
        GroupName="mine", Description="user's", VpcId=aws.seeded.vpc_id
    )["GroupId"]
    ctl, _ = start(loop, aws, core)
    core.create_namespaced_service(
        "default",
        lb_service("web", {"service.beta.kubernetes.io/aws-load-balancer-security-groups": sg}),
    )
    wait_for(lambda: hostname(core, "web"))
    lb = aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"][0]
    assert lb["SecurityGroups"] == [sg]
    core.delete_namespaced_service("web", "default")
    wait_for(lambda: not aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"])
    assert ctl.wait_idle()
    groups = aws.raw["ec2"].describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    assert groups and groups[0]["IpPermissions"] == [], "the user's group was not touched"


def test_invalid_annotation_makes_no_aws_call(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _ = start(loop, aws, core)
    aws.proxy.calls.clear()
    core.create_namespaced_service("default", lb_service("bad", {TYPE: "clb"}))
    wait_for(
        lambda: any(
            e.type == "Warning" and TYPE in e.message
            for e in core.list_namespaced_event("default").items
        )
    )
    assert ctl.wait_idle()
    assert aws.proxy.calls == []


def test_tls_listener_attributes_and_extra_tags(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    P = "service.beta.kubernetes.io/aws-load-balancer-"
    acm = boto3.client(
        "acm",
        endpoint_url=aws.moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    cert = acm.request_certificate(DomainName="tls.example.com")["CertificateArn"]
    start(loop, aws, core)
    core.create_namespaced_service(
        "default",
        lb_service(
            "tls",
            {
                P + "ssl-cert": cert,
                P + "ssl-ports": "https",
                P + "additional-resource-tags": "team=edge,cost-center=42",
                P + "cross-zone-load-balancing-enabled": "true",
                P + "healthcheck-interval": "30",
            },
        ),
    )
    wait_for(lambda: hostname(core, "tls"))
    elb = aws.raw["elbv2"]
    lb = elb.describe_load_balancers()["LoadBalancers"][0]
    listeners = {
        li["Port"]: li
        for li in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    assert listeners[443]["Protocol"] == "TLS"
    assert listeners[443]["Certificates"][0]["CertificateArn"] == cert
    assert listeners[80]["Protocol"] == "TCP"
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Attributes"
        ]
    }
    assert attrs.get("load_balancing.cross_zone.enabled") == "true"
    assert {
        tg["HealthCheckIntervalSeconds"] for tg in elb.describe_target_groups()["TargetGroups"]
    } == {30}
    for _, tags in aws.tagged():
        if tags.get("ccm.dev/resource") != "backend-sg":  # shared: no per-Service tags
            assert tags.get("team") == "edge" and tags.get("cost-center") == "42"
    core.patch_namespaced_service(
        "tls", "default", {"metadata": {"annotations": {P + "healthcheck-interval": "10"}}}
    )
    wait_for(
        lambda: (
            {
                tg["HealthCheckIntervalSeconds"]
                for tg in elb.describe_target_groups()["TargetGroups"]
            }
            == {10}
        ),
        what="health check changed in place",
    )
    assert (
        elb.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
        == lb["LoadBalancerArn"]
    ), "an in-place change must not replace the load balancer"


def test_bad_certificate_warns_with_awss_message_and_leaves_nothing(
    aws: AwsWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    start(loop, aws, core)
    missing = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    core.create_namespaced_service(
        "default",
        lb_service("tls", {"service.beta.kubernetes.io/aws-load-balancer-ssl-cert": missing}),
    )
    wait_for(
        lambda: any(
            "CertificateNotFound" in e.message and e.type == "Warning"
            for e in core.list_namespaced_event("default").items
        ),
        what="Warning naming CertificateNotFound",
    )
    # Each attempt rolls back what it built; between attempts only the shared group exists.
    wait_for(
        lambda: {t.get("ccm.dev/resource") for _, t in aws.tagged()} <= {"backend-sg"},
        what="rollback of the half-built load balancer",
    )
    assert hostname(core, "tls") == ""

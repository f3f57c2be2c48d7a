"""The reconcile loop with the GCP driver, end to end: the sandbox over HTTP, the real
controller, compute_v1 clients to the compute emulator through the fault proxy. After
every scenario the emulator holds exactly what the live Services want, nothing else."""

from __future__ import annotations

import json
from typing import Any, cast

from kubernetes import client

from ccm.model import FINALIZER
from providers.gcp import names as N
from providers.gcp.driver import GcpDriver
from providers.gcp.emulator.seed import static_address
from tests.integration.gcp_harness import CLUSTER, PROJECT, REGION, ZONES, GcpWorld
from tests.integration.harness import Loop, ip_of, start_on, uid_of, wait_for

INTERNAL = {"networking.gke.io/load-balancer-type": "Internal"}
GLOBAL_ACCESS = "networking.gke.io/internal-load-balancer-allow-global-access"


def service(
    name: str,
    ports: list[int] | None = None,
    annotations: dict[str, str] | None = None,
    protocol: str = "TCP",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "ccm.dev/lb",
            "ports": [{"name": f"p{p}", "port": p, "protocol": protocol} for p in (ports or [80])],
            **spec,
        },
    }


def start(loop: Loop, world: GcpWorld, core: client.CoreV1Api) -> tuple[Any, GcpDriver]:
    driver = world.driver()
    return start_on(loop, world.nodes(), driver, core, CLUSTER), driver


def shared(gcp: GcpWorld) -> dict[str, list[str]]:
    """The cluster-wide resources every cluster with a Service has."""
    p = N.prefix(CLUSTER.name)
    return {
        "healthChecks": [f"{p}node-hc"],
        "firewalls": [f"{p}node-hc-fw"],
        "instanceGroups": [f"{p}nodes"] * len(ZONES),
    }


def wanted(
    gcp: GcpWorld, bases: list[str], local: tuple[str, ...] = (), node_check: bool = True
) -> dict[str, list[str]]:
    """What these Services want; `node_check`: some Service uses kube-proxy's check (the
    shared one is made only then)."""
    out = {k: list(v) for k, v in shared(gcp).items()}
    if not node_check:
        out["healthChecks"], out["firewalls"] = [], []
    out["forwardingRules"] = sorted(bases)
    out["backendServices"] = sorted(bases)
    out["addresses"] = sorted(bases)
    out["firewalls"] = sorted(
        out["firewalls"] + [f"{b}-fw" for b in bases] + [f"{b}-hc-fw" for b in local]
    )
    out["healthChecks"] = sorted(out["healthChecks"] + [f"{b}-hc" for b in local])
    return {k: sorted(v) for k, v in out.items()}


def base_of(gcp: GcpWorld, uid: str) -> str:
    rules = [
        n for n in gcp.names("forwardingRules") if n.startswith(N.service_prefix(CLUSTER.name, uid))
    ]
    assert len(rules) == 1, rules
    return rules[0]


def rule(gcp: GcpWorld, name: str) -> dict[str, Any]:
    """The forwarding rule, or {} while it is being re-created."""
    found = [r for r in gcp.emulator.resources("forwardingRules") if r["name"] == name]
    return found[0] if found else {}


def events(core: client.CoreV1Api) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in core.list_namespaced_event("default").items]


def test_external_service_gets_an_address_and_exactly_its_resources(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web", [80, 443]))
    ip = wait_for(lambda: ip_of(core, "web"), what="an address in status")
    assert ctl.wait_idle()
    uid = uid_of(core, "web")
    base = base_of(gcp, uid)
    assert gcp.held() == wanted(gcp, [base])
    rule = gcp.get("forwardingRules", base)
    assert rule["IPAddress"] == ip and rule["loadBalancingScheme"] == "EXTERNAL"
    assert sorted(rule["ports"]) == ["443", "80"] and rule["IPProtocol"] == "TCP"
    assert rule["networkTier"] == "PREMIUM"
    assert rule["labels"][N.LABEL_UID] == N.label_value(uid)
    owner = json.loads(rule["description"])
    assert owner == {
        "ccm.dev/cluster": CLUSTER.name,
        "ccm.dev/identity": owner["ccm.dev/identity"],
        "ccm.dev/managed-by": "ccm",
        "ccm.dev/resource": "forwarding-rule",
        "ccm.dev/service-uid": uid,
        "kubernetes.io/service-name": "default/web",
    }
    for collection in ("backendServices", "addresses", "firewalls", "healthChecks"):
        for item in gcp.emulator.resources(collection):
            assert json.loads(item["description"])["ccm.dev/cluster"] == CLUSTER.name
    backend = gcp.get("backendServices", base)
    assert len(backend["backends"]) == len(ZONES)
    assert backend["healthChecks"][0].endswith(f"/healthChecks/{N.prefix(CLUSTER.name)}node-hc")
    assert gcp.get("addresses", base)["address"] == ip
    fw = gcp.get("firewalls", f"{base}-fw")
    assert fw["sourceRanges"] == ["0.0.0.0/0"]
    assert fw["allowed"] == [{"IPProtocol": "tcp", "ports": ["443", "80"]}] or sorted(
        fw["allowed"][0]["ports"]
    ) == ["443", "80"]
    assert sorted(n for names in gcp.members().values() for n in names) == sorted(
        i[0] for i in gcp.seeded.instances
    )
    svc = core.read_namespaced_service("web", "default")
    assert FINALIZER in (svc.metadata.finalizers or [])


def test_noop_resync_reads_little_and_writes_nothing(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()
    gcp.proxy.calls.clear()
    ctl.services.resync()
    wait_for(lambda: ctl.results["in-sync"] >= 2)
    assert ctl.wait_idle()
    writes = [c for c in gcp.proxy.calls if not c.startswith("http:GET")]
    assert writes == [], writes
    assert 0 < len(gcp.proxy.calls) <= 4, gcp.proxy.calls


def test_port_change_keeps_the_ip_and_source_ranges_apply_in_place(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web", [80]))
    ip = wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()
    base = base_of(gcp, uid_of(core, "web"))
    core.patch_namespaced_service(
        "web",
        "default",
        {"spec": {"ports": [{"name": "p80", "port": 80}, {"name": "p8443", "port": 8443}],
                  "loadBalancerSourceRanges": ["203.0.113.0/24"]}},
    )  # fmt: skip
    wait_for(lambda: sorted(rule(gcp, base).get("ports", [])) == ["80", "8443"], what="ports")
    assert ctl.wait_idle()
    assert ip_of(core, "web") == ip == gcp.get("forwardingRules", base)["IPAddress"]
    fw = gcp.get("firewalls", f"{base}-fw")
    assert fw["sourceRanges"] == ["203.0.113.0/24"]
    assert gcp.get("backendServices", base)["sessionAffinity"] == "NONE"
    core.patch_namespaced_service("web", "default", {"spec": {"sessionAffinity": "ClientIP"}})
    wait_for(
        lambda: gcp.get("backendServices", base)["sessionAffinity"] == "CLIENT_IP",
        what="affinity patched in place",
    )
    assert sorted(fw["allowed"][0]["ports"]) == ["80", "8443"]
    assert gcp.held() == wanted(gcp, [base])
    core.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"name": f"p{p}", "port": p} for p in range(81, 88)]}}
    )
    wait_for(lambda: rule(gcp, base).get("allPorts") is True, what="all ports")
    assert ip_of(core, "web") == ip


def test_internal_with_global_access_in_place_then_external_replaces(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service(
        "default", service("db", [5432], {**INTERNAL, GLOBAL_ACCESS: "true"})
    )
    ip = wait_for(lambda: ip_of(core, "db"))
    assert ctl.wait_idle()
    uid = uid_of(core, "db")
    internal = base_of(gcp, uid)
    rule = gcp.get("forwardingRules", internal)
    assert rule["loadBalancingScheme"] == "INTERNAL" and rule["allowGlobalAccess"] is True
    assert rule["subnetwork"].endswith(gcp.seeded.subnetwork.rsplit("/", 1)[-1])
    assert ip.startswith("10.128.")
    rule_id = rule["id"]
    core.patch_namespaced_service(
        "db", "default", {"metadata": {"annotations": {GLOBAL_ACCESS: "false"}}}
    )
    wait_for(
        lambda: not gcp.get("forwardingRules", internal).get("allowGlobalAccess"), what="patched"
    )
    assert gcp.get("forwardingRules", internal)["id"] == rule_id, "patched in place, not re-created"
    core.patch_namespaced_service(
        "db",
        "default",
        {
            "metadata": {
                "annotations": {
                    "networking.gke.io/load-balancer-type": "External",
                    GLOBAL_ACCESS: None,
                }
            }
        },
    )
    wait_for(lambda: ip_of(core, "db") not in ("", ip), what="status switched to the external IP")
    assert ctl.wait_idle(timeout=60)
    external = base_of(gcp, uid)
    assert external != internal
    assert gcp.get("forwardingRules", external)["loadBalancingScheme"] == "EXTERNAL"
    assert gcp.held() == wanted(gcp, [external]), "the internal generation is gone"


def test_nodes_across_zones_join_and_leave_the_instance_groups(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()

    members = gcp.members

    by_zone: dict[str, list[str]] = {}
    for inst in gcp.seeded.instances:
        by_zone.setdefault(inst[1], []).append(inst[0])
    assert members() == {z: sorted(n) for z, n in by_zone.items()}
    gone = gcp.seeded.instances[0][0]
    core.delete_node(gone)
    wait_for(
        lambda: all(gone not in names for names in members().values()),
        what="node removed from its group",
    )
    core.create_node(
        cast(client.V1Node, next(n for n in gcp.nodes() if n["metadata"]["name"] == gone))
    )
    wait_for(
        lambda: any(gone in names for names in members().values()), what="node back in its group"
    )


def test_local_policy_gets_its_own_health_check_and_gives_it_back(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web", externalTrafficPolicy="Local"))
    wait_for(lambda: ip_of(core, "web"))
    assert ctl.wait_idle()
    base = base_of(gcp, uid_of(core, "web"))
    assert gcp.held() == wanted(gcp, [base], local=(base,), node_check=False)
    hc_port = core.read_namespaced_service("web", "default").spec.health_check_node_port
    hc = gcp.get("healthChecks", f"{base}-hc")
    assert (
        hc["httpHealthCheck"]["port"] == hc_port
        and hc["httpHealthCheck"]["requestPath"] == "/healthz"
    )
    assert gcp.get("backendServices", base)["healthChecks"][0].endswith(f"{base}-hc")
    core.patch_namespaced_service("web", "default", {"spec": {"externalTrafficPolicy": "Cluster"}})
    wait_for(lambda: gcp.held() == wanted(gcp, [base]), what="the Service's own check removed")


def test_clusterip_and_delete_remove_everything_of_the_service(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    for name in ("a", "b"):
        core.create_namespaced_service("default", service(name))
    wait_for(lambda: ip_of(core, "a") and ip_of(core, "b"))
    assert ctl.wait_idle()
    b = base_of(gcp, uid_of(core, "b"))
    core.patch_namespaced_service("a", "default", {"spec": {"type": "ClusterIP"}})
    wait_for(lambda: gcp.held() == wanted(gcp, [b]), what="a's resources removed")
    core.delete_namespaced_service("b", "default")
    wait_for(lambda: gcp.held() == shared(gcp), what="b's resources removed")


def test_restart_mid_create_finds_what_it_made_and_makes_no_twin(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    gcp.proxy.add(match=r"POST .*/forwardingRules$", status=503)  # every rule insert fails
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(lambda: gcp.names("backendServices"), what="the backend service before the rule")
    loop.stop(ctl)  # the controller dies mid-create
    gcp.proxy.clear()
    ctl2 = loop.start(driver=gcp.driver(), cluster=CLUSTER)
    wait_for(lambda: ip_of(core, "web"), timeout=60)
    assert ctl2.wait_idle()
    assert gcp.held() == wanted(gcp, [base_of(gcp, uid_of(core, "web"))])


def test_throttling_and_5xx_are_retried_to_convergence(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    gcp.proxy.add(match=r"POST ", status=429, times=3)
    gcp.proxy.add(match=r"GET ", status=503, probability=0.2)
    ctl, driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(lambda: ip_of(core, "web"), timeout=60)
    gcp.proxy.clear()
    assert ctl.wait_idle()
    assert driver.compute.throttled >= 3
    assert gcp.held() == wanted(gcp, [base_of(gcp, uid_of(core, "web"))])


def test_quota_exceeded_warns_naming_the_quota_and_leaves_nothing(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    gcp.emulator.set_quota("FORWARDING_RULES", REGION, 0)
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(
        lambda: any(r == "QuotaExceeded" and "FORWARDING_RULES" in m for r, m in events(core)),
        what="a Warning naming the quota",
    )
    assert ctl.wait_idle()
    left = {k: v for k, v in gcp.held().items() if k not in ("instanceGroups",)}
    assert left == {k: v for k, v in shared(gcp).items() if k != "instanceGroups"}, left


def test_operation_done_with_errors_is_surfaced_and_retried(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    gcp.emulator.fail_next_operation("insert", "RESOURCE_NOT_READY", "The resource is not ready")
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web"))
    wait_for(lambda: ip_of(core, "web"), timeout=60)
    assert ctl.wait_idle()
    assert any("RESOURCE_NOT_READY" in m for _, m in events(core)), events(core)
    assert gcp.held() == wanted(gcp, [base_of(gcp, uid_of(core, "web"))])


def test_mixed_protocols_warn_and_make_no_compute_call(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ctl, _driver = start(loop, gcp, core)
    gcp.proxy.calls.clear()
    body = service("dns", [53])
    body["spec"]["ports"].append({"name": "udp", "port": 53, "protocol": "UDP"})
    core.create_namespaced_service("default", body)
    wait_for(lambda: any("mixes TCP and UDP" in m for _, m in events(core)), what="Warning")
    assert ctl.wait_idle()
    assert gcp.held() == {} and gcp.proxy.calls == []


def test_users_static_address_is_used_and_never_released(
    gcp: GcpWorld, loop: Loop, core: client.CoreV1Api
) -> None:
    ip = static_address(gcp.emulator.url, PROJECT, REGION, "users-ip")
    ctl, _driver = start(loop, gcp, core)
    core.create_namespaced_service("default", service("web", loadBalancerIP=ip))
    assert wait_for(lambda: ip_of(core, "web")) == ip
    assert ctl.wait_idle()
    base = base_of(gcp, uid_of(core, "web"))
    assert gcp.names("addresses") == ["users-ip"], "no address of ours beside the user's"
    core.delete_namespaced_service("web", "default")
    wait_for(lambda: not gcp.names("forwardingRules"), what="rule deleted")
    assert ctl.wait_idle()
    assert gcp.names("addresses") == ["users-ip"]
    assert base not in gcp.names("backendServices")

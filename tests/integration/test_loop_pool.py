"""The reconcile loop with the pool driver, end to end through the sandbox."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ccm.model import FINALIZER
from ccm.sandbox.server import Sandbox
from tests.integration.harness import Loop, pool_driver, wait_for


def lb(
    name: str,
    ports: list[dict[str, Any]] | None = None,
    cls: str | None = "ccm.dev/lb",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": ports or [{"name": "http", "port": 80}], **spec},
    }
    if cls:
        body["spec"]["loadBalancerClass"] = cls
    return body


def ingress_ips(core: client.CoreV1Api, name: str, ns: str = "default") -> list[str]:
    raw = json.loads(core.read_namespaced_service(name, ns, _preload_content=False).data)
    return [i["ip"] for i in (raw.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]


def finalizers(core: client.CoreV1Api, name: str, ns: str = "default") -> list[str]:
    raw = json.loads(core.read_namespaced_service(name, ns, _preload_content=False).data)
    return list(raw["metadata"].get("finalizers") or [])


def events(core: client.CoreV1Api, name: str, ns: str = "default") -> list[tuple[str, str, str]]:
    raw = json.loads(
        core.list_namespaced_event(
            ns, field_selector=f"involvedObject.name={name}", _preload_content=False
        ).data
    )
    return [(e["type"], e["reason"], e["message"]) for e in raw["items"]]


def reasons(core: client.CoreV1Api, name: str) -> list[str]:
    return [r for _, r, _ in events(core, name)]


def gone(core: client.CoreV1Api, name: str, ns: str = "default") -> bool:
    try:
        core.read_namespaced_service(name, ns)
    except ApiException as e:
        return e.status == 404
    return False


def test_create_gets_an_address_finalizer_and_events(loop: Loop, core: client.CoreV1Api) -> None:
    loop.start()
    core.create_namespaced_service("default", lb("web"))
    ips = wait_for(lambda: ingress_ips(core, "web"), what="status IP")
    assert ipaddress.ip_address(ips[0]) in ipaddress.ip_network("192.0.2.0/27")
    assert FINALIZER in finalizers(core, "web")
    raw = json.loads(core.read_namespaced_service("web", "default", _preload_content=False).data)
    assert raw["status"]["loadBalancer"]["ingress"][0]["ipMode"] == "VIP"
    wait_for(
        lambda: {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= set(reasons(core, "web")),
        what="events",
    )


def test_port_and_annotation_changes_are_re_ensured(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("web"))
    first = wait_for(lambda: ingress_ips(core, "web"))
    core.patch_namespaced_service(
        "default" and "web",
        "default",
        {"spec": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}},
    )
    wait_for(lambda: ctl.results["updated"] >= 1, what="re-ensure after port change")
    assert ingress_ips(core, "web") == first
    core.patch_namespaced_service(
        "web", "default", {"metadata": {"annotations": {"metallb.io/address-pool": "internal"}}}
    )
    moved = wait_for(
        lambda: [ip for ip in ingress_ips(core, "web") if ip.startswith("10.200.")],
        what="address from the internal pool",
    )
    assert moved != first
    owned = [r.id for r in ctl.driver.inventory()]
    assert owned == moved, "the old address must be released, not kept as well"


def test_type_cluster_ip_releases_address_and_finalizer(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    tiny = {"metallb.io/address-pool": "tiny"}
    core.create_namespaced_service("default", lb("a", annotations=tiny))
    assert wait_for(lambda: ingress_ips(core, "a")) == ["198.51.100.7"]
    core.patch_namespaced_service(
        "a",
        "default",
        {
            "spec": {
                "type": "ClusterIP",
                "loadBalancerClass": None,
                "ports": [{"name": "http", "port": 80, "nodePort": None}],
            }
        },
    )
    wait_for(lambda: FINALIZER not in finalizers(core, "a"), what="finalizer removed")
    assert ingress_ips(core, "a") == []
    assert list(ctl.driver.inventory()) == []
    core.create_namespaced_service("default", lb("b", annotations=tiny))
    assert wait_for(lambda: ingress_ips(core, "b")) == ["198.51.100.7"]
    wait_for(lambda: "DeletedLoadBalancer" in reasons(core, "a"), what="DeletedLoadBalancer")


def test_delete_removes_finalizer_and_object(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("web"))
    wait_for(lambda: ingress_ips(core, "web"))
    core.delete_namespaced_service("web", "default")
    wait_for(lambda: gone(core, "web"), what="Service gone")
    assert list(ctl.driver.inventory()) == []


def test_invalid_annotation_warns_and_allocates_nothing(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    core.create_namespaced_service(
        "default", lb("bad", annotations={"metallb.io/loadBalancerIPs": "not-an-ip"})
    )
    warning = wait_for(
        lambda: [m for t, r, m in events(core, "bad") if t == "Warning"], what="Warning Event"
    )
    assert "metallb.io/loadBalancerIPs" in warning[0]
    assert ingress_ips(core, "bad") == []
    assert FINALIZER not in finalizers(core, "bad")
    assert list(ctl.driver.inventory()) == []
    before = ctl.results["invalid"]
    ctl.services.resync()
    wait_for(lambda: ctl.results["invalid"] > before)
    assert len([1 for t, _, _ in events(core, "bad") if t == "Warning"]) == 1
    core.patch_namespaced_service(
        "bad",
        "default",
        {"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.20"}}},
    )
    assert wait_for(lambda: ingress_ips(core, "bad")) == ["192.0.2.20"]


def test_other_class_is_untouched(loop: Loop, core: client.CoreV1Api, sandbox: Sandbox) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("theirs", cls="other.io/lb"))
    core.create_namespaced_service("default", lb("noclass", cls=None))
    core.create_namespaced_service("default", lb("mine"))
    wait_for(lambda: ingress_ips(core, "mine"))
    ctl.wait_idle()
    for name in ("theirs", "noclass"):
        assert ingress_ips(core, name) == []
        assert finalizers(core, name) == []
        assert events(core, name) == []


def test_default_class_owns_classless_services(loop: Loop, core: client.CoreV1Api) -> None:
    loop.start(default_class=True)
    core.create_namespaced_service("default", lb("noclass", cls=None))
    wait_for(lambda: ingress_ips(core, "noclass"))


def test_exhausted_pool_warns_and_recovers_when_capacity_frees(
    loop: Loop, core: client.CoreV1Api
) -> None:
    loop.start()
    tiny = {"metallb.io/address-pool": "tiny"}
    core.create_namespaced_service("default", lb("first", annotations=tiny))
    wait_for(lambda: ingress_ips(core, "first"))
    core.create_namespaced_service("default", lb("second", annotations=tiny))
    core.create_namespaced_service("default", lb("other"))
    wait_for(lambda: "AllocationFailed" in reasons(core, "second"), what="AllocationFailed")
    assert wait_for(lambda: ingress_ips(core, "other")), "other Services are unaffected"
    assert ingress_ips(core, "second") == []
    core.delete_namespaced_service("first", "default")
    assert wait_for(
        lambda: ingress_ips(core, "second"), what="pending Service gets the address"
    ) == ["198.51.100.7"]


def test_restart_converges_without_duplicates(loop: Loop, core: client.CoreV1Api) -> None:
    first = loop.start(workers=1)
    for i in range(30):
        core.create_namespaced_service("default", lb(f"s{i:02d}"))
    wait_for(lambda: first.results["created"] >= 5, what="some progress")
    loop.stop(first)  # mid-way: the rest are still pending
    second = loop.start(driver=pool_driver())
    names = [f"s{i:02d}" for i in range(30)]
    wait_for(lambda: all(ingress_ips(core, n) for n in names), timeout=60, what="all addresses")
    assert second.wait_idle()
    ips = [ingress_ips(core, n)[0] for n in names]
    assert len(set(ips)) == 30, "no address handed out twice"
    assert sorted(r.id for r in second.driver.inventory()) == sorted(ips), "none lost"


def test_dropped_watch_recovers(loop: Loop, core: client.CoreV1Api, sandbox: Sandbox) -> None:
    ctl = loop.start()
    wait_for(lambda: sandbox.store.open_watches >= 2, what="watches open")
    watches = ctl.services.watches
    assert sandbox.drop_watches() >= 2
    core.create_namespaced_service("default", lb("after-drop"))
    wait_for(lambda: ingress_ips(core, "after-drop"), what="status after the drop")
    assert ctl.services.watches > watches


def test_gone_410_relists(loop: Loop, core: client.CoreV1Api, sandbox: Sandbox) -> None:
    ctl = loop.start()
    wait_for(lambda: sandbox.store.open_watches >= 2)
    relists = ctl.services.relists
    # Keep the informer from re-watching while changes happen and the history is
    # compacted, so its resume point is gone when it comes back.
    sandbox.faults.add(path="^/api/v1/services$", method="GET", status=500)
    sandbox.drop_watches()
    core.create_namespaced_service("default", lb("during-gap"))
    sandbox.store.compact()
    sandbox.faults.clear()
    wait_for(lambda: ingress_ips(core, "during-gap"), what="status after relist")
    assert ctl.services.relists > relists


def test_two_hundred_services_converge_without_concurrent_reconciles(
    loop: Loop, core: client.CoreV1Api
) -> None:
    big = """
pools:
  - name: big
    addresses: ["172.16.0.0/22"]
"""
    ctl = loop.start(driver=pool_driver(big), workers=4)
    for i in range(200):
        core.create_namespaced_service("default", lb(f"svc-{i:03d}"), _preload_content=False)
    for i in range(0, 200, 10):  # churn some while they converge
        core.patch_namespaced_service(
            f"svc-{i:03d}", "default", {"metadata": {"labels": {"touched": "1"}}}
        )
    wait_for(lambda: len(list(ctl.driver.inventory())) == 200, timeout=120, what="200 allocations")
    assert ctl.wait_idle(timeout=60)
    ips = [ingress_ips(core, f"svc-{i:03d}") for i in range(200)]
    assert all(len(x) == 1 for x in ips)
    assert len({x[0] for x in ips}) == 200
    assert ctl.concurrency_violations == 0
    assert ctl.max_parallel > 1, "the workers really ran in parallel"


def test_noop_resync_makes_no_writes(loop: Loop, core: client.CoreV1Api, sandbox: Sandbox) -> None:
    ctl = loop.start()
    for i in range(10):
        core.create_namespaced_service("default", lb(f"s{i}"))
    wait_for(lambda: all(ingress_ips(core, f"s{i}") for i in range(10)))
    assert ctl.wait_idle()
    ctl.recorder.flush()
    before = sandbox.requests()
    done = sum(ctl.results.values())
    ctl.services.resync()
    wait_for(lambda: sum(ctl.results.values()) >= done + 10, what="resync reconciles")
    assert ctl.wait_idle()
    ctl.recorder.flush()
    after = sandbox.requests()
    writes = {m: after.get(m, 0) - before.get(m, 0) for m in ("POST", "PUT", "PATCH", "DELETE")}
    assert writes == {"POST": 0, "PUT": 0, "PATCH": 0, "DELETE": 0}
    assert ctl.results["in-sync"] >= 10


def test_node_changes_re_ensure(loop: Loop, core: client.CoreV1Api) -> None:
    core.create_node(
        {
            "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        }
    )
    ctl = loop.start()
    core.create_namespaced_service("default", lb("web"))
    wait_for(lambda: ingress_ips(core, "web"))
    assert ctl.wait_idle()
    core.create_node(
        {
            "metadata": {"name": "n2"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]},
        }
    )
    wait_for(lambda: "UpdatedLoadBalancer" in reasons(core, "web"), what="UpdatedLoadBalancer")
    assert [n.name for n in ctl.eligible_nodes()] == ["n1", "n2"]
    core.patch_node(
        "n2",
        {
            "metadata": {
                "labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}
            }
        },
    )
    wait_for(lambda: [n.name for n in ctl.eligible_nodes()] == ["n1"])
    core.patch_node(
        "n1",
        {
            "spec": {
                "taints": [
                    {"key": "ToBeDeletedByClusterAutoscaler", "value": "1", "effect": "NoSchedule"}
                ]
            }
        },
    )
    wait_for(lambda: "UnAvailableLoadBalancer" in reasons(core, "web"), what="no eligible nodes")


def test_finalizer_removed_by_hand_then_deleted(loop: Loop, core: client.CoreV1Api) -> None:
    ctl = loop.start()
    core.create_namespaced_service("default", lb("web"))
    wait_for(lambda: ingress_ips(core, "web"))
    assert ctl.wait_idle()
    core.patch_namespaced_service(
        "web",
        "default",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    wait_for(lambda: FINALIZER in finalizers(core, "web"), what="finalizer restored")


def test_pools_from_a_configmap_follow_its_updates(loop: Loop, core: client.CoreV1Api) -> None:
    def pools(addresses: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "ccm-pools"},
            "data": {"pools.yaml": f'pools:\n  - name: cm\n    addresses: ["{addresses}"]\n'},
        }

    core.create_namespaced_config_map("kube-system", pools("203.0.113.5/32"))
    ctl = loop.start(provider_configmap=("kube-system", "ccm-pools"), config_poll_interval=0.2)
    core.create_namespaced_service("default", lb("a"))
    assert wait_for(lambda: ingress_ips(core, "a")) == ["203.0.113.5"]
    core.create_namespaced_service("default", lb("b"))
    wait_for(lambda: "AllocationFailed" in reasons(core, "b"), what="pool of one is full")
    core.replace_namespaced_config_map("ccm-pools", "kube-system", pools("203.0.113.4/31"))
    assert wait_for(lambda: ingress_ips(core, "b"), what="address from the grown pool") == [
        "203.0.113.4"
    ]
    broken = pools("203.0.113.4/31")
    broken["data"]["pools.yaml"] = "pools: [{name: cm, addresses: [not-an-address]}]"
    core.replace_namespaced_config_map("ccm-pools", "kube-system", broken)
    core.create_namespaced_service("default", lb("c"))
    wait_for(lambda: "AllocationFailed" in reasons(core, "c"), what="old pools still in force")
    assert ctl.driver.pools[0].size() == 2  # type: ignore[attr-defined]
    assert ingress_ips(core, "a") == ["203.0.113.5"], "a bad ConfigMap must not move addresses"


def test_shared_ip_for_services_with_the_same_key(loop: Loop, core: client.CoreV1Api) -> None:
    loop.start()
    key = {"metallb.io/allow-shared-ip": "dns"}
    core.create_namespaced_service(
        "default", lb("dns-tcp", [{"name": "dns", "port": 53, "protocol": "TCP"}], annotations=key)
    )
    core.create_namespaced_service(
        "default", lb("dns-udp", [{"name": "dns", "port": 53, "protocol": "UDP"}], annotations=key)
    )
    tcp = wait_for(lambda: ingress_ips(core, "dns-tcp"))
    assert wait_for(lambda: ingress_ips(core, "dns-udp")) == tcp
    core.create_namespaced_service(
        "default",
        lb("other-tcp", [{"name": "dns", "port": 53, "protocol": "TCP"}], annotations=key),
    )
    assert wait_for(lambda: ingress_ips(core, "other-tcp")) != tcp, "overlapping port: no sharing"

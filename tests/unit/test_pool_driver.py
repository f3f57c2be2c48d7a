"""The pool driver end to end through its public methods, with real objects throughout."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pytest

from ccm.driver import (
    ConfigurableDriver,
    Driver,
    DriverOptions,
    ObservingDriver,
    PlanningDriver,
)
from ccm.model import (
    JSON,
    ClusterInfo,
    InvalidServiceSpec,
    LoadBalancerSpec,
    RetryableError,
    ServiceRef,
)
from providers.pool import ConfigError, PoolDriver, make_driver

CLUSTER = ClusterInfo(name="c1")
IPS = "metallb.io/loadBalancerIPs"
POOL = "metallb.io/address-pool"
SHARED = "metallb.io/allow-shared-ip"

CONFIG = """
pools:
  - name: public
    addresses: ["192.0.2.0/30", "2001:db8::/126"]
  - name: spare
    addresses: ["198.51.100.0/30"]
  - name: prod-only
    addresses: ["203.0.113.0/30"]
    namespaces: [prod]
    autoAssign: false
"""


def service(
    name: str,
    namespace: str = "default",
    *,
    uid: str | None = None,
    ports: Iterable[tuple[int, str]] = ((80, "TCP"),),
    annotations: dict[str, str] | None = None,
    load_balancer_ip: str = "",
    status: Iterable[str] = (),
    policy: str = "Cluster",
    selector: dict[str, str] | None = None,
    families: Iterable[str] = (),
    created: str = "2024-01-01T00:00:00Z",
) -> JSON:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "ports": [{"port": p, "protocol": proto, "nodePort": 30000 + p} for p, proto in ports],
        "externalTrafficPolicy": policy,
        "selector": selector if selector is not None else {"app": name},
    }
    if load_balancer_ip:
        spec["loadBalancerIP"] = load_balancer_ip
    if families:
        spec["ipFamilies"] = list(families)
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "annotations": annotations or {},
            "creationTimestamp": created,
        },
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}},
    }


def driver(config: str = CONFIG) -> PoolDriver:
    return make_driver(DriverOptions(cluster=CLUSTER, config={"pools.yaml": config}))


def ensure(d: PoolDriver, svc: JSON) -> list[str]:
    status = d.ensure(d.parse(svc, CLUSTER), [])
    assert all(point.ip_mode == "VIP" for point in status.ingress)
    return [point.ip for point in status.ingress]


def holders(d: PoolDriver) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for resource in d.inventory():
        assert resource.owner is not None
        out.setdefault(resource.id, []).append(resource.owner.key)
    return out


def shared(name: str, port: int, key: str = "k", **kw: Any) -> JSON:
    return service(name, ports=[(port, "TCP")], annotations={SHARED: key}, **kw)


# --- contract and parse ---------------------------------------------------------------


def test_make_driver_satisfies_the_contract_and_its_options() -> None:
    d = driver()
    assert d.name == "pool"
    for protocol in (Driver, ObservingDriver, PlanningDriver, ConfigurableDriver):
        assert isinstance(d, protocol)


def test_parse_builds_the_spec_and_options() -> None:
    svc = service(
        "web",
        ports=[(80, "TCP"), (53, "UDP")],
        annotations={POOL: "public", SHARED: "dns"},
        status=["192.0.2.1"],
        selector={"b": "2", "a": "1"},
    )
    spec = driver().parse(svc, CLUSTER)
    assert (spec.kind, spec.scheme) == ("pool", "external")
    assert [(lsn.port, lsn.protocol, lsn.node_port) for lsn in spec.listeners] == [
        (80, "TCP", 30080),
        (53, "UDP", 30053),
    ]
    assert dict(spec.options) == {
        "pool": "public",
        "requested_ips": (),
        "sharing_key": "dns",
        "families": ("IPv4",),
        "selector": (("a", "1"), ("b", "2")),
        "current_ips": ("192.0.2.1",),
    }
    assert spec.identity_options == ("pool", "requested_ips")
    assert spec.identity() == (
        "uid-default-web",
        "pool",
        "external",
        ("pool", "public"),
        ("requested_ips", ()),
    )


def test_parse_takes_families_from_requested_ips() -> None:
    spec = driver().parse(service("web", annotations={IPS: "2001:db8::2, 192.0.2.2"}), CLUSTER)
    assert spec.options["requested_ips"] == ("2001:db8::2", "192.0.2.2")
    assert spec.options["families"] == ("IPv6", "IPv4")


def test_parse_honours_spec_load_balancer_ip() -> None:
    spec = driver().parse(service("web", load_balancer_ip="192.0.2.3"), CLUSTER)
    assert spec.options["requested_ips"] == ("192.0.2.3",)


def test_annotation_and_load_balancer_ip_together_conflict() -> None:
    svc = service("web", annotations={IPS: "192.0.2.2"}, load_balancer_ip="192.0.2.2")
    with pytest.raises(InvalidServiceSpec) as err:
        driver().parse(svc, CLUSTER)
    assert err.value.field == f"metadata.annotations[{IPS}]"
    assert "conflicts" in err.value.message


@pytest.mark.parametrize(
    ("svc", "field", "words"),
    [
        (service("w", annotations={IPS: "192.0.2.x"}), f"metadata.annotations[{IPS}]", "not an IP"),
        (service("w", load_balancer_ip="nope"), "spec.loadBalancerIP", "not an IP"),
        (
            service("w", annotations={IPS: "192.0.2.1,192.0.2.2"}),
            f"metadata.annotations[{IPS}]",
            "both IPv4",
        ),
        (
            service("w", annotations={IPS: "10.9.9.9"}),
            f"metadata.annotations[{IPS}]",
            "not in any pool",
        ),
        (service("w", load_balancer_ip="10.9.9.9"), "spec.loadBalancerIP", "not in any pool"),
        (
            service("w", annotations={POOL: "nope"}),
            f"metadata.annotations[{POOL}]",
            'unknown pool "nope"',
        ),
        (
            service("w", annotations={POOL: "prod-only"}),
            f"metadata.annotations[{POOL}]",
            "does not serve namespace",
        ),
        (
            service("w", annotations={IPS: "203.0.113.1"}),
            f"metadata.annotations[{IPS}]",
            "does not serve namespace",
        ),
        (
            service("w", annotations={IPS: "198.51.100.1", POOL: "public"}),
            f"metadata.annotations[{IPS}]",
            'not in pool "public"',
        ),
        (service("w", ports=[(0, "TCP")]), "spec.ports[0].port", "not a port"),
        (service("w", ports=[(80, "ICMP")]), "spec.ports[0].protocol", "not a protocol"),
        (service("w", families=["IPv5"]), "spec.ipFamilies[0]", "not an IP family"),
    ],
)
def test_parse_rejects_bad_input_naming_the_field(svc: JSON, field: str, words: str) -> None:
    with pytest.raises(InvalidServiceSpec) as err:
        driver().parse(svc, CLUSTER)
    assert err.value.field == field
    assert words in err.value.message


def test_unknown_pool_lists_configured_pools_as_accepted() -> None:
    with pytest.raises(InvalidServiceSpec) as err:
        driver().parse(service("w", annotations={POOL: "nope"}), CLUSTER)
    assert err.value.accepted == "public, spare, prod-only"


def test_mixed_protocols_are_fine() -> None:
    spec = driver().parse(service("w", ports=[(53, "TCP"), (53, "UDP")]), CLUSTER)
    assert len(spec.listeners) == 2


def test_parse_does_not_touch_allocations() -> None:
    d = driver()
    d.parse(service("web"), CLUSTER)
    assert list(d.inventory()) == []


# --- allocation --------------------------------------------------------------------


def test_first_free_address_in_pool_order() -> None:
    d = driver()
    assert ensure(d, service("a")) == ["192.0.2.0"]
    assert ensure(d, service("b")) == ["192.0.2.1"]


def test_ensure_is_idempotent() -> None:
    d = driver()
    svc = service("web")
    first = ensure(d, svc)
    before = list(d.inventory())
    assert ensure(d, svc) == first
    assert ensure(d, svc) == first
    assert list(d.inventory()) == before


def test_dual_stack_gets_one_address_per_family_in_family_order() -> None:
    d = driver()
    assert ensure(d, service("web", families=["IPv6", "IPv4"])) == ["2001:db8::", "192.0.2.0"]


def test_auto_assign_falls_through_to_the_next_pool_then_exhausts() -> None:
    d = driver()
    got = [ensure(d, service(f"s{i}"))[0] for i in range(8)]
    assert got[3:5] == ["192.0.2.3", "198.51.100.0"]
    with pytest.raises(RetryableError) as err:
        ensure(d, service("web"))
    assert err.value.reason == "AllocationFailed"
    assert 'no available IPs in pools "public", "spare" for default/web' in str(err.value)


def test_exhaustion_of_a_named_pool_names_it() -> None:
    d = driver('pools: [{name: public, addresses: ["192.0.2.1"]}]')
    ensure(d, service("first"))
    with pytest.raises(RetryableError) as err:
        ensure(d, service("web"))
    assert err.value.reason == "AllocationFailed"
    assert str(err.value) == 'no available IPs in pool "public" for default/web'


def test_auto_assign_false_pool_is_only_used_when_named() -> None:
    d = driver()
    assert ensure(d, service("a", "prod"))[0].startswith("192.0.2.")
    assert ensure(d, service("b", "prod", annotations={POOL: "prod-only"})) == ["203.0.113.0"]


def test_no_pools_means_allocation_failed_for_everyone() -> None:
    d = make_driver(DriverOptions(cluster=CLUSTER))
    with pytest.raises(RetryableError) as err:
        ensure(d, service("web", annotations={IPS: "192.0.2.1"}))
    assert err.value.reason == "AllocationFailed"
    assert "no pools" in str(err.value)


def test_requested_ip_is_given_even_out_of_pool_order() -> None:
    d = driver()
    assert ensure(d, service("web", annotations={IPS: "192.0.2.3"})) == ["192.0.2.3"]
    assert ensure(d, service("next")) == ["192.0.2.0"]


def test_requested_ip_held_by_an_incompatible_service_is_retryable_and_names_the_holder() -> None:
    d = driver()
    ensure(d, service("a"))
    with pytest.raises(RetryableError) as err:
        ensure(d, service("b", annotations={IPS: "192.0.2.0"}))
    assert err.value.reason == "AllocationFailed"
    assert "192.0.2.0" in str(err.value) and "default/a" in str(err.value)


# --- sharing -------------------------------------------------------------------------


def test_same_key_and_disjoint_ports_share_an_address() -> None:
    d = driver()
    assert ensure(d, shared("a", 80)) == ensure(d, shared("b", 443)) == ["192.0.2.0"]
    assert holders(d) == {"192.0.2.0": ["default/a", "default/b"]}


def test_same_port_number_on_another_protocol_does_not_overlap() -> None:
    d = driver()
    a = service("a", ports=[(53, "TCP")], annotations={SHARED: "dns"})
    b = service("b", ports=[(53, "UDP")], annotations={SHARED: "dns"})
    assert ensure(d, a) == ensure(d, b)


@pytest.mark.parametrize(
    "second",
    [
        shared("b", 80),  # port overlap
        shared("b", 443, key="other"),  # key mismatch
        service("b", ports=[(443, "TCP")]),  # no key at all
        shared("b", 443, policy="Local"),  # policy mismatch
    ],
)
def test_incompatible_services_get_their_own_address(second: JSON) -> None:
    d = driver()
    assert ensure(d, shared("a", 80)) == ["192.0.2.0"]
    assert ensure(d, second) == ["192.0.2.1"]


def test_local_policy_shares_only_with_the_same_selector() -> None:
    d = driver()
    a = shared("a", 80, policy="Local", selector={"app": "x"})
    same = shared("b", 443, policy="Local", selector={"app": "x"})
    other = shared("c", 8080, policy="Local", selector={"app": "y"})
    assert ensure(d, a) == ensure(d, same) == ["192.0.2.0"]
    assert ensure(d, other) == ["192.0.2.1"]


def test_requested_shared_ip_explains_the_conflict() -> None:
    d = driver()
    ensure(d, shared("a", 80))
    with pytest.raises(RetryableError) as err:
        ensure(d, service("b", annotations={SHARED: "k", IPS: "192.0.2.0"}))
    assert "ports overlap: 80/TCP" in str(err.value)


def test_sharing_broken_by_a_port_change_moves_the_newcomer() -> None:
    d = driver()
    ensure(d, shared("a", 80))
    assert ensure(d, shared("b", 443)) == ["192.0.2.0"]
    assert ensure(d, shared("b", 80)) == ["192.0.2.1"]
    assert holders(d) == {"192.0.2.0": ["default/a"], "192.0.2.1": ["default/b"]}


# --- changes of spec ----------------------------------------------------------------


def test_pool_change_moves_the_address_and_releases_the_old_one() -> None:
    d = driver()
    assert ensure(d, service("web")) == ["192.0.2.0"]
    assert ensure(d, service("web", annotations={POOL: "spare"})) == ["198.51.100.0"]
    assert holders(d) == {"198.51.100.0": ["default/web"]}
    assert ensure(d, service("other")) == ["192.0.2.0"]


def test_requested_ip_change_moves_the_address() -> None:
    d = driver()
    ensure(d, service("web", annotations={IPS: "192.0.2.2"}))
    assert ensure(d, service("web", annotations={IPS: "192.0.2.3"})) == ["192.0.2.3"]
    assert holders(d) == {"192.0.2.3": ["default/web"]}


def test_failed_move_keeps_the_old_address() -> None:
    d = driver()
    ensure(d, service("web"))
    ensure(d, service("blocker", annotations={IPS: "198.51.100.1"}))
    for i in range(3):
        ensure(d, service(f"f{i}", annotations={POOL: "spare"}))
    with pytest.raises(RetryableError, match='pool "spare"'):
        ensure(d, service("web", annotations={POOL: "spare"}))
    assert holders(d)["192.0.2.0"] == ["default/web"]


def test_dropping_a_family_releases_its_address() -> None:
    d = driver()
    assert ensure(d, service("web", families=["IPv4", "IPv6"])) == ["192.0.2.0", "2001:db8::"]
    assert ensure(d, service("web", families=["IPv4"])) == ["192.0.2.0"]
    assert holders(d) == {"192.0.2.0": ["default/web"]}


# --- delete ---------------------------------------------------------------------------


def test_delete_releases_and_is_idempotent() -> None:
    d = driver()
    ensure(d, service("web"))
    ref = ServiceRef("default", "web", "uid-default-web")
    d.delete(ref)
    d.delete(ref)
    assert list(d.inventory()) == []
    assert ensure(d, service("next")) == ["192.0.2.0"]


def test_delete_matches_by_uid_not_by_name() -> None:
    d = driver()
    ensure(d, service("web", uid="new"))
    d.delete(ServiceRef("default", "web", "old"))
    assert holders(d) == {"192.0.2.0": ["default/web"]}
    d.delete(ServiceRef("default", "web", ""))
    assert holders(d) == {}


def test_delete_of_a_sharer_leaves_the_other() -> None:
    d = driver()
    ensure(d, shared("a", 80))
    ensure(d, shared("b", 443))
    d.delete(ServiceRef("default", "a", "uid-default-a"))
    assert holders(d) == {"192.0.2.0": ["default/b"]}


# --- observe ---------------------------------------------------------------------------


def test_observe_rebuilds_so_ensure_keeps_and_skips_taken_addresses() -> None:
    d = driver()
    d.observe([service("old", status=["192.0.2.2"])], CLUSTER)
    assert holders(d) == {"192.0.2.2": ["default/old"]}
    assert ensure(d, service("old", status=["192.0.2.2"])) == ["192.0.2.2"]
    assert [ensure(d, service(f"n{i}"))[0] for i in range(3)] == [
        "192.0.2.0",
        "192.0.2.1",
        "192.0.2.3",
    ]


def test_observe_ignores_addresses_outside_every_pool() -> None:
    d = driver()
    d.observe([service("web", status=["10.9.9.9"])], CLUSTER)
    assert list(d.inventory()) == []
    assert ensure(d, service("web", status=["10.9.9.9"])) == ["192.0.2.0"]


def test_observe_gives_a_contested_address_to_the_older_service() -> None:
    d = driver()
    young = service("young", status=["192.0.2.1"], created="2024-06-01T00:00:00Z")
    old = service("old", status=["192.0.2.1"], created="2023-01-01T00:00:00Z")
    d.observe([young, old], CLUSTER)
    assert holders(d) == {"192.0.2.1": ["default/old"]}
    assert ensure(d, young) == ["192.0.2.0"]
    assert ensure(d, old) == ["192.0.2.1"]


def test_observe_keeps_compatible_sharers_together() -> None:
    d = driver()
    d.observe(
        [shared("a", 80, status=["192.0.2.3"]), shared("b", 443, status=["192.0.2.3"])], CLUSTER
    )
    assert holders(d) == {"192.0.2.3": ["default/a", "default/b"]}


def test_observe_replaces_the_table() -> None:
    d = driver()
    ensure(d, service("gone"))
    d.observe([service("web", status=["192.0.2.1"])], CLUSTER)
    assert holders(d) == {"192.0.2.1": ["default/web"]}


def test_ensure_reclaims_the_address_the_status_shows_when_free() -> None:
    d = driver()
    assert ensure(d, service("web", status=["192.0.2.2"])) == ["192.0.2.2"]


def test_observe_protects_a_service_that_no_longer_parses() -> None:
    d = driver()
    broken = service("broken", annotations={IPS: "garbage"}, status=["192.0.2.0"])
    d.observe([broken], CLUSTER)
    assert ensure(d, shared("b", 443)) == ["192.0.2.1"]


# --- concurrency --------------------------------------------------------------------


def test_concurrent_ensures_never_hand_out_an_address_twice() -> None:
    d = driver('pools: [{name: big, addresses: ["10.0.0.0/24"]}]')
    specs = [d.parse(service(f"s{i}"), CLUSTER) for i in range(200)]
    results: dict[str, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(chunk: list[LoadBalancerSpec]) -> None:
        start.wait()
        for spec in chunk:
            ip = d.ensure(spec, []).ingress[0].ip
            with lock:
                results[spec.service.key] = ip

    threads = [threading.Thread(target=work, args=(specs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200
    assert len(set(results.values())) == 200


# --- plan, configure, inventory, prices -----------------------------------------------


def test_plan_describes_without_changing_anything() -> None:
    d = driver()
    spec = d.parse(service("web"), CLUSTER)
    assert d.plan(spec, []) == ["allocate 192.0.2.0 from pool public"]
    assert list(d.inventory()) == []
    d.ensure(spec, [])
    assert d.plan(spec, []) == ["keep 192.0.2.0 (pool public)"]
    moved = d.parse(service("web", annotations={POOL: "spare"}), CLUSTER)
    assert d.plan(moved, []) == ["allocate 198.51.100.0 from pool spare", "release 192.0.2.0"]
    assert holders(d) == {"192.0.2.0": ["default/web"]}


def test_plan_reports_what_cannot_be_allocated() -> None:
    d = driver()
    ensure(d, service("a"))
    lines = d.plan(d.parse(service("b", annotations={IPS: "192.0.2.0"}), CLUSTER), [])
    assert len(lines) == 1 and lines[0].startswith("cannot allocate: ")
    assert "default/a" in lines[0]


def test_plan_mentions_sharing() -> None:
    d = driver()
    ensure(d, shared("a", 80))
    plan = d.plan(d.parse(shared("b", 443), CLUSTER), [])
    assert plan == ["allocate 192.0.2.0 from pool public (shared with default/a)"]


def test_configure_error_keeps_the_old_pools() -> None:
    d = driver()
    with pytest.raises(ConfigError):
        d.configure({"pools.yaml": "pools: [{name: x, addresses: [10.0.0.0/33]}]"})
    assert [p.name for p in d.pools] == ["public", "spare", "prod-only"]
    assert ensure(d, service("web")) == ["192.0.2.0"]


def test_configure_leaves_stranded_addresses_until_the_next_ensure() -> None:
    d = driver()
    ensure(d, service("web"))
    d.configure({"pools.yaml": 'pools: [{name: new, addresses: ["10.1.0.0/30"]}]'})
    assert holders(d) == {"192.0.2.0": ["default/web"]}
    assert ensure(d, service("web")) == ["10.1.0.0"]
    assert holders(d) == {"10.1.0.0": ["default/web"]}


def test_make_driver_refuses_a_bad_config() -> None:
    with pytest.raises(ConfigError):
        driver("pools: [{name: a}]")


def test_inventory_lists_each_holder_with_identity_and_details() -> None:
    d = driver()
    spec_a = d.parse(shared("a", 80), CLUSTER)
    d.ensure(spec_a, [])
    ensure(d, shared("b", 443))
    resources = list(d.inventory())
    assert len(resources) == 2
    first = resources[0]
    assert (first.provider, first.kind, first.id, first.cluster) == (
        "pool",
        "address",
        "192.0.2.0",
        "c1",
    )
    assert first.owner == ServiceRef("default", "a", "uid-default-a")
    assert first.identity == spec_a.identity()
    assert dict(first.details) == {"pool": "public", "shared": "k"}


def test_prices_are_zero() -> None:
    book = driver().prices()
    assert (book.provider, book.region, dict(book.hourly)) == ("pool", "on-prem", {"address": 0.0})
    assert book.source.startswith("bare-metal address pool") and book.date == "2026-12-07"
    assert book.flat_rate == "address" and not book.estimated


def test_legacy_metallb_universe_annotations_are_honoured() -> None:
    d = driver()
    svc = service("web", annotations={"metallb.universe.tf/address-pool": "spare"})
    assert ensure(d, svc) == ["198.51.100.0"]
    with pytest.raises(InvalidServiceSpec) as err:
        d.parse(service("w", annotations={"metallb.universe.tf/loadBalancerIPs": "x"}), CLUSTER)
    assert err.value.field == "metadata.annotations[metallb.universe.tf/loadBalancerIPs]"


def test_requesting_an_address_the_pool_avoids_is_invalid() -> None:
    d = driver('pools: [{name: p, addresses: ["10.0.0.0/24"], avoidBuggyIPs: true}]')
    with pytest.raises(InvalidServiceSpec, match="does not hand it out"):
        d.parse(service("web", load_balancer_ip="10.0.0.255"), CLUSTER)
    assert ensure(d, service("web")) == ["10.0.0.1"]


def test_a_sharer_keeps_its_address_on_re_ensure() -> None:
    d = driver()
    ensure(d, shared("a", 80))
    ensure(d, shared("b", 443))
    assert ensure(d, shared("a", 80)) == ensure(d, shared("b", 443)) == ["192.0.2.0"]
    assert holders(d) == {"192.0.2.0": ["default/a", "default/b"]}


def test_named_pool_removed_by_configure_fails_retryably_and_keeps_the_address() -> None:
    d = driver()
    spec = d.parse(service("web", annotations={POOL: "spare"}), CLUSTER)
    d.ensure(spec, [])
    d.configure({"pools.yaml": 'pools: [{name: public, addresses: ["192.0.2.0/30"]}]'})
    with pytest.raises(RetryableError) as err:
        d.ensure(spec, [])
    assert err.value.reason == "AllocationFailed"
    assert 'pool "spare" is not configured' in str(err.value)
    assert holders(d) == {"198.51.100.0": ["default/web"]}

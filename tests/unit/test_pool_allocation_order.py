"""First-fit order survives the allocator's resume-where-it-stopped walk and free list."""

from __future__ import annotations

from ccm.model import ClusterInfo, ServiceRef
from tests.unit.test_pool_driver import driver, ensure, service

RANGES = """
pools:
  - name: two-ranges
    addresses: ["10.9.0.100-10.9.0.103", "10.9.0.1-10.9.0.2"]
"""


def test_freed_address_is_reused_first_then_the_walk_continues() -> None:
    d = driver(RANGES)
    got = [ensure(d, service(f"s{i}"))[0] for i in range(4)]
    assert got == ["10.9.0.100", "10.9.0.101", "10.9.0.102", "10.9.0.103"]
    d.delete(ServiceRef("default", "s1", "uid-default-s1"))
    assert ensure(d, service("again")) == ["10.9.0.101"], "lowest freed address first"
    assert ensure(d, service("next")) == ["10.9.0.1"], "then the next range, in config order"
    assert ensure(d, service("last")) == ["10.9.0.2"]


def test_walk_wraps_to_find_addresses_freed_before_a_rebuild() -> None:
    d = driver(RANGES)
    svcs = [
        service(f"s{i}", status=[ip])
        for i, ip in enumerate(["10.9.0.101", "10.9.0.102", "10.9.0.103", "10.9.0.1", "10.9.0.2"])
    ]
    d.observe(svcs, ClusterInfo("c1"))
    assert ensure(d, service("new")) == ["10.9.0.100"]


def test_many_allocations_stay_distinct_and_in_order() -> None:
    d = driver("""
pools:
  - name: big
    addresses: ["172.16.0.0/16"]
""")
    got = [ensure(d, service(f"s{i}"))[0] for i in range(3000)]
    assert len(set(got)) == 3000
    assert got[:3] == ["172.16.0.0", "172.16.0.1", "172.16.0.2"]
    assert got[-1] == "172.16.11.183"

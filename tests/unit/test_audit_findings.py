"""Each finding rule, and its edges, on hand-made rows: present where it should be and
absent where it should not."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

import pytest

from ccm import flags
from ccm.audit.collect import AuditError, members
from ccm.audit.findings import (
    consolidate_http,
    duplicate_addresses,
    find,
    is_http,
    no_ready_endpoints,
    open_admin_ports,
    orphan_findings,
    stuck_pending,
)
from ccm.audit.table import render_table


def row(name: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cluster": "prod",
        "provider": "aws",
        "namespace": "default",
        "name": name,
        "kind": "nlb",
        "controller": "ccm",
        "scheme": "internet-facing",
        "state": "active",
        "ports": ["TCP/80"],
        "app_protocols": [""],
        "addresses": [f"{name}.elb.amazonaws.com"],
        "public_ips": 2,
        "source_ranges": [],
        "ready_endpoints": 1,
        "monthly": 23.73,
        "exact": True,
        "pending_seconds": None,
        "message": "",
        "resources": ["arn"],
        "shared_ip_key": "",
        "load_balancer_class": "ccm.dev/lb",
    }
    base.update(kw)
    return base


ALB = {"prod": lambda scheme: 23.73}


def test_http_means_every_port_http() -> None:
    assert is_http(row("a", ports=["TCP/80", "TCP/443"], app_protocols=["", ""]))
    assert is_http(row("a", ports=["TCP/8080"], app_protocols=["http"]))
    assert is_http(row("a", ports=["TCP/9000"], app_protocols=["kubernetes.io/h2c"]))
    assert not is_http(row("a", ports=["TCP/80", "TCP/5432"], app_protocols=["", ""]))
    assert not is_http(row("a", ports=["UDP/443"]))
    assert not is_http(row("a", ports=["TCP/80"], app_protocols=["grpc"]))  # said otherwise
    assert not is_http(row("a", ports=[], app_protocols=[]))


def test_consolidation_per_cluster_and_scheme_with_the_saving() -> None:
    rows = [
        row("a"),
        row("b", ports=["TCP/443"]),
        row("c", monthly=16.43, scheme="internal"),  # alone in its scheme
        row("d", ports=["TCP/5432"]),  # not HTTP
        row("e", ready_endpoints=0),  # counted under no-ready-endpoints instead
        row("f", state="pending", addresses=[], monthly=0.0),
    ]
    found = consolidate_http(rows, ALB)
    assert [(f.services, f.monthly_saving) for f in found] == [(("default/a", "default/b"), 23.73)]
    assert "2 internet-facing HTTP(S) Services" in found[0].reason
    assert consolidate_http([row("a"), row("b")], {"prod": lambda s: 50.0}) == []  # no saving
    assert consolidate_http([row("a")], ALB) == []


def test_open_admin_port_only_when_internet_facing_and_unrestricted() -> None:
    redis = row("redis", ports=["TCP/6379", "TCP/22"])
    assert "6379 (Redis), 22 (SSH)" in open_admin_ports(redis)[0].reason
    assert open_admin_ports(row("r", ports=["TCP/6379"], source_ranges=["0.0.0.0/0"]))
    assert open_admin_ports(row("r", ports=["TCP/3389"], source_ranges=["10.0.0.0/8", "::/0"]))
    assert not open_admin_ports(row("r", ports=["TCP/6379"], source_ranges=["10.0.0.0/8"]))
    assert not open_admin_ports(row("r", ports=["TCP/5432"], scheme="internal"))
    assert not open_admin_ports(row("web", ports=["TCP/443"]))


def test_no_ready_endpoints_needs_a_known_zero_and_a_bill() -> None:
    assert no_ready_endpoints(row("a", ready_endpoints=0))[0].monthly_saving == 23.73
    assert not no_ready_endpoints(row("a", ready_endpoints=None))  # slices unreadable
    assert not no_ready_endpoints(row("a", ready_endpoints=0, monthly=0.0))  # pool address
    assert not no_ready_endpoints(row("a", ready_endpoints=3))


def test_stuck_pending_uses_the_condition_message_or_names_the_class() -> None:
    pending = row("p", state="pending", addresses=[], pending_seconds=900.0, resources=[])
    assert "pending for 15 min" in stuck_pending({**pending, "message": "quota"}, 300)[0].reason
    unclaimed = {**pending, "controller": "none", "load_balancer_class": "x.io/lb"}
    assert "'x.io/lb'" in stuck_pending(unclaimed, 300)[0].reason
    assert not stuck_pending({**pending, "pending_seconds": 60.0}, 300)
    assert not stuck_pending(row("a"), 0)


def test_duplicate_addresses_skip_sharing_on_purpose() -> None:
    a = row("a", kind="address", addresses=["192.0.2.10"])
    b = row("b", kind="address", addresses=["192.0.2.10"], shared_ip_key="k")
    c = row("c", kind="address", addresses=["192.0.2.10"], shared_ip_key="k")
    other = row("a", cluster="dr", kind="address", addresses=["192.0.2.20"])
    other_b = row("b", cluster="dr", kind="address", addresses=["192.0.2.20"], shared_ip_key="k")
    assert duplicate_addresses([b, c]) == []
    assert [f.services for f in duplicate_addresses([a, b, c])] == [
        ("prod/default/a", "prod/default/b", "prod/default/c")
    ]
    # The same key in two clusters is two pools overlapping, not sharing.
    twin = row("b", cluster="dr", kind="address", addresses=["192.0.2.10"], shared_ip_key="k")
    assert [f.cluster for f in duplicate_addresses([b, twin])] == ["dr, prod"]
    assert duplicate_addresses([other, other_b]) != []
    assert duplicate_addresses([row("x"), row("y")]) == []


def test_orphans_summed_per_cluster_and_kept_ones_left_out() -> None:
    orphans = [
        {"cluster": "prod", "monthly": 16.43, "owner": {"namespace": "a", "name": "x"}},
        {"cluster": "prod", "monthly": 0.0, "owner": {"namespace": "a", "name": "x"}},
        {"cluster": "prod", "monthly": 9.0, "owner": None, "deletable": False},
    ]
    found = orphan_findings(orphans, {"prod": "ccm leaks --delete"})
    assert [(f.services, f.monthly_saving) for f in found] == [(("a/x",), 16.43)]
    assert "2 cloud resources" in found[0].reason and "`ccm leaks --delete`" in found[0].reason


def test_findings_order_savings_first_largest_first() -> None:
    rows = [row("a"), row("b"), row("r", ports=["TCP/6379"], ready_endpoints=0, monthly=30.0)]
    kinds = [f.type for f in find(rows, [], ALB, 300, {})]
    assert kinds == ["no-ready-endpoints", "consolidate-http", "open-admin-port"]


def _args(command_line: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    flags.add_audit_flags(p)
    return p.parse_args(shlex.split(command_line))


def test_fleet_flags_pair_by_position_and_once_means_all() -> None:
    fleet = members(
        _args("--provider aws --cluster-name a --cluster-name b --context ca --context cb")
    )
    assert [(m.provider, m.cluster_name, m.context) for m in fleet] == [
        ("aws", "a", "ca"),
        ("aws", "b", "cb"),
    ]
    assert fleet[0].load_balancer_class == "ccm.dev/lb"
    three = "--provider aws --cluster-name a --cluster-name b --context x --context y --context z"
    with pytest.raises(AuditError, match="--cluster-name: given 2 times for 3 clusters"):
        members(_args(three))
    with pytest.raises(AuditError, match="--provider: required"):
        members(_args("--cluster-name a"))
    with pytest.raises(AuditError, match="listed twice"):
        members(_args("--provider aws --cluster-name a --cluster-name a"))


def test_table_fits_80_columns_and_marks_estimates() -> None:
    long = row("a-service-name-that-goes-on-and-on-and-on", exact=False, ports=["TCP/80"] * 9)
    doc = {
        "clusters": [
            {"cluster": "prod", "provider": "aws", "region": "us-east-1", "services": 1,
             "load_balancers": 1, "pending": 0, "monthly": 23.73,
             "prices": {"file": "p.json", "date": "2026-12-07", "source": "x " * 60}}
        ],
        "services": [long, row("b")],
        "orphans": [],
        "findings": [f.as_json() for f in find([long, row("b")], [], ALB, 300, {})],
        "totals": {"monthly": 47.46, "monthly_estimated": 23.73, "by_namespace": []},
    }  # fmt: skip
    text = render_table(doc)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "~$23.73" in text and " $23.73" in text
    assert "FINDINGS (1)" in text

"""`ccm audit` over a seeded fleet, as a user runs it: the CLI in a subprocess, one
kubeconfig with two contexts — an AWS cluster (sandbox + moto server, the real controller
having made the load balancers) and a bare-metal pool cluster (a second sandbox, the
real controller with the pool driver). Every expected figure is computed here from the
bundled price file and what moto reports, never copied from the output."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client

from ccm.sandbox.server import Sandbox
from providers.aws.seed import seed_legacy_clb
from tests.integration.aws_harness import CLUSTER as AWS_CLUSTER
from tests.integration.aws_harness import AwsWorld
from tests.integration.harness import CLUSTER as POOL_CLUSTER
from tests.integration.harness import POOLS, Loop, hostname, wait_for
from tests.integration.test_loop_aws import start
from tests.integration.test_loop_pool import ingress_ips, lb

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
HOURS = 730
PRICES = json.loads((files("providers.aws") / "data" / "prices.json").read_text())["regions"][
    "us-east-1"
]
SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-schema.md"


@dataclass
class Fleet:
    kubeconfig: Path
    pool_config: Path
    aws: AwsWorld
    aws_core: client.CoreV1Api
    pool_core: client.CoreV1Api

    def flags(self) -> list[str]:
        return [
            "--kubeconfig", str(self.kubeconfig),
            "--context", "aws", "--provider", "aws", "--cluster-name", AWS_CLUSTER.name,
            "--context", "pool", "--provider", "pool", "--cluster-name", POOL_CLUSTER.name,
            "--provider-config", str(self.pool_config),
            "--aws-endpoint-url", self.aws.proxy.url, "--aws-region", "us-east-1",
        ]  # fmt: skip


def ccm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccm.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _svc(core: client.CoreV1Api, ns: str, body: dict[str, Any]) -> None:
    core.create_namespaced_service(ns, cast(client.V1Service, body))


def _slice(core: client.CoreV1Api, ns: str, name: str, ready: int, not_ready: int = 0) -> None:
    endpoints = [
        {"addresses": [f"10.1.0.{i}"], "conditions": {"ready": i < ready}}
        for i in range(ready + not_ready)
    ]
    body = {
        "metadata": {"name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }
    client.DiscoveryV1Api(core.api_client).create_namespaced_endpoint_slice(
        ns, cast(client.V1EndpointSlice, body)
    )


def _aws_cluster(loop: Loop, aws: AwsWorld, core: client.CoreV1Api) -> None:
    for ns in ("tools", "ops"):
        core.create_namespace(cast(client.V1Namespace, {"metadata": {"name": ns}}))
    ctl, _ = start(loop, aws, core)
    web = lb("web", [{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    _svc(core, "default", {**web, "metadata": {"name": "web", "annotations": {TYPE: "nlb"}}})
    _svc(core, "default", lb("api", annotations={TYPE: "alb"}))
    _svc(
        core, "default", lb("db", [{"name": "pg", "port": 5432}], annotations={SCHEME: "internal"})
    )
    _svc(core, "tools", lb("redis", [{"name": "redis", "port": 6379}], annotations={TYPE: "nlb"}))
    _svc(
        core,
        "ops",
        lb("ssh", [{"name": "ssh", "port": 22}], loadBalancerSourceRanges=["10.0.0.0/8"]),
    )
    _svc(core, "default", lb("gone", [{"name": "tcp", "port": 9000}]))
    _svc(core, "default", lb("waiting", cls="example.com/other-controller"))
    for ns, name in (("default", "web"), ("default", "api"), ("ops", "ssh")):
        _slice(core, ns, name, ready=2, not_ready=1)
    _slice(core, "default", "db", ready=1)
    _slice(core, "tools", "redis", ready=0, not_ready=2)
    for name in ("web", "api", "db", "gone"):
        wait_for(lambda n=name: hostname(core, n), timeout=60, what=f"default/{name} address")
    wait_for(lambda: _host(core, "tools", "redis") and _host(core, "ops", "ssh"), timeout=60)
    ctl.wait_idle()
    loop.stop(ctl)  # as after an outage: the Service goes, its finalizer stripped by hand
    core.delete_namespaced_service("gone", "default")
    core.patch_namespaced_service("gone", "default", {"metadata": {"finalizers": None}})
    # A Classic ELB the in-tree cloud provider made, for a Service with no class.
    _svc(core, "default", lb("legacy", cls=None))
    clb = seed_legacy_clb(aws.raw, aws.seeded, AWS_CLUSTER.name, "default", "legacy")
    dns = aws.raw["elb"].describe_load_balancers(LoadBalancerNames=[clb])[
        "LoadBalancerDescriptions"
    ][0]["DNSName"]
    core.patch_namespaced_service_status(
        "legacy", "default", {"status": {"loadBalancer": {"ingress": [{"hostname": dns}]}}}
    )
    _slice(core, "default", "legacy", ready=1)


def _host(core: client.CoreV1Api, ns: str, name: str) -> str:
    raw = json.loads(core.read_namespaced_service(name, ns, _preload_content=False).data)
    ingress = raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return str(ingress[0].get("hostname", "")) if ingress else ""


def _pool_cluster(loop: Loop, core: client.CoreV1Api) -> None:
    loop.start()
    shared = {"metallb.io/allow-shared-ip": "front"}
    _svc(core, "default", lb("a"))
    _svc(core, "default", lb("b", [{"name": "http", "port": 80}], annotations=shared))
    _svc(core, "default", lb("c", [{"name": "https", "port": 443}], annotations=shared))
    for name in ("a", "b", "c"):
        wait_for(lambda n=name: ingress_ips(core, n), what=f"{name} gets an address")
    assert ingress_ips(core, "b") == ingress_ips(core, "c")
    # Another controller, handing out an overlapping range, gives "rogue" a's address.
    _svc(core, "default", lb("rogue", cls="example.com/metal"))
    core.patch_namespaced_service_status(
        "rogue",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": ingress_ips(core, "a")[0]}]}}},
    )


@pytest.fixture
def fleet(
    loop: Loop, sandbox: Sandbox, aws: AwsWorld, core: client.CoreV1Api, tmp_path: Path
) -> Iterator[Fleet]:
    with Sandbox(port=0) as second:
        pool_loop = Loop(second)
        cfg = client.Configuration()
        cfg.host = second.url
        pool_core = client.CoreV1Api(client.ApiClient(cfg))
        try:
            _aws_cluster(loop, aws, core)
            _pool_cluster(pool_loop, pool_core)
            a, b = sandbox.kubeconfig("aws"), second.kubeconfig("pool")
            merged = {**a, **{k: a[k] + b[k] for k in ("clusters", "users", "contexts")}}
            kubeconfig = tmp_path / "fleet.kubeconfig"
            kubeconfig.write_text(yaml.safe_dump(merged))
            pools = tmp_path / "pools.yaml"
            pools.write_text(POOLS)
            yield Fleet(kubeconfig, pools, aws, core, pool_core)
        finally:
            for ctl in list(pool_loop.running):
                pool_loop.stop(ctl)


def _lbs(aws: AwsWorld) -> dict[str, dict[str, Any]]:
    return {lb["DNSName"]: lb for lb in aws.raw["elbv2"].describe_load_balancers()["LoadBalancers"]}


def _expected_monthly(lb: dict[str, Any]) -> float:
    """The price file applied by hand: the kind's hourly rate, plus one public IPv4 per
    zone when internet-facing (an ALB counts at least two)."""
    kind = {"network": "nlb", "application": "alb"}[lb["Type"]]
    hourly = PRICES[kind]
    if lb["Scheme"] == "internet-facing":
        zones = len(lb["AvailabilityZones"])
        hourly += PRICES["public_ipv4"] * (max(zones, 2) if kind == "alb" else zones)
    return round(hourly * HOURS, 2)


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{s['cluster']}/{s['namespace']}/{s['name']}": s for s in doc["services"]}


def _findings(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["type"] == kind]


def test_fleet_audit_prices_every_service_orphan_and_finding(fleet: Fleet) -> None:
    proc = ccm("audit", *fleet.flags(), "-o", "json", "--pending-after", "0")
    assert proc.returncode == 0, proc.stderr
    assert "[2/2]" in proc.stderr  # progress on stderr, the document alone on stdout
    doc = json.loads(proc.stdout)
    rows = _by_name(doc)
    aws, pool = AWS_CLUSTER.name, POOL_CLUSTER.name
    assert set(rows) == {
        *(f"{aws}/default/{n}" for n in ("web", "api", "db", "legacy", "waiting")),
        f"{aws}/tools/redis",
        f"{aws}/ops/ssh",
        *(f"{pool}/default/{n}" for n in ("a", "b", "c", "rogue")),
    }
    lbs = _lbs(fleet.aws)
    for key in ("default/web", "default/api", "default/db", "tools/redis", "ops/ssh"):
        row = rows[f"{aws}/{key}"]
        lb = lbs[row["addresses"][0]]
        assert row["monthly"] == _expected_monthly(lb), key
        assert row["controller"] == "ccm" and row["state"] == "active"
        assert row["resources"][0] == lb["LoadBalancerArn"]
    assert rows[f"{aws}/default/web"]["exact"] is True  # NLB: rate x zones, both known
    assert rows[f"{aws}/default/api"]["exact"] is False  # ALB public IPs grow with load
    assert rows[f"{aws}/default/db"]["public_ips"] == 0
    assert (
        rows[f"{aws}/default/web"]["kind"] == "nlb" and rows[f"{aws}/default/api"]["kind"] == "alb"
    )
    assert rows[f"{aws}/default/web"]["ready_endpoints"] == 2
    assert rows[f"{aws}/tools/redis"]["ready_endpoints"] == 0

    legacy = rows[f"{aws}/default/legacy"]
    clb = fleet.aws.raw["elb"].describe_load_balancers()["LoadBalancerDescriptions"][0]
    zones = max(len(clb.get("AvailabilityZones") or []), 1)
    assert (legacy["controller"], legacy["kind"]) == ("cloud-provider-aws", "clb")
    assert legacy["monthly"] == round((PRICES["clb"] + zones * PRICES["public_ipv4"]) * HOURS, 2)
    waiting = rows[f"{aws}/default/waiting"]
    assert (waiting["state"], waiting["controller"], waiting["monthly"]) == ("pending", "none", 0)

    # The orphan: the load balancer of the Service deleted while the controller was down.
    billed = [o for o in doc["orphans"] if o["monthly"] > 0]
    assert [(o["kind"], o["reason"], o["owner"]["name"]) for o in billed] == [
        ("nlb", "service-gone", "gone")
    ]
    gone_lb = next(lb for lb in lbs.values() if lb["LoadBalancerArn"] == billed[0]["id"])
    assert billed[0]["monthly"] == _expected_monthly(gone_lb)
    assert {o["kind"] for o in doc["orphans"]} >= {"target-group", "security-group"}

    for name in ("a", "b", "c"):
        row = rows[f"{pool}/default/{name}"]
        assert (row["kind"], row["controller"], row["monthly"]) == ("address", "ccm", 0)
    assert rows[f"{pool}/default/rogue"]["controller"] == "unknown"

    # Totals add up from the rows, per cluster and per fleet.
    aws_rows = [r for r in doc["services"] if r["cluster"] == aws]
    cluster = next(c for c in doc["clusters"] if c["cluster"] == aws)
    orphans = round(sum(o["monthly"] for o in doc["orphans"]), 2)
    assert cluster["orphans_monthly"] == orphans == billed[0]["monthly"]
    assert cluster["monthly"] == round(sum(r["monthly"] for r in aws_rows) + orphans, 2)
    assert (cluster["services"], cluster["pending"], cluster["load_balancers"]) == (7, 1, 6)
    assert cluster["prices"]["file"] == "providers/aws/data/prices.json"
    assert doc["totals"]["monthly"] == cluster["monthly"]  # the pool costs nothing
    by_ns = {(n["cluster"], n["namespace"]): n["monthly"] for n in doc["totals"]["by_namespace"]}
    assert by_ns[(aws, "(orphaned)")] == orphans
    assert by_ns[(aws, "tools")] == rows[f"{aws}/tools/redis"]["monthly"]

    # Findings: present where they should be, absent elsewhere.
    http = _findings(doc, "consolidate-http")
    assert [(f["cluster"], f["services"]) for f in http] == [
        (aws, ["default/api", "default/legacy", "default/web"])
    ]
    shared = (PRICES["alb"] + 2 * PRICES["public_ipv4"]) * HOURS
    paying = sum(rows[f"{aws}/default/{n}"]["monthly"] for n in ("api", "legacy", "web"))
    assert http[0]["monthly_saving"] == round(paying - round(shared, 2), 2)
    assert [f["services"] for f in _findings(doc, "no-ready-endpoints")] == [["tools/redis"]]
    admin = _findings(doc, "open-admin-port")
    assert [f["services"] for f in admin] == [["tools/redis"]]  # ssh restricted, db internal
    assert "6379 (Redis)" in admin[0]["reason"]
    assert [f["services"] for f in _findings(doc, "stuck-pending")] == [["default/waiting"]]
    assert "example.com/other-controller" in _findings(doc, "stuck-pending")[0]["reason"]
    dup = _findings(doc, "duplicate-public-ip")
    assert [f["services"] for f in dup] == [
        [f"{pool}/default/a", f"{pool}/default/rogue"]
    ]  # b and c share on purpose
    orphan = _findings(doc, "orphan")
    assert [(f["cluster"], f["monthly_saving"]) for f in orphan] == [(aws, orphans)]
    assert "ccm leaks --provider aws" in orphan[0]["reason"]
    assert doc["totals"]["savings_monthly"] == round(
        sum(f["monthly_saving"] for f in doc["findings"]), 2
    )

    # The same audit in the other formats.
    html = ccm("audit", *fleet.flags(), "-o", "html", "--pending-after", "0")
    assert html.returncode == 0, html.stderr
    page = _Page()
    page.feed(html.stdout)
    assert {"chart-by-namespace", "chart-by-kind"} <= page.ids
    assert page.services == set(rows)
    assert "http://" not in html.stdout.split("<body")[0] and "<script" not in html.stdout
    table = ccm("audit", *fleet.flags())
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    for key in rows:
        assert key.split("/", 1)[1].split("/")[1][:10] in table.stdout
    sheet = ccm("audit", *fleet.flags(), "-o", "csv")
    records = list(csv.DictReader(io.StringIO(sheet.stdout)))
    assert len(records) == len(doc["services"]) + len(doc["orphans"])
    assert round(sum(float(r["monthly"]) for r in records), 2) == doc["totals"]["monthly"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.services: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "tr" and a.get("data-service"):
            self.services.add(str(a["data-service"]))


def _documented() -> dict[str, Any]:
    block = re.search(r"```json\n(.*?)\n```", SCHEMA_DOC.read_text(), re.S)
    assert block, "docs/audit-schema.md has no JSON example"
    return cast(dict[str, Any], json.loads(block.group(1)))


def _shape(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {
        "top": set(doc),
        "cluster": set(doc["clusters"][0]),
        "service": set(doc["services"][0]),
        "line": set(doc["services"][0]["lines"][0]),
        "orphan": set(doc["orphans"][0]),
        "finding": set(doc["findings"][0]),
        "totals": set(doc["totals"]),
        "by_namespace": set(doc["totals"]["by_namespace"][0]),
        "by_kind": set(doc["totals"]["by_kind"][0]),
    }


def test_json_matches_the_documented_schema(fleet: Fleet) -> None:
    proc = ccm("audit", *fleet.flags(), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "ccm.dev/audit/v1"
    doc["services"].sort(key=lambda s: -len(s["lines"]))  # one with a cost line first
    assert _shape(doc) == _shape(_documented())


def _price_file(tmp: Path, **changes: Any) -> Path:
    data = json.loads((files("providers.aws") / "data" / "prices.json").read_text())
    data.update(changes)
    path = tmp / "prices.json"
    path.write_text(json.dumps(data))
    return path


def test_bad_inputs_fail_loudly_and_print_no_report(fleet: Fleet, tmp_path: Path) -> None:
    regions = json.loads((files("providers.aws") / "data" / "prices.json").read_text())["regions"]
    no_region = _price_file(tmp_path, regions={"eu-west-1": regions["eu-west-1"]})
    proc = ccm("audit", *fleet.flags(), "--prices", str(no_region))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no prices for region 'us-east-1'" in proc.stderr and "eu-west-1" in proc.stderr

    (tmp_path / "broken.json").write_text('{"schema": "ccm.dev/prices/v1", "provider": "aws",')
    proc = ccm("audit", *fleet.flags(), "--prices", str(tmp_path / "broken.json"))
    assert proc.returncode == 2 and proc.stdout == "" and "not a JSON object" in proc.stderr

    bad_rate = json.loads(no_region.read_text())
    bad_rate["regions"] = {"us-east-1": {**regions["us-east-1"], "nlb": "cheap"}}
    no_region.write_text(json.dumps(bad_rate))
    proc = ccm("audit", *fleet.flags(), "--prices", str(no_region))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "regions.us-east-1.nlb: 'cheap' is not a price" in proc.stderr

    dead = yaml.safe_load(fleet.kubeconfig.read_text())
    dead["clusters"][1]["cluster"]["server"] = "http://127.0.0.1:9"  # nothing listens
    unreachable = tmp_path / "dead.kubeconfig"
    unreachable.write_text(yaml.safe_dump(dead))
    flags = fleet.flags()
    flags[flags.index(str(fleet.kubeconfig))] = str(unreachable)
    proc = ccm("audit", *flags)
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"cluster {POOL_CLUSTER.name} (pool, context pool): cannot list Services" in proc.stderr

    proc = ccm("audit", *fleet.flags(), "--context", "third")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--provider: given 2 times for 3 clusters" in proc.stderr


def test_capacity_units_add_an_estimate_and_a_bad_annotation_is_named(fleet: Fleet) -> None:
    base = json.loads(ccm("audit", *fleet.flags(), "-o", "json").stdout)
    fleet.aws_core.patch_namespaced_service(
        "web", "default", {"metadata": {"annotations": {"ccm.dev/capacity-units": "lots"}}}
    )
    fleet.aws_core.patch_namespaced_service(
        "db", "default", {"metadata": {"annotations": {"ccm.dev/capacity-units": "2.5"}}}
    )
    proc = ccm("audit", *fleet.flags(), "-o", "json", "--capacity-units", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Service default/web: annotation ccm.dev/capacity-units: 'lots'" in proc.stderr
    before, after = _by_name(base), _by_name(json.loads(proc.stdout))
    aws = AWS_CLUSTER.name
    db = after[f"{aws}/default/db"]
    assert db["monthly"] == round((PRICES["nlb"] + 2.5 * PRICES["nlcu"]) * HOURS, 2)
    assert db["exact"] is False and before[f"{aws}/default/db"]["exact"] is True
    web = after[f"{aws}/default/web"]  # bad annotation: the flag's 1 unit applies
    assert web["monthly"] == round(
        before[f"{aws}/default/web"]["hourly"] * HOURS + PRICES["nlcu"] * HOURS, 2
    )

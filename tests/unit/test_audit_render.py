"""The audit's HTML and CSV renderers, on a hand-made `ccm.dev/audit/v1` document."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from typing import Any

import pytest

from ccm.audit.csv_out import COLUMNS, render_csv
from ccm.audit.html import render_html

EVIL = "<script>alert(1)</script>"
BALANCED = ("html", "body", "main", "section", "table", "thead", "tbody", "tr", "svg", "g")


def sample_doc() -> dict[str, Any]:
    """Two clusters, four Services (one pending, one hostile name), an orphan, two findings."""
    return {
        "schema": "ccm.dev/audit/v1",
        "generated": "2026-12-07T13:10:00Z",
        "currency": "USD",
        "hours_per_month": 730,
        "clusters": [
            {
                "context": "kind-prod",
                "provider": "aws",
                "cluster": "prod",
                "region": "us-east-1",
                "prices": {
                    "source": "https://aws.amazon.com/elasticloadbalancing/pricing/",
                    "date": "2026-12-07",
                    "file": "providers/aws/data/prices.json",
                },
                "services": 3,
                "load_balancers": 3,
                "pending": 0,
                "monthly": 63.87,
                "monthly_estimated": 0.0,
                "orphans_monthly": 16.43,
            },
            {
                "context": "lab",
                "provider": "pool",
                "cluster": "lab",
                "region": "",
                "prices": {"source": "flat rate", "date": "2026-12-01", "file": ""},
                "services": 1,
                "load_balancers": 0,
                "pending": 1,
                "monthly": 0.0,
                "monthly_estimated": 0.0,
                "orphans_monthly": 0.0,
            },
        ],
        "services": [
            service("prod", "default", "web", "nlb", monthly=23.73, hourly=0.0325),
            service("prod", "shop", "front", "alb", monthly=23.71, hourly=0.032479),
            service("prod", "shop", EVIL, "clb", monthly=0.0, hourly=0.0, exact=False),
            service(
                "lab",
                "default",
                "pending",
                "address",
                provider="pool",
                state="pending",
                controller="none",
                ready=None,
                monthly=0.0,
                hourly=0.0,
            ),
        ],
        "orphans": [
            {
                "cluster": "prod",
                "provider": "aws",
                "kind": "load-balancer",
                "id": "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/y",
                "name": "ccm-4863b097cf-4f5792",
                "owner": {"namespace": "default", "name": "api", "uid": "e6b0"},
                "controller": "ccm",
                "reason": "service-gone",
                "detail": "no Service with uid e6b0",
                "age_seconds": 10800.0,
                "hourly": 0.0225,
                "monthly": 16.43,
                "exact": True,
            }
        ],
        "findings": [
            {
                "type": "consolidate-http",
                "category": "saving",
                "cluster": "prod",
                "services": ["default/web", "shop/front"],
                "monthly_saving": 30.66,
                "reason": "2 HTTP Services pay for 2 load balancers; one Ingress would do",
            },
            {
                "type": "open-admin-port",
                "category": "risk",
                "cluster": "prod",
                "services": [f"shop/{EVIL}"],
                "monthly_saving": 0,
                "reason": "TCP/22 open to 0.0.0.0/0",
            },
        ],
        "totals": {
            "hourly": 0.087479,
            "monthly": 63.87,
            "monthly_estimated": 0.0,
            "orphans_monthly": 16.43,
            "savings_monthly": 30.66,
            "by_namespace": [
                {"cluster": "prod", "namespace": "default", "services": 1, "monthly": 23.73},
                {"cluster": "prod", "namespace": "shop", "services": 2, "monthly": 23.71},
                {"cluster": "lab", "namespace": "default", "services": 1, "monthly": 0.0},
            ],
            "by_kind": [
                {"provider": "aws", "kind": "nlb", "count": 1, "monthly": 23.73},
                {"provider": "aws", "kind": "alb", "count": 1, "monthly": 23.71},
                {"provider": "aws", "kind": "clb", "count": 1, "monthly": 0.0},
                {"provider": "pool", "kind": "address", "count": 1, "monthly": 0.0},
            ],
        },
    }


def service(cluster: str, namespace: str, name: str, kind: str, **extra: Any) -> dict[str, Any]:
    pending = extra.get("state") == "pending"
    return {
        "cluster": cluster,
        "provider": extra.get("provider", "aws"),
        "namespace": namespace,
        "name": name,
        "uid": f"uid-{cluster}-{namespace}-{len(name)}",
        "kind": kind,
        "scheme": "internet-facing",
        "controller": extra.get("controller", "ccm"),
        "ports": ["TCP/80", "TCP/443"],
        "addresses": [] if pending else [f"{name}.example"],
        "public_ips": 0 if pending else 2,
        "state": extra.get("state", "active"),
        "ready_endpoints": extra.get("ready", 3),
        "hourly": extra["hourly"],
        "monthly": extra["monthly"],
        "exact": extra.get("exact", True),
        "lines": [],
        "resources": [],
    }


class Collector(HTMLParser):
    """Records tags, attributes and text, and fails on an end tag that closes nothing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.rects: dict[str, int] = {}
        self.text: list[str] = []
        self.errors: list[str] = []
        self._svg: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.starts.append((tag, attributes))
        if tag == "svg":
            self._svg = attributes.get("id") or ""
            self.rects.setdefault(self._svg, 0)
        if tag == "rect" and self._svg is not None:
            self.rects[self._svg] += 1
        if tag in BALANCED:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        if tag not in BALANCED:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attr(self, name: str) -> list[str]:
        return [value for _, attrs in self.starts if (value := attrs.get(name)) is not None]


def parse(page: str) -> Collector:
    parser = Collector()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


@pytest.fixture
def page() -> str:
    return render_html(sample_doc())


def test_html_is_well_formed_with_the_expected_sections(page: str) -> None:
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    sections = {attrs.get("id") for tag, attrs in parsed.starts if tag == "section"}
    assert sections == {"summary", "charts", "findings", "services", "orphans"}
    assert sum(1 for tag, _ in parsed.starts if tag == "table") == 3


def test_charts_have_one_bar_per_entry_and_an_accessible_title(page: str) -> None:
    parsed = parse(page)
    totals = sample_doc()["totals"]
    assert parsed.rects == {
        "chart-by-namespace": len(totals["by_namespace"]),
        "chart-by-kind": len(totals["by_kind"]),
    }
    svgs = [attrs for tag, attrs in parsed.starts if tag == "svg"]
    assert all(attrs.get("role") == "img" for attrs in svgs)
    assert sum(1 for tag, _ in parsed.starts if tag == "title") >= 3  # page + two charts
    text = "".join(parsed.text)
    assert "prod/default" in text and "aws nlb" in text and "$23.73" in text


def test_every_service_has_its_row(page: str) -> None:
    rows = parse(page).attr("data-service")
    expected = [f"{s['cluster']}/{s['namespace']}/{s['name']}" for s in sample_doc()["services"]]
    assert rows == expected


def test_page_fetches_nothing_and_runs_nothing(page: str) -> None:
    parsed = parse(page)
    assert "<script" not in page.lower()
    assert all(tag != "script" for tag, _ in parsed.starts)
    for tag, attrs in parsed.starts:
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name) or ""
            assert "http" not in value.lower(), (tag, name, value)
    assert all(tag not in ("link", "img", "iframe", "object") for tag, _ in parsed.starts)
    # The price source is still shown, as text.
    assert "https://aws.amazon.com/elasticloadbalancing/pricing/" in "".join(parsed.text)


def test_hostile_names_are_escaped(page: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = parse(page)
    assert f"prod/shop/{EVIL}" in parsed.attr("data-service")
    assert EVIL in "".join(parsed.text)


def test_money_and_flags_are_formatted(page: str) -> None:
    text = "".join(parse(page).text)
    assert "$63.87" in text and "$16.43" in text and "$30.66" in text
    assert "$0.0325" in text  # hourly keeps its sub-cent digits
    assert "estimate" in text and "exact" in text
    assert "unknown" in text  # ready_endpoints null
    assert "3h" in text  # orphan age


def test_risks_are_distinct_from_savings(page: str) -> None:
    classes = [attrs.get("class") for tag, attrs in parse(page).starts if tag == "tr"]
    assert "risk" in classes and "saving" in classes


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"schema": "ccm.dev/audit/v1", "clusters": [], "services": [], "orphans": []},
        {"totals": {"by_namespace": [{"cluster": "c", "namespace": "n", "monthly": 0}]}},
    ],
)
def test_empty_documents_render(doc: dict[str, Any]) -> None:
    page = render_html(doc)
    parsed = parse(page)
    assert "none" in "".join(parsed.text)
    assert {"chart-by-namespace", "chart-by-kind"} <= set(parsed.rects)
    assert parsed.attr("data-service") == []
    assert sum(1 for tag, _ in parsed.starts if tag == "table") == 0


def test_all_zero_chart_draws_empty_bars() -> None:
    doc = sample_doc()
    for row in doc["totals"]["by_kind"]:
        row["monthly"] = 0
    parsed = parse(render_html(doc))
    assert parsed.rects["chart-by-kind"] == len(doc["totals"]["by_kind"])
    widths = [
        attrs.get("width")
        for tag, attrs in parsed.starts
        if tag == "rect" and attrs.get("class") == "bar"
    ]
    assert "0.0" in widths


def read_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_csv_has_a_row_per_service_and_orphan() -> None:
    doc = sample_doc()
    rows = read_csv(render_csv(doc))
    assert len(rows) == len(doc["services"]) + len(doc["orphans"])
    assert [r["record"] for r in rows] == ["service"] * 4 + ["orphan"]

    web = rows[0]
    assert web["cluster"] == "prod" and web["namespace"] == "default" and web["name"] == "web"
    assert web["ports"] == "TCP/80 TCP/443"
    assert web["public_ips"] == "2" and web["ready_endpoints"] == "3"
    assert float(web["hourly"]) == 0.0325 and float(web["monthly"]) == 23.73
    assert web["exact"] == "true" and web["reason"] == "" and web["state"] == "active"

    assert rows[2]["name"] == EVIL and rows[2]["exact"] == "false"
    assert rows[3]["state"] == "pending" and rows[3]["ready_endpoints"] == ""

    orphan = rows[4]
    assert (orphan["namespace"], orphan["name"], orphan["uid"]) == ("default", "api", "e6b0")
    assert orphan["reason"] == "service-gone" and orphan["state"] == ""
    assert orphan["kind"] == "load-balancer" and float(orphan["monthly"]) == 16.43


def test_csv_orphan_without_owner_and_empty_doc() -> None:
    doc = sample_doc()
    doc["services"] = []
    doc["orphans"][0]["owner"] = None
    rows = read_csv(render_csv(doc))
    assert len(rows) == 1
    assert (rows[0]["namespace"], rows[0]["name"], rows[0]["uid"]) == ("", "", "")
    assert read_csv(render_csv({})) == []

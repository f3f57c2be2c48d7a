"""Price files: every malformed or incomplete file is refused with the field named, and
the AWS cost model puts list prices on exactly what AWS bills."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccm.model import OwnedResource
from ccm.pricing import PriceFileError, monthly, parse_price_file
from providers.aws.costs import consolidated_cost, cost_lines
from providers.aws.prices import load_prices


def _file(**override: Any) -> str:
    data: dict[str, Any] = {
        "schema": "ccm.dev/prices/v1",
        "provider": "aws",
        "source": "https://example.invalid/pricing",
        "date": "2026-12-07",
        "currency": "USD",
        "flat_rate": "nlb",
        "rates": {"nlb": "NLB hour", "public_ipv4": "IPv4 hour"},
        "regions": {"r1": {"nlb": 0.02, "public_ipv4": 0.005}},
    }
    data.update(override)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{not json", "not JSON"),
        (_file(schema="v0"), "schema"),
        (_file(provider="gcp"), "provider"),
        (_file(date="yesterday"), "date"),
        (_file(source=""), "source"),
        (_file(regions={"r2": {"nlb": 0.02, "public_ipv4": 0.005}}), "no prices for region 'r1'"),
        (_file(regions={"r1": {"nlb": 0.02}}), "missing rates: public_ipv4"),
        (_file(regions={"r1": {"nlb": "cheap", "public_ipv4": 0.005}}), "regions.r1.nlb"),
        (_file(regions={"r1": {"nlb": -1, "public_ipv4": 0.005}}), "regions.r1.nlb"),
        (_file(flat_rate="clb"), "flat_rate"),
        (_file(estimated={"r1": ["lcu"]}), "estimated.r1"),
    ],
)
def test_bad_price_files_are_refused_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(PriceFileError, match=r"prices\.json") as e:
        parse_price_file(text, file="prices.json", provider="aws", region="r1")
    assert field in str(e.value)


def test_bundled_aws_prices_cover_their_regions_and_refuse_others() -> None:
    book = load_prices("us-east-1")
    assert book.hourly["nlb"] == 0.0225 and book.source and book.date == "2026-12-07"
    assert "clb" in load_prices("eu-west-1").estimated
    with pytest.raises(PriceFileError, match="ap-south-1"):
        load_prices("ap-south-1")


def _lb(kind: str, scheme: str, zones: int) -> OwnedResource:
    return OwnedResource(
        "aws", "load-balancer", f"arn-{kind}-{scheme}", "c", None,
        details={"price_key": kind, "scheme": scheme, "zones": zones},
    )  # fmt: skip


def test_aws_cost_lines_are_list_prices_times_what_aws_bills() -> None:
    book = load_prices("us-east-1")
    nlb, alb, internal = (
        _lb("nlb", "internet-facing", 3),
        _lb("alb", "internet-facing", 2),
        _lb("nlb", "internal", 3),
    )
    tg = OwnedResource("aws", "target-group", "tg", "c", None)
    units = {nlb.key: 2.0}
    lines = cost_lines([nlb, alb, internal, tg], book, lambda r: units.get(r.key))
    assert monthly(lines[nlb.key]) == round((0.0225 + 3 * 0.005 + 2 * 0.006) * 730, 2)
    assert [c.exact for c in lines[nlb.key]] == [True, True, False]  # units are usage
    assert monthly(lines[alb.key]) == round((0.0225 + 2 * 0.005) * 730, 2)
    assert not lines[alb.key][1].exact  # ALB adds addresses as it scales
    assert monthly(lines[internal.key]) == round(0.0225 * 730, 2)
    assert lines[tg.key] == []
    assert monthly(consolidated_cost(book, "internal")) == round(0.0225 * 730, 2)

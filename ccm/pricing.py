"""Price files and the cost of inventoried resources, shared by the audit and the leak
detector so both put the same figure on the same resource.

A price file is versioned data, not code: per region the hourly list price of each
billable item, the page it was read from and the date. A file that does not parse or
lacks a field is an error that names the field; a region the file does not cover is an
error too, because a silent fallback would print another region's prices as exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from ccm.driver import CostAwareDriver, Driver
from ccm.model import CostLine, OwnedResource, PriceBook

SCHEMA = "ccm.dev/prices/v1"
HOURS_PER_MONTH = 730.0
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

CapacityUnits = Callable[[OwnedResource], float | None]
ResourceKey = tuple[str, str, str]


class PriceFileError(ValueError):
    """The price file is unusable; the message names the file and the field."""


def parse_price_file(text: str, *, file: str, provider: str, region: str) -> PriceBook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PriceFileError(f"{file}: not JSON: {e}") from e
    if not isinstance(data, dict):
        raise PriceFileError(f"{file}: must be a JSON object with schema {SCHEMA!r}")
    if data.get("schema") != SCHEMA:
        raise PriceFileError(f"{file}: schema: {data.get('schema')!r}, expected {SCHEMA!r}")
    if data.get("provider") != provider:
        raise PriceFileError(
            f"{file}: provider: {data.get('provider')!r}, but the driver is {provider!r}"
        )
    for key in ("source", "date", "currency"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PriceFileError(f"{file}: {key}: a non-empty string is required")
    if not _DATE.match(data["date"]):
        raise PriceFileError(f"{file}: date: {data['date']!r} is not YYYY-MM-DD")
    rates = data.get("rates")
    if not isinstance(rates, dict) or not rates:
        raise PriceFileError(f"{file}: rates: an object of rate key -> description is required")
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise PriceFileError(f"{file}: regions: an object of region -> rates is required")
    if region not in regions:
        raise PriceFileError(
            f"{file}: regions: no prices for region {region!r} (the file has "
            f"{', '.join(sorted(regions))}); pass --prices FILE with that region"
        )
    hourly = _rates(file, region, regions[region], rates)
    flat = data.get("flat_rate", "")
    if flat and flat not in rates:
        raise PriceFileError(f"{file}: flat_rate: {flat!r} is not one of the rates")
    estimated = (data.get("estimated") or {}).get(region, [])
    if not isinstance(estimated, list) or any(k not in rates for k in estimated):
        raise PriceFileError(
            f"{file}: estimated.{region}: must list rate keys from: {', '.join(rates)}"
        )
    return PriceBook(
        provider=provider,
        region=region,
        currency=data["currency"],
        hourly=hourly,
        source=data["source"],
        date=data["date"],
        descriptions={str(k): str(v) for k, v in rates.items()},
        estimated=frozenset(estimated),
        flat_rate=flat,
        file=file,
    )


def load_prices(package: str, provider: str, region: str, override: str | None = None) -> PriceBook:
    """A driver's bundled `<package>/data/prices.json`, or the file the user named."""
    if override:
        try:
            text = Path(override).read_text()
        except OSError as e:
            raise PriceFileError(f"{override}: cannot read: {e.strerror}") from e
        return parse_price_file(text, file=override, provider=provider, region=region)
    text = (files(package) / "data" / "prices.json").read_text()
    bundled = package.replace(".", "/") + "/data/prices.json"
    return parse_price_file(text, file=bundled, provider=provider, region=region)


def _rates(file: str, region: str, values: Any, rates: Mapping[str, Any]) -> dict[str, float]:
    where = f"{file}: regions.{region}"
    if not isinstance(values, dict):
        raise PriceFileError(f"{where}: must be an object of rate key -> USD per hour")
    missing = sorted(set(rates) - set(values))
    if missing:
        raise PriceFileError(f"{where}: missing rates: {', '.join(missing)}")
    out: dict[str, float] = {}
    for key, value in values.items():
        if key not in rates:
            raise PriceFileError(f"{where}.{key}: unknown rate (known: {', '.join(rates)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PriceFileError(f"{where}.{key}: {value!r} is not a price (a number >= 0)")
        out[key] = float(value)
    return out


def line(
    prices: PriceBook, item: str, quantity: float, exact: bool = True, note: str = ""
) -> CostLine:
    """A cost line at the book's rate; exact only if the book lists that rate exactly."""
    if item not in prices.hourly:
        raise PriceFileError(
            f"{prices.file or prices.provider}: regions.{prices.region}: no rate {item!r}"
        )
    listed = item not in prices.estimated
    return CostLine(
        item=item,
        description=prices.descriptions.get(item, item),
        quantity=quantity,
        rate=prices.hourly[item],
        exact=exact and listed,
        note=note if listed else "; ".join(n for n in (note, "rate estimated") if n),
    )


def fallback_lines(
    resources: Sequence[OwnedResource], prices: PriceBook
) -> dict[ResourceKey, list[CostLine]]:
    """For a driver without its own cost model: one unit of the rate named by the
    resource's price key (or kind); resources with no rate cost nothing."""
    out: dict[ResourceKey, list[CostLine]] = {}
    for r in resources:
        key = str(r.details.get("price_key", r.kind))
        out[r.key] = [line(prices, key, 1)] if key in prices.hourly else []
    return out


def hourly(lines: Sequence[CostLine]) -> float:
    return sum(c.hourly for c in lines)


def monthly(lines: Sequence[CostLine]) -> float:
    return round(hourly(lines) * HOURS_PER_MONTH, 2)


def exact(lines: Sequence[CostLine]) -> bool:
    return all(c.exact for c in lines)


def resource_costs(
    driver: Driver,
    resources: Sequence[OwnedResource],
    prices: PriceBook,
    capacity_units: CapacityUnits = lambda r: None,
) -> dict[ResourceKey, list[CostLine]]:
    if isinstance(driver, CostAwareDriver):
        return driver.cost_lines(resources, prices, capacity_units)
    return fallback_lines(resources, prices)


def consolidated_cost(driver: Driver, prices: PriceBook, scheme: str) -> list[CostLine]:
    if isinstance(driver, CostAwareDriver):
        return driver.consolidated_cost(prices, scheme)
    return [line(prices, prices.flat_rate, 1, exact=False)] if prices.flat_rate else []

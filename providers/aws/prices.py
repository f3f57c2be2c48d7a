"""List prices per region from a versioned data file, so the audit can cite its figures."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from ccm.model import PriceBook


def load_prices(region: str, override: str | None = None) -> PriceBook:
    text = (
        Path(override).read_text()
        if override
        else (files("providers.aws") / "data" / "prices.json").read_text()
    )
    data = json.loads(text)
    regions = data["regions"]
    rates = regions.get(region) or regions["us-east-1"]
    note = "" if region in regions else f" (no {region} entry: us-east-1 rates used)"
    return PriceBook(
        provider="aws",
        region=region,
        currency=data.get("currency", "USD"),
        hourly=dict(rates),
        source=str(data.get("source", "")) + note,
        date=str(data.get("date", "")),
    )

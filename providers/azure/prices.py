"""List prices per region from a versioned data file, so the audit can cite its figures."""

from __future__ import annotations

from ccm.model import PriceBook
from ccm.pricing import load_prices as _load

BUNDLED = "providers/azure/data/prices.json"


def load_prices(region: str, override: str | None = None) -> PriceBook:
    return _load("providers.azure", "azure", region, override)

"""List prices per region from a versioned data file, so the audit can cite its figures."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ccm.model import PriceBook
from ccm.pricing import PriceFileError, parse_price_file

BUNDLED = "providers/aws/data/prices.json"


def load_prices(region: str, override: str | None = None) -> PriceBook:
    if override:
        try:
            text = Path(override).read_text()
        except OSError as e:
            raise PriceFileError(f"{override}: cannot read: {e.strerror}") from e
        return parse_price_file(text, file=override, provider="aws", region=region)
    text = (files("providers.aws") / "data" / "prices.json").read_text()
    return parse_price_file(text, file=BUNDLED, provider="aws", region=region)

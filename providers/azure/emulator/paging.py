"""List pages: ``{"value": [...], "nextLink": ...}``, continued with ``$skiptoken``.

The SDK's ItemPaged follows ``nextLink`` verbatim (it adds nothing, not even the
api-version), so the link is absolute and carries the query. The token is the sort key
of the last item served, so a page boundary does not skip or repeat items when
resources are created or deleted between pages, as ARM's tokens behave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import quote

from providers.azure.emulator.world import Body


def page(
    items: Sequence[tuple[str, Body]],
    skiptoken: str,
    size: int,
    next_url: Callable[[str], str],
) -> Body:
    """One page of `items` (``(sort key, rendered body)``, sorted) after `skiptoken`."""
    rest = [(k, b) for k, b in items if not skiptoken or k > skiptoken]
    chunk = rest[:size]
    out: Body = {"value": [b for _, b in chunk]}
    if len(rest) > size:
        out["nextLink"] = next_url(quote(chunk[-1][0], safe=""))
    return out

"""URL paths to what they address: a collection, a resource, a child, an operation.

ARM's paths are case-insensitive in their fixed words (``resourceGroups`` and
``resourcegroups`` both arrive from real clients) and in resource type names, so matching
ignores case there; names keep the casing they were sent with.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from providers.azure.emulator.ids import PROVIDER


@dataclass(frozen=True)
class Route:
    """What a path addresses. `shape` is one of: ``list_all`` (a kind across the
    subscription), ``list``, ``resource``, ``children``, ``child``, ``operation`` and
    ``operation_result``."""

    shape: str
    subscription: str
    resource_group: str = ""
    kind: str = ""
    name: str = ""
    child_kind: str = ""
    child_name: str = ""
    location: str = ""
    operation: str = ""


def _is(segment: str, word: str) -> bool:
    return segment.lower() == word.lower()


def parse_path(path: str) -> Route | None:
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if len(parts) < 5 or not _is(parts[0], "subscriptions"):
        return None
    sub = parts[1]
    if _is(parts[2], "providers") and _is(parts[3], PROVIDER):
        rest = parts[4:]
        if len(rest) == 1:
            return Route("list_all", sub, kind=rest[0])
        if len(rest) == 4 and _is(rest[0], "locations"):
            if _is(rest[2], "operations"):
                return Route("operation", sub, location=rest[1], operation=rest[3])
            if _is(rest[2], "operationResults"):
                return Route("operation_result", sub, location=rest[1], operation=rest[3])
        return None
    if len(parts) < 7 or not _is(parts[2], "resourceGroups"):
        return None
    if not (_is(parts[4], "providers") and _is(parts[5], PROVIDER)):
        return None
    rg, rest = parts[3], parts[6:]
    shapes = {1: "list", 2: "resource", 3: "children", 4: "child"}
    if len(rest) not in shapes:
        return None
    padded = [*rest, "", "", ""][:4]
    return Route(shapes[len(rest)], sub, rg, padded[0], padded[1], padded[2], padded[3])

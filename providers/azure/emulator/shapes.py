"""Reading request bodies the way Microsoft.Network does, shared by every kind.

Drivers rarely build bodies from scratch: they GET a resource, change it and PUT it
back, so a body arrives full of what the server wrote (``id``, ``etag``,
``provisioningState``, back-references such as a frontend's ``loadBalancingRules``).
ARM ignores those, keeps every writable field it is sent and rebuilds the rest; these
helpers do the same, so a round-tripped body means what its writable fields say.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from providers.azure.emulator.errors import (
    bad_request,
    duplicate_name,
    invalid_format,
)
from providers.azure.emulator.ids import PROVIDER, child_id, last_segment
from providers.azure.emulator.world import Body

ALWAYS_READ_ONLY = frozenset({"provisioningState", "resourceGuid"})
TOP_READ_ONLY = frozenset({"id", "name", "type", "etag", "properties"})


def type_name(kind: str, child_kind: str = "") -> str:
    """``Microsoft.Network/loadBalancers`` or ``.../loadBalancers/frontendIPConfigurations``."""
    return f"{PROVIDER}/{kind}/{child_kind}" if child_kind else f"{PROVIDER}/{kind}"


def properties_of(obj: Mapping[str, Any], where: str) -> Body:
    """A private copy of ``obj["properties"]`` ({} when absent)."""
    value = obj.get("properties")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_format(f"'properties' of {where} must be an object.")
    return copy.deepcopy(value)


def writable(props: Mapping[str, Any], read_only: Iterable[str] = ()) -> Body:
    """The properties a client may set: everything but the server-maintained ones."""
    drop = ALWAYS_READ_ONLY | frozenset(read_only)
    return {k: copy.deepcopy(v) for k, v in props.items() if k not in drop}


def top_level(body: Mapping[str, Any]) -> Body:
    """Top-level fields a client may set that the kind does not interpret (zones, ...)."""
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in TOP_READ_ONLY}


def location(body: Mapping[str, Any], old: Body | None, resource_id: str) -> str:
    """The normalised location (``East US`` is ``eastus``), which a resource cannot change."""
    raw = body.get("location")
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request(
            "LocationRequired", "The location property is required for this definition."
        )
    value = raw.replace(" ", "").lower()
    if old is not None and old.get("location") != value:
        raise bad_request(
            "InvalidResourceLocation",
            f"The resource '{resource_id}' already exists in location '{old.get('location')}'. "
            f"A resource with the same name cannot be created in location '{value}'.",
        )
    return value


def tags(body: Mapping[str, Any]) -> dict[str, str] | None:
    value = body.get("tags")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise invalid_format("'tags' must map strings to strings.")
    if len(value) > 50:
        raise bad_request(
            "InvalidTagNameOrValue", "The resource has more than the maximum of 50 tags."
        )
    return dict(value)


def assemble(body: Mapping[str, Any], where: str, props: Body, **fields: Any) -> Body:
    """The stored top level: the client's uninterpreted fields, then location, tags (when
    sent), the kind's own fields (sku) and properties."""
    out = top_level(body)
    out["location"] = where
    sent_tags = tags(body)
    if sent_tags is not None:
        out["tags"] = sent_tags
    out.update(fields)
    out["properties"] = props
    return out


def children(parent_id: str, child_kind: str, items: Any) -> list[tuple[str, Body]]:
    """``(name, writable-candidate properties)`` of each child in a collection, in order;
    a child's name may also come from its ``id``, and two children may not share one."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid_format(f"'{child_kind}' must be an array.")
    out: list[tuple[str, Body]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise invalid_format(f"Every element of '{child_kind}' must be an object.")
        name = item.get("name")
        if not name and isinstance(item.get("id"), str):
            name = last_segment(item["id"])
        if not isinstance(name, str) or not name:
            raise invalid_format(f"An element of '{child_kind}' of {parent_id} has no name.")
        if name.lower() in seen:
            raise duplicate_name(parent_id, name)
        seen.add(name.lower())
        out.append((name, properties_of(item, f"{child_kind}/{name}")))
    return out


def make_child(parent_id: str, kind: str, child_kind: str, name: str, props: Body) -> Body:
    """A child as Microsoft.Network renders it (the store stamps its etag)."""
    props["provisioningState"] = "Succeeded"
    return {
        "name": name,
        "id": child_id(parent_id, child_kind, name),
        "type": type_name(kind, child_kind),
        "properties": props,
    }


def ref(value: Any, field: str) -> str | None:
    """The ID in a ``{"id": ...}`` reference (the rest of an embedded resource is ignored)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise invalid_format(f'\'{field}\' must be a reference of the form {{"id": "..."}}.')
    result: str = value["id"]
    return result


def enum(value: Any, allowed: Iterable[str], field: str, default: str | None = None) -> str:
    """Azure's canonical spelling of a case-insensitive enum value."""
    options = list(allowed)
    if value is None and default is not None:
        return default
    if isinstance(value, str):
        for option in options:
            if option.lower() == value.lower():
                return option
    raise invalid_format(
        f"Value '{value}' of '{field}' is not valid; expected one of {', '.join(options)}."
    )


def integer(value: Any, field: str, low: int, high: int, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_format(f"'{field}' must be an integer from {low} to {high}, not {value!r}.")
    return value

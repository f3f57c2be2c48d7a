"""What the per-collection rules may ask of the emulator's state, and the checks they share.

The rules (``lb_rules``, ``network_rules``) validate and complete a resource the way GCP
does on insert and patch; they see the state only through :class:`World`, so they stay
free of locking and of how resources and operations are stored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from providers.gcp.emulator.errors import invalid, required
from providers.gcp.emulator.urls import parse

Body = dict[str, Any]

_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


class World(Protocol):
    """The state as the rules see it; every method is called with the state's lock held."""

    @property
    def project(self) -> str: ...

    def zone_region(self, zone: str) -> str:
        """The region a zone is in."""
        ...

    def resolve(self, reference: str, field: str, collections: Collection[str]) -> tuple[str, Body]:
        """Path and body of a referenced resource: 400 if malformed or of another
        collection, 404 if missing, 400 resourceNotReady if its insert is still pending."""
        ...

    def held(self) -> list[tuple[str, Body]]:
        """Every resource that exists or that a pending operation will create."""
        ...

    def committed(self) -> list[tuple[str, Body]]:
        """Every resource that exists (its insert operation is DONE)."""
        ...

    def members(self, group_path: str) -> list[str]:
        """The instance paths in an instance group."""
        ...

    def url(self, path: str) -> str:
        """The selfLink of a project-relative path."""
        ...


def region_of(path: str) -> str:
    parts = path.split("/")
    return parts[1] if parts[0] == "regions" else ""


def zone_of(path: str) -> str:
    parts = path.split("/")
    return parts[1] if parts[0] == "zones" else ""


def enum(body: Body, field: str, allowed: Sequence[str], default: str | None = None) -> str:
    """A string enum field, defaulted when absent; anything outside `allowed` is a 400."""
    value = body.get(field)
    if value in (None, ""):
        if default is None:
            raise required(f"resource.{field}")
        body[field] = value = default
    if value not in allowed:
        raise invalid(f"resource.{field}", value, f"Must be one of [{', '.join(allowed)}].")
    return str(value)


def integer(body: Body, field: str, default: int | None, low: int, high: int) -> int | None:
    """An integer field (JSON may carry it as a string), defaulted and range-checked."""
    value = body.get(field)
    if value is None:
        if default is None:
            return None
        body[field] = value = default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"resource.{field}", value, "Must be an integer.") from None
    if not low <= number <= high:
        raise invalid(f"resource.{field}", value, f"Must be between {low} and {high}.")
    body[field] = number
    return number


def string_list(body: Body, field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"resource.{field}", value, "Must be a list of strings.")
    return list(value)


def reference(
    world: World,
    body: Body,
    field: str,
    collections: Collection[str],
    *,
    label: str = "",
    default: str = "",
) -> tuple[str, Body] | None:
    """Resolve a reference field and rewrite it to the full URL, as GCP echoes it."""
    value = body.get(field) or default
    if not value:
        return None
    if not isinstance(value, str):
        raise invalid(label or f"resource.{field}", value, "The URL is malformed.")
    path, target = world.resolve(value, label or f"resource.{field}", collections)
    body[field] = world.url(path)
    return path, target


def check_labels(body: Body) -> None:
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or len(labels) > 64:
        raise invalid("resource.labels", labels, "Must be a map of at most 64 labels.")
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(str(key)):
            raise invalid(f"resource.labels.{key}", key, "Label keys must match [a-z][a-z0-9_-]*.")
        if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            raise invalid(
                f"resource.labels.{key}", value, "Label values must match [a-z0-9_-]{0,63}."
            )


def subnetwork_for(
    world: World, body: Body, region: str, label: str, *, default_network: str = ""
) -> tuple[str, Body]:
    """The subnetwork an internal IP comes from: the one named, or the network's only one
    in the region; fills both `network` and `subnetwork` with full URLs."""
    net = reference(world, body, "network", ("networks",), label=f"{label}.network", default="")
    if body.get("subnetwork"):
        found = reference(world, body, "subnetwork", ("subnetworks",), label=f"{label}.subnetwork")
        assert found is not None
        path, subnet = found
        if region_of(path) != region:
            raise invalid(
                f"{label}.subnetwork", body["subnetwork"], f"Subnetwork must be in region {region}."
            )
        if net is not None and parse(subnet["network"], world.project).path != net[0]:
            raise invalid(
                f"{label}.subnetwork", body["subnetwork"], "Subnetwork is not in the given network."
            )
        body["network"] = subnet["network"]
        return path, subnet
    if net is None and default_network:
        net = reference(
            world, body, "network", ("networks",), label=f"{label}.network", default=default_network
        )
    if net is not None:
        for path, subnet in sorted(world.committed()):
            if path.startswith(f"regions/{region}/subnetworks/") and (
                parse(subnet["network"], world.project).path == net[0]
            ):
                body["subnetwork"] = world.url(path)
                return path, subnet
        raise invalid(
            f"{label}.network", body["network"], f"The network has no subnetwork in {region}."
        )
    raise required(f"{label}.subnetwork")

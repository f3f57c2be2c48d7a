"""ARM resource IDs: built the way Azure spells them, compared the way Azure compares them.

Everything in ARM refers to everything else by ID
(``/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}``,
children one ``/{childKind}/{childName}`` deeper), and ARM treats IDs as
case-insensitive: a driver may send back ``resourcegroups`` or a differently cased group
name and still mean the same resource. So lookups go through :func:`key`, while the IDs
the emulator hands out keep the casing of the request that created the resource.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

PROVIDER = "Microsoft.Network"


def key(resource_id: str) -> str:
    """The case-insensitive identity of an ID."""
    return resource_id.strip().rstrip("/").lower()


def new_etag() -> str:
    """A fresh etag in Microsoft.Network's weak form, ``W/"<uuid>"``."""
    return f'W/"{uuid.uuid4()}"'


def top_id(subscription: str, resource_group: str, kind: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/{PROVIDER}/{kind}/{name}"
    )


def child_id(parent_id: str, child_kind: str, name: str) -> str:
    return f"{parent_id}/{child_kind}/{name}"


def last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Ref:
    """A parsed ID: a top-level resource, or one child of one."""

    subscription: str
    resource_group: str
    kind: str
    name: str
    child_kind: str = ""
    child_name: str = ""

    @property
    def parent_id(self) -> str:
        return top_id(self.subscription, self.resource_group, self.kind, self.name)

    @property
    def id(self) -> str:
        if self.child_kind:
            return child_id(self.parent_id, self.child_kind, self.child_name)
        return self.parent_id


def parse(resource_id: str) -> Ref | None:
    """The parts of a Microsoft.Network ID, or None for anything else."""
    parts = [p for p in resource_id.strip().split("/") if p]
    if len(parts) not in (8, 10):
        return None
    fixed = (parts[0].lower(), parts[2].lower(), parts[4].lower(), parts[5].lower())
    if fixed != ("subscriptions", "resourcegroups", "providers", PROVIDER.lower()):
        return None
    if len(parts) == 10:
        return Ref(parts[1], parts[3], parts[6], parts[7], parts[8], parts[9])
    return Ref(parts[1], parts[3], parts[6], parts[7])

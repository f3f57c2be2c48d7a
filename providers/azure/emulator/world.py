"""What a resource kind may ask of the rest of the emulator while it validates a write.

The per-kind modules (load balancers, public IPs, ...) decide whether a body is valid and
what Azure would store for it; for that they must look at other resources (does this
subnet exist, is this IP taken, who uses this public IP). They see the store only
through this protocol, so they stay free of locking, operations and HTTP.

Two views matter: *committed* resources (what GET returns) and *claimed* ones, which add
the bodies of writes still in flight. Names, IPs and DNS labels are taken, and resources
are in use, as soon as Azure accepts a write, not when it finishes.
"""

from __future__ import annotations

from typing import Any, Protocol

Body = dict[str, Any]


class World(Protocol):
    subscription: str

    def lookup(self, resource_id: str) -> Body | None:
        """The committed resource (or child) with this ID, any casing; None if absent."""
        ...

    def committed(self, kind: str) -> list[Body]:
        """Every committed resource of a kind, across resource groups."""
        ...

    def claimed(self, kind: str) -> list[Body]:
        """Committed resources of a kind plus the bodies that pending writes will store."""
        ...

"""A Google Compute Engine v1 REST emulator that the real google-cloud-compute clients use.

Tests and ``ccm demo --provider gcp`` need a GCP that behaves like GCP where the driver
can tell the difference: asynchronous operations whose change lands at DONE, errors with
the HTTP status and ``reason`` api_core turns into its exceptions, list filters and
pages, fingerprints, quotas and "resource in use" refusals. Mocking the client would
bypass its transport, retries and parsing, so this serves HTTP in a thread instead; see
README.md in this directory for what it implements and what it does not.

The seeding helpers are imported on first use: they need google-cloud-compute, whose
import takes seconds, and the emulator itself does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from providers.gcp.emulator.errors import ApiError
from providers.gcp.emulator.runner import Emulator, start_emulator
from providers.gcp.emulator.store import State

if TYPE_CHECKING:
    from providers.gcp.emulator.seed import SeededGcp, node_objects, seed_cluster, static_address

_FROM_SEED = frozenset({"SeededGcp", "node_objects", "seed_cluster", "static_address"})

__all__ = [
    "ApiError",
    "Emulator",
    "SeededGcp",
    "State",
    "node_objects",
    "seed_cluster",
    "start_emulator",
    "static_address",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_SEED:
        from providers.gcp.emulator import seed

        return getattr(seed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

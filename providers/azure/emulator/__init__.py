"""An Azure Resource Manager (Microsoft.Network) emulator that azure-mgmt-network uses.

Tests and ``ccm demo --provider azure`` need an Azure that behaves like Azure where the
driver can tell the difference: long-running operations whose change lands when they
succeed, ARM's error codes on the exceptions azure-core raises, etags, "another
operation is in progress", "in use" refusals, paging, real TLS and a bearer token.
Mocking the client would bypass its pipeline (auth, retries, polling), so this serves
HTTPS in a thread instead; README.md in this directory says what it implements and
what it does not.

The credential and seeding helpers are imported on first use: they need azure-core and
azure-mgmt-network (whose import takes seconds), and the emulator itself does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from providers.azure.emulator.errors import ArmError
from providers.azure.emulator.runner import (
    DEFAULT_SUBSCRIPTION,
    DEFAULT_TOKEN,
    Emulator,
    start_emulator,
)

if TYPE_CHECKING:
    from providers.azure.emulator.credentials import StaticToken
    from providers.azure.emulator.seed import (
        SeededAzure,
        network_client,
        node_objects,
        seed_cluster,
        user_public_ip,
    )

_LAZY = {
    "StaticToken": "credentials",
    "SeededAzure": "seed",
    "network_client": "seed",
    "node_objects": "seed",
    "seed_cluster": "seed",
    "user_public_ip": "seed",
}

__all__ = [
    "DEFAULT_SUBSCRIPTION",
    "DEFAULT_TOKEN",
    "ArmError",
    "Emulator",
    "SeededAzure",
    "StaticToken",
    "network_client",
    "node_objects",
    "seed_cluster",
    "start_emulator",
    "user_public_ip",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

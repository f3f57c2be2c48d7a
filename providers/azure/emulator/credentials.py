"""A TokenCredential that always answers the emulator's token.

The driver keeps azure-core's bearer-token policy in its pipeline, as it must against
Azure, and only the credential differs: production uses azure-identity (workload
identity, managed identity), tests hand it this. No token endpoint, no MSAL cache.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticToken:
    """Satisfies ``azure.core.credentials.TokenCredential``; valid for an hour from each call."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

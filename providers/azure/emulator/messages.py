"""A request as the handlers see it, and the reply they give: no HTTP machinery in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.azure.emulator.world import Body


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    body: Body | None  # the parsed JSON object of a PUT, else None
    base: str  # "https://host:port", as the client addressed the emulator

    @property
    def label(self) -> str:
        """``"<METHOD> <path>"``: what `calls`, faults and failure rules match."""
        return f"{self.method} {self.path}"

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass
class Reply:
    status: int
    body: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)

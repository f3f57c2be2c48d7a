"""Resource URLs: the selfLink form the API answers with, and every form clients send.

GCP accepts a reference as a full URL (on www.googleapis.com or compute.googleapis.com),
as ``projects/p/regions/r/...`` or as ``regions/r/...``, and always answers with the full
``https://www.googleapis.com/compute/v1/...`` form. The emulator keys everything by the
project-relative path (``regions/us-central1/forwardingRules/web``), so comparisons
between references in different forms come out right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from providers.gcp.emulator.errors import ApiError, invalid

API_ROOT = "https://www.googleapis.com/compute/v1/"

_REFERENCE = re.compile(
    r"^(?:https?://[^/]+/)?/?(?:compute/(?:v1|beta|alpha)/)?"
    r"(?:projects/(?P<project>[^/]+)/)?"
    r"(?P<scope>global|regions/[^/]+|zones/[^/]+)/(?P<collection>[A-Za-z]+)/(?P<name>[^/]+)$"
)


@dataclass(frozen=True)
class Ref:
    """A resource reference taken apart: which project, scope, collection and name."""

    project: str
    scope: str  # "global", "regions/<r>" or "zones/<z>"
    collection: str
    name: str

    @property
    def path(self) -> str:
        """The project-relative key the store files the resource under."""
        return f"{self.scope}/{self.collection}/{self.name}"

    @property
    def qualified(self) -> str:
        """``projects/p/...``: how GCP names a resource in its error messages."""
        return f"projects/{self.project}/{self.path}"


def parse(reference: str, project: str, field: str = "") -> Ref:
    """Take a reference in any accepted form apart; a malformed one is a 400, as in GCP."""
    m = _REFERENCE.match(reference.strip())
    if m is None:
        raise invalid(field or "reference", reference, "The URL is malformed.")
    return Ref(m["project"] or project, m["scope"], m["collection"], m["name"])


def self_link(project: str, path: str) -> str:
    """The full URL of a project-relative path (a resource, a region, a zone)."""
    return f"{API_ROOT}projects/{project}/{path}"


def last(url: str) -> str:
    """The last segment of a URL: a zone URL's zone, a resource URL's name."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def scope_of_url(url: str) -> str:
    """``regions/r`` or ``zones/z`` from a region or zone URL (the `region`/`zone` fields)."""
    m = re.search(r"(regions|zones)/([^/]+)/?$", url)
    if m is None:
        raise ApiError(400, "invalid", f"Invalid value '{url}': not a region or zone URL.")
    return f"{m[1]}/{m[2]}"

"""Build the GCP driver from DriverOptions: project, region, endpoint, credentials.

Against a real project, credentials are Application Default Credentials (Workload
Identity on GKE works unchanged). With an http:// endpoint (the emulator) they are
anonymous; an https:// endpoint (Private Service Connect) keeps ADC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from google.auth.credentials import AnonymousCredentials, Credentials

from ccm.driver import DriverOptions
from ccm.ratelimit import parse_rates
from providers.gcp.calls import Compute, make_clients
from providers.gcp.driver import GcpDriver

ENDPOINT_VARS = ("CCM_GCP_ENDPOINT", "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE")
PROJECT_VARS = ("CCM_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
REGION_VARS = ("CCM_GCP_REGION", "CLOUDSDK_COMPUTE_REGION")


def _first(settings: Mapping[str, Any], key: str, env: tuple[str, ...]) -> str:
    value = settings.get(key)
    if value:
        return str(value)
    for name in env:
        if os.environ.get(name):
            return os.environ[name]
    return ""


def endpoint_of(text: str) -> str:
    """scheme://host[:port]: gcloud's override variable carries /compute/v1/, which the
    client adds itself."""
    if not text:
        return ""
    parts = urlsplit(text if "://" in text else f"https://{text}")
    return f"{parts.scheme}://{parts.netloc}"


def credentials_for(endpoint: str) -> tuple[Credentials | None, str]:
    if endpoint.startswith("http://"):
        return AnonymousCredentials(), ""  # type: ignore[no-untyped-call]
    import google.auth

    creds, project = google.auth.default(scopes=["https://www.googleapis.com/auth/compute"])
    return creds, str(project or "")


def make_driver(options: DriverOptions) -> GcpDriver:
    s = options.settings
    endpoint = endpoint_of(_first(s, "endpoint", ENDPOINT_VARS))
    region = _first(s, "region", REGION_VARS)
    if not region:
        raise ValueError("gcp: region: required (--gcp-region, or $CCM_GCP_REGION)")
    creds, adc_project = credentials_for(endpoint)
    project = _first(s, "project", PROJECT_VARS) or adc_project
    if not project:
        raise ValueError("gcp: project: required (--gcp-project, or $GOOGLE_CLOUD_PROJECT)")
    compute = Compute(
        make_clients(endpoint or None, creds),
        project,
        rates=parse_rates(str(s.get("rates", "")), "compute:write=5/10"),
    )
    tags = [t.strip() for t in str(s.get("node_tags", "")).split(",") if t.strip()]
    return GcpDriver(
        options.cluster,
        compute,
        region,
        network=str(s.get("network", "")),
        subnetwork=str(s.get("subnetwork", "")),
        node_tags=tags,
        prices_file=s.get("prices_file"),
    )

"""Build the Azure driver from DriverOptions: subscription, resource group, network,
endpoint and credentials.

Against Azure, credentials are DefaultAzureCredential (Workload Identity on AKS works
unchanged). Against an emulator or a test ARM endpoint, `$CCM_AZURE_TOKEN` (or the
`token` setting) is presented as the bearer token: the SDK's token policy and TLS
verification stay on; `ca_bundle` (or `$REQUESTS_CA_BUNDLE`) names the CA to trust.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

from ccm.driver import DriverOptions
from ccm.ratelimit import parse_rates
from providers.azure.calls import Arm, make_client
from providers.azure.driver import AzureDriver

ENV = {
    "endpoint": ("CCM_AZURE_ENDPOINT", "AZURE_RESOURCE_MANAGER_ENDPOINT"),
    "subscription": ("CCM_AZURE_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID"),
    "resource_group": ("CCM_AZURE_RESOURCE_GROUP",),
    "location": ("CCM_AZURE_LOCATION",),
    "token": ("CCM_AZURE_TOKEN",),
    "ca_bundle": ("CCM_AZURE_CA_BUNDLE",),
}


class StaticTokenCredential:
    """A TokenCredential holding one bearer token, for emulators and test endpoints."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


def _setting(s: Mapping[str, Any], key: str, default: str = "") -> str:
    if s.get(key):
        return str(s[key])
    for name in ENV.get(key, ()):
        if os.environ.get(name):
            return os.environ[name]
    return default


def credential(s: Mapping[str, Any]) -> TokenCredential:
    token = _setting(s, "token")
    if token:
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def make_driver(options: DriverOptions) -> AzureDriver:
    s = options.settings
    cluster = options.cluster.name
    missing = [k for k in ("subscription", "resource_group", "location") if not _setting(s, k)]
    if missing:
        raise ValueError(
            f"azure: {', '.join(missing)}: required (--provider-setting KEY=VALUE or "
            "$CCM_AZURE_SUBSCRIPTION_ID / $CCM_AZURE_RESOURCE_GROUP / $CCM_AZURE_LOCATION)"
        )
    endpoint = _setting(s, "endpoint") or None
    client = make_client(
        credential(s), _setting(s, "subscription"), endpoint, _setting(s, "ca_bundle") or None
    )
    arm = Arm(
        client,
        rates=parse_rates(str(s.get("rates", "")), "arm:write=0.3/10"),
        polling_interval=float(s.get("polling_interval", 2.0)),
    )
    return AzureDriver(
        options.cluster,
        arm,
        _setting(s, "subscription"),
        _setting(s, "resource_group"),
        _setting(s, "location"),
        vnet=_setting(s, "vnet", f"{cluster}-vnet"),
        subnet=_setting(s, "subnet", "aks-subnet"),
        vnet_resource_group=_setting(s, "vnet_resource_group"),
        security_group=_setting(s, "security_group", f"{cluster}-nsg"),
        prices_file=s.get("prices_file"),
    )

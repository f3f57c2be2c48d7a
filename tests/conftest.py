"""Shared fixtures: a fresh sandbox API server per test and official clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from ccm.sandbox.server import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(bookmark_interval=0.2) as sb:
        yield sb


@pytest.fixture
def api_client(sandbox: Sandbox) -> Iterator[client.ApiClient]:
    config = client.Configuration()
    config.host = sandbox.url
    with client.ApiClient(config) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)

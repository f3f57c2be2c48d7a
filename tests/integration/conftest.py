"""Fixtures for integration tests: the controller harness over the sandbox, and one world
per cloud (imported when a test asks for it, so each cloud's suite stands alone). Each
world's teardown checks the driver's recorded cloud calls against the shipped policy in
deploy/policies/ (tests/integration/cloud_calls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ccm.sandbox.server import Sandbox
from tests.integration.cloud_calls import verify
from tests.integration.harness import Loop

if TYPE_CHECKING:
    from tests.integration.aws_harness import AwsWorld
    from tests.integration.azure_harness import AzureWorld
    from tests.integration.gcp_harness import GcpWorld


@pytest.fixture
def loop(sandbox: Sandbox) -> Iterator[Loop]:
    harness = Loop(sandbox)
    yield harness
    for ctl in list(harness.running):
        harness.stop(ctl)


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[AwsWorld]:
    from tests.integration.aws_harness import aws_world

    with aws_world() as world:
        yield world
        verify("aws", world.proxy.journal, request.node.nodeid)


@pytest.fixture
def gcp(request: pytest.FixtureRequest) -> Iterator[GcpWorld]:
    from tests.integration.gcp_harness import gcp_world

    with gcp_world() as world:
        yield world
        verify("gcp", world.proxy.journal, request.node.nodeid)


@pytest.fixture
def azure(request: pytest.FixtureRequest) -> Iterator[AzureWorld]:
    from tests.integration.azure_harness import azure_world

    with azure_world() as world:
        yield world
        verify("azure", world.driver_calls(), request.node.nodeid)

"""Fixtures for integration tests: the controller harness over the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccm.sandbox.server import Sandbox
from tests.integration.aws_harness import AwsWorld, aws_world
from tests.integration.gcp_harness import GcpWorld, gcp_world
from tests.integration.harness import Loop


@pytest.fixture
def loop(sandbox: Sandbox) -> Iterator[Loop]:
    harness = Loop(sandbox)
    yield harness
    for ctl in list(harness.running):
        harness.stop(ctl)


@pytest.fixture
def aws() -> Iterator[AwsWorld]:
    with aws_world() as world:
        yield world


@pytest.fixture
def gcp() -> Iterator[GcpWorld]:
    with gcp_world() as world:
        yield world

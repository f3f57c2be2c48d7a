"""Shared fixtures: a fresh sandbox API server per test and official clients pointed at it;
and the session-end check that every permission in deploy/policies/ was needed by some
recorded cloud call (tests/integration/cloud_calls.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from ccm.sandbox.server import Sandbox
from tests.chaos.profiles import DRIVERS
from tests.integration import cloud_calls

CI_OPS = 20  # operations per chaos seed in CI


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


def pytest_addoption(parser: pytest.Parser) -> None:
    """The chaos suite's options (tests/chaos/conftest.py), valid from any directory."""
    group = parser.getgroup("chaos", "the chaos suite (tests/chaos)")
    group.addoption("--seeds", type=int, default=0, help="run N seeds per driver")
    group.addoption("--seed-base", type=int, default=1, help="first seed for --seeds")
    group.addoption("--seed", type=int, default=None, help="run exactly this seed")
    group.addoption(
        "--driver",
        action="append",
        default=[],
        choices=DRIVERS,
        help="only this driver (repeatable; default all)",
    )
    group.addoption("--chaos-ops", type=int, default=CI_OPS, help="operations per seed")


def pytest_deselected(items: list[pytest.Item]) -> None:
    cloud_calls.USAGE.deselected += len(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    cloud_calls.on_collection(session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist: a worker is done; its recorded cloud calls join the controller's."""
    cloud_calls.on_worker_done(node)


def pytest_sessionfinish(session: pytest.Session) -> None:
    cloud_calls.on_session_finish(session)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    cloud_calls.on_terminal_summary(terminalreporter)

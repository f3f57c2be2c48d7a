"""One test per chaos case (driver, seed, ops): churn and faults against a real `ccm run`
process, then quiescence, then the checker (tests/chaos/scenario.py). The session's
cases run side by side, one thread per driver, so the suite costs about its slowest
driver; each test waits for its own case's outcome. A failure prints the seed, the
replay command, every operation with its outcome, and the tail of the controller's log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.scenario import Batch, Case

CASE_TIMEOUT = 900.0  # the whole batch's worst case, not a performance bound


# xdist modes that keep a file's tests on one worker; under others (load, loadgroup, worksteal)
# a worker cannot tell which cases are its own, so each test runs its case when it runs.
WHOLE_FILE_MODES = frozenset({"no", "loadfile", "loadscope"})


def _collected(session: pytest.Session) -> list[Case]:
    if str(getattr(session.config.option, "dist", "no")) not in WHOLE_FILE_MODES:
        return []
    out = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case):
            out.append(case)
    return out


@pytest.fixture(scope="session")
def batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Batch]:
    runs = Batch(_collected(request.session), tmp_path_factory.mktemp("chaos"))
    yield runs
    runs.close()


@pytest.mark.timeout(CASE_TIMEOUT)
def test_chaos(case: Case, batch: Batch) -> None:
    outcome = batch.result(case, timeout=CASE_TIMEOUT)
    if outcome.problems:
        pytest.fail(outcome.report, pytrace=False)

"""One seeded chaos run per case: churn and faults against a real `ccm run` process,
then quiescence, then the checker. A failure prints the seed, the replay command, every
operation with its outcome, and the tail of the controller's log."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from kubernetes import client

from ccm.sandbox.server import Sandbox
from tests.chaos.checker import check
from tests.chaos.conftest import Case
from tests.chaos.generator import Op, generate
from tests.chaos.process import CcmProcess
from tests.chaos.runner import Journal, Runner, wait_quiescent
from tests.chaos.worlds import World, open_world
from tests.integration.harness import wait_for

NODES = 3
QUIESCE_TIMEOUT = 90.0
LATE_TIMEOUT = 30.0  # after quiescence: a leftover the leak detector is still removing


def report(case: Case, problems: list[str], journal: Journal, ccm: CcmProcess) -> str:
    return "\n".join(
        [
            f"chaos {case.driver} seed {case.seed}, {case.ops} ops: {len(problems)} problem(s)",
            *(f"  - {p}" for p in problems),
            f"replay: {case.replay()}",
            "operation log:",
            journal.text(),
            f"ccm log (tail of {ccm.log}):",
            ccm.tail(),
        ]
    )


def test_chaos(case: Case, sandbox: Sandbox, core: client.CoreV1Api, tmp_path: Path) -> None:
    initial, ops = generate(case.seed, case.driver, case.ops, NODES)
    journal = Journal(path=tmp_path / "ops.log")
    kubeconfig = sandbox.write_kubeconfig(tmp_path / "kubeconfig")
    with open_world(case.driver) as world:
        args = [*world.ccm_args(tmp_path), "--kubeconfig", str(kubeconfig)]
        with CcmProcess(args, tmp_path / "ccm.log") as ccm:
            problems = _run(case, world, sandbox, core, ccm, journal, initial, ops)
            if problems:
                pytest.fail(report(case, problems, journal, ccm), pytrace=False)


def _run(
    case: Case,
    world: World,
    sandbox: Sandbox,
    core: client.CoreV1Api,
    ccm: CcmProcess,
    journal: Journal,
    initial: list[int],
    ops: list[Op],
) -> list[str]:
    runner = Runner(sandbox, core, world, ccm, journal)
    try:
        runner.register_nodes(initial)
        journal.add(f"--- nodes {initial} registered; ccm started")
        ccm.start()
        runner.run(ops)
        world.clear()
        sandbox.faults.clear()
        ccm.check()
        if not ccm.alive:
            ccm.start()
        journal.add("--- faults cleared, ccm running: waiting for quiescence")
        wait_quiescent(core, ccm, QUIESCE_TIMEOUT)
        last: list[list[str]] = [check(world, core, ccm)]
        if last[0]:
            journal.add(f"--- first check: {len(last[0])} problem(s); waiting for late sweeps")

            def clean() -> bool:
                last[0] = check(world, core, ccm)
                return not last[0]

            try:
                wait_for(clean, timeout=LATE_TIMEOUT, what="a clean check", every=1.0)
            except AssertionError:
                return last[0]
            journal.add("--- converged late")
        return []
    except AssertionError as e:
        return [str(e)]
    except Exception:
        return ["the run raised:\n" + traceback.format_exc()]

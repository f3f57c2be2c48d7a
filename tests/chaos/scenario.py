"""One chaos case end to end, and a batch that runs a session's cases side by side.

A case is (driver, seed, ops). :func:`run_case` builds everything it needs — its own
sandbox API server, the driver's cloud, a `ccm run` process — plays the generated
sequence, clears the faults, waits for quiescence and runs the checker. It returns the
problems and, when there are any, a report with the seed, the replay command, the
operation log and the tail of the controller's log.

Most of a case's wall time is waiting (process start-up — the GCP client library alone
imports for ~7 s —, cloud latency, leak-sweep intervals), so :class:`Batch` runs cases
of different drivers at the same time: one thread per driver, each driver's seeds one
after another. Two AWS cases never overlap: moto server's backends are process-wide.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from ccm.sandbox.server import Sandbox
from tests.chaos.checker import check, summary
from tests.chaos.generator import Op, generate
from tests.chaos.process import CcmProcess
from tests.chaos.runner import Journal, Runner, wait_quiescent
from tests.chaos.worlds import World, open_world
from tests.integration.harness import wait_for

NODES = 3
QUIESCE_TIMEOUT = 120.0
LATE_TIMEOUT = 30.0  # after quiescence: a leftover the leak detector is still removing


@dataclass(frozen=True)
class Case:
    driver: str
    seed: int
    ops: int

    def replay(self) -> str:
        return (
            f"uv run --all-extras pytest tests/chaos --seed {self.seed} --driver {self.driver}"
            f" --chaos-ops {self.ops}"
        )


@dataclass(frozen=True)
class Outcome:
    case: Case
    problems: list[str]
    report: str
    summary: str  # one line: what ran and what the checker saw


def run_case(case: Case, tmp: Path) -> Outcome:
    initial, ops = generate(case.seed, case.driver, case.ops, NODES)
    journal = Journal(path=tmp / "ops.log")
    with Sandbox(bookmark_interval=0.2) as sandbox:
        kubeconfig = sandbox.write_kubeconfig(tmp / "kubeconfig")
        config = client.Configuration()
        config.host = sandbox.url
        with client.ApiClient(config) as api, open_world(case.driver) as world:
            core = client.CoreV1Api(api)
            args = [*world.ccm_args(tmp), "--kubeconfig", str(kubeconfig)]
            with CcmProcess(args, tmp / "ccm.log") as ccm:
                problems = _play(world, sandbox, core, ccm, journal, initial, ops)
                (tmp / "cloud-calls.log").write_text("\n".join(world.calls()) + "\n")
                summary = (
                    f"{case.driver} seed {case.seed}: {len(ops)} ops, {ccm.starts} ccm starts, "
                    f"{len(problems)} problem(s)"
                )
                return Outcome(case, problems, _report(case, problems, journal, ccm), summary)


def _report(case: Case, problems: list[str], journal: Journal, ccm: CcmProcess) -> str:
    if not problems:
        return ""
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


def _play(
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
        ccm.start()
        journal.add(f"--- nodes {initial} registered; ccm started")
        runner.run(ops)
        world.clear()
        sandbox.faults.clear()
        ccm.check()
        if not ccm.alive:
            ccm.start()
        journal.add("--- faults cleared, ccm running: waiting for quiescence")
        wait_quiescent(core, ccm, QUIESCE_TIMEOUT)
        last = check(world, core, ccm)
        if last:
            journal.add(f"--- first check: {len(last)} problem(s); waiting for late sweeps")

            def clean() -> bool:
                last[:] = check(world, core, ccm)
                return not last

            try:
                wait_for(clean, timeout=LATE_TIMEOUT, what="a clean check", every=1.0)
            except AssertionError:
                journal.add("--- check failed: " + "; ".join(last))
                return last
            journal.add("--- converged late")
        journal.add(f"--- checked: clean ({summary(world, core)})")
        return []
    except AssertionError as e:
        return [str(e)]
    except Exception:
        return ["the run raised:\n" + traceback.format_exc()]


class Batch:
    """Runs every case of a session, one thread per driver; `result` waits for one."""

    def __init__(self, cases: Iterable[Case], tmp: Path) -> None:
        self._tmp = tmp
        self._futures: dict[Case, Future[Outcome]] = {}
        self._closing = threading.Event()
        by_driver: dict[str, list[Case]] = {}
        for c in cases:
            if c not in self._futures:
                self._futures[c] = Future()
                by_driver.setdefault(c.driver, []).append(c)
        self._threads = [
            threading.Thread(target=self._work, args=(todo, tmp), name=f"chaos-{d}", daemon=True)
            for d, todo in by_driver.items()
        ]
        for t in self._threads:
            t.start()

    def _work(self, todo: list[Case], tmp: Path) -> None:
        for c in todo:
            if self._closing.is_set():
                self._futures[c].cancel()
                continue
            try:
                self._futures[c].set_result(run_case(c, self._where(c)))
            except BaseException as e:
                self._futures[c].set_exception(e)

    def close(self) -> None:
        """Start no more cases and wait for the running ones, so no ccm process or
        emulator outlives the session (pytest -x ends it early)."""
        self._closing.set()
        for t in self._threads:
            t.join(timeout=600)

    def _where(self, c: Case) -> Path:
        where = self._tmp / f"{c.driver}-seed{c.seed}-ops{c.ops}"
        where.mkdir(parents=True, exist_ok=True)
        return where

    def result(self, case: Case, timeout: float) -> Outcome:
        """The case's outcome; a case not started up front runs now, in this thread."""
        if case not in self._futures:
            return run_case(case, self._where(case))
        return self._futures[case].result(timeout=timeout)

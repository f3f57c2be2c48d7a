"""The controller under test as a real OS process: start, SIGKILL, restart, scrape.

Each start appends to one log file (a banner line between starts), so a failure report
can show what every incarnation said. The metrics port is read from the process's own
"serving /metrics ... on port N" line; the checker and the quiescence wait scrape it for
the work queue's depth and the leak detector's sweep count.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import wait_for

PORT_LINE = re.compile(r"serving /metrics, /healthz, /readyz on port (\d+)")


class Crashed(AssertionError):
    """The ccm process exited without being told to: always a finding."""


class CcmProcess:
    def __init__(self, base_args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "ccm.cli",
            "run",
            *base_args,
            "--no-leader-elect",
            "--metrics-addr", "127.0.0.1:0",
            "--workers", "4",
            "--leak-interval", "0.5",
            "--leak-min-age", "0",
            "--leak-max-deletions", "100",
            "--readiness-probe-interval", "60",
            "--log-format", "json",
            # Test-budget retries, as the in-process harness uses: after a burst of
            # injected faults a key would otherwise sit in backoff for minutes.
            "--backoff-base", "0.2",
            "--backoff-cap", "2",
            "--ready-poll-interval", "0.2",
        ]  # fmt: skip
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._expected_exit = False
        self._log_offset = 0
        self._port = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start an incarnation and wait until it serves /metrics (informers syncing), so
        a kill that follows lands on a working controller, not on a Python import."""
        if self.alive:
            return
        self.starts += 1
        with self.log.open("a") as f:
            f.write(f"===== ccm start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n")
            self._log_offset = f.tell()
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=_repo()
            )
        finally:
            out.close()
        self._port = 0
        self._expected_exit = False
        self.port()

    def kill(self) -> None:
        """SIGKILL: no finishing of in-flight reconciles, no lease release, no flush."""
        self._expected_exit = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def check(self) -> None:
        """Raise if the process died on its own (a crash is a finding, not a restart)."""
        if self.proc is not None and self.proc.poll() is not None and not self._expected_exit:
            raise Crashed(f"ccm exited by itself with {self.proc.returncode}\n{self.tail()}")

    def stop(self) -> None:
        self._expected_exit = True
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def port(self) -> int:
        """The metrics port of the current incarnation, waiting for it to be printed."""
        if not self._port:

            def found() -> int:
                self.check()
                with self.log.open("rb") as f:
                    f.seek(self._log_offset)
                    m = PORT_LINE.search(f.read().decode("utf-8", "replace"))
                return int(m.group(1)) if m else 0

            self._port = int(wait_for(found, timeout=60, what="ccm's metrics port", every=0.1))
        return self._port

    def metrics(self) -> dict[str, float]:
        """`name{label="v",...}` -> value, from /metrics of the running process."""
        url = f"http://127.0.0.1:{self.port()}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}"] = float(s.value)
        return out

    def total(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels`."""
        want = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(
            v
            for key, v in self.metrics().items()
            if key.split("{", 1)[0] in (name, name + "_total") and all(w in key for w in want)
        )

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])

    def __enter__(self) -> CcmProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _repo() -> str:
    return str(Path(__file__).resolve().parents[2])


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)

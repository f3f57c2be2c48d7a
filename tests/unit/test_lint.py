"""ruff and mypy are part of the suite, so CI fails on a lint or type regression."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.prefix) / "bin/ruff").exists(),
    reason="ruff is not installed (install the dev extra)",
)
def test_ruff_clean() -> None:
    proc = _run("ruff", "check", "ccm", "providers", "tests", "bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run("ruff", "format", "--check", "ccm", "providers", "tests", "bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    pytest.importorskip("mypy")
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr

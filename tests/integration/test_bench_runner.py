"""The benchmark runner works end to end: one cheap benchmark at smoke-test size, run the
way a user runs it (`python -m bench.run` in a fresh process), writes JSON with the
machine, the commit and real numbers, and the doc generated from it. Nothing is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_leak_benchmark_writes_json_and_doc(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--only",
            "leaks",
            "--out-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    assert {"machine", "date", "git", "command", "benchmarks"} <= data.keys()
    assert data["machine"]["cpu_count"] > 0 and data["machine"]["ram_gb"] > 0
    assert data["quick"] is True and data["last_run"] == ["leaks"]
    entry = data["benchmarks"]["leaks"]
    assert entry["seconds"] > 0 and "error" not in entry
    result = entry["result"]
    assert result["services"] == entry["sizes"]["services"] > 0
    assert result["scan"]["owned"] > 0 and result["scan"]["orphans"] > 0
    assert result["scan"]["total_calls"] > 0 and result["delete"]["total_calls"] > 0
    assert result["delete"]["deleted"] == result["scan"]["orphans"]
    assert result["after"]["orphans"] == 0
    doc = (tmp_path / "benchmarks.md").read_text()
    assert f"## Leak sweep over {result['services']} owned load balancers" in doc
    assert f"| scan (report only) | {result['scan']['total_calls']} |" in doc
    assert "Not run (`aws`" in doc  # sections of benchmarks left out say so

"""`ccm demo`, the README's first command, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_converges_flips_and_exits_zero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "demo", "--kubeconfig-out", str(tmp_path / "kc")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("nlb/internet-facing") == 1 and "alb/internet-facing" in out
    assert "is gone; 3 load balancers" in out
    assert "<pending>" not in out.split("flipping")[1]
    leak = out.split("leak detector, first sweep")[1]
    assert leak.count("confirming") == 3 and leak.count("deleted") >= 3
    assert leak.rstrip().endswith("0 orphaned, estimated $0.00/month")
    assert (tmp_path / "kc").exists()

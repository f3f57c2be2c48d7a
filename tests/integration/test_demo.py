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
    sweeps, audit = leak.split("$ ccm audit")
    assert sweeps.rstrip().endswith("0 orphaned, estimated $0.00/month")
    # The audit: every Service priced (an NLB in 2 zones: (0.0225 + 2 x 0.005) x 730),
    # the in-tree CLB recognised, and the findings the added Services were made to show.
    lines = audit.splitlines()
    assert max(len(line) for line in lines[1:] if not line.startswith("  ccm audit")) <= 80
    assert any(line.startswith("shop/front") and line.endswith(" $23.73") for line in lines)
    assert any(line.startswith("default/legacy-app") and " in-tree " in line for line in lines)
    assert "FINDINGS (3)" in audit and "open-admin-port: tools/redis-debug" in audit
    assert "no-ready-endpoints $23.73/month: tools/redis-debug" in audit
    assert audit.rstrip().endswith("-o html > report.html")
    assert (tmp_path / "kc").exists()


def test_gcp_demo_gets_addresses_replaces_and_audits(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "demo", "--provider", "gcp",
         "--kubeconfig-out", str(tmp_path / "kc")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    first, second = out.split("switching web from external to internal")
    assert "web          external  34." in first and "<pending>" not in second
    assert "web          internal  10.128." in second
    # one generation per Service left: 2 rules, 2 backend services, 2 addresses
    assert "in compute now: 2 forwardingRules, 2 backendServices, 2 addresses" in second
    audit = out.split("$ ccm audit")[1]
    assert "default/web                ilb  ccm" in audit and "FINDINGS: none" in audit


def test_azure_demo_moves_a_service_between_the_two_lbs_and_audits(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "demo", "--provider", "azure",
         "--kubeconfig-out", str(tmp_path / "kc")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = proc.stdout.split("switching web from public to internal")
    assert "web          external  20." in first
    assert "web          internal  10.224." in second
    assert "load balancers now: demo-internal; 0 public IPs" in second
    audit = second.split("$ ccm audit")[1]
    assert "default/web                ilb  ccm" in audit and "FINDINGS: none" in audit

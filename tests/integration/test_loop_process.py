"""`ccm run` and `ccm plan` as real processes: signals, crash-restart, CLI errors."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from kubernetes import client

from ccm.model import FINALIZER
from ccm.sandbox.server import Sandbox
from tests.integration.harness import ccm_command, lb_service, wait_for, write_pools


def _ips(core: client.CoreV1Api, name: str) -> list[str]:
    raw = json.loads(core.read_namespaced_service(name, "default", _preload_content=False).data)
    return [i["ip"] for i in raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []]


def _ccm(tmp: Path, sandbox: Sandbox, command: str, *args: str) -> list[str]:
    kubeconfig = sandbox.write_kubeconfig(tmp / "kubeconfig")
    return ccm_command(command, kubeconfig, *args, provider_config=write_pools(tmp))


def test_sigterm_finishes_and_exits_zero(
    sandbox: Sandbox, core: client.CoreV1Api, tmp_path: Path
) -> None:
    proc = subprocess.Popen(_ccm(tmp_path, sandbox, "run"), stderr=subprocess.PIPE, text=True)
    try:
        core.create_namespaced_service("default", lb_service("web"))
        wait_for(lambda: _ips(core, "web"), what="status from the ccm process")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "ccm stopped" in err


def test_sigkill_mid_way_then_restart_converges(
    sandbox: Sandbox, core: client.CoreV1Api, tmp_path: Path
) -> None:
    cmd = _ccm(tmp_path, sandbox, "run", "--workers", "2")
    names = [f"s{i:02d}" for i in range(20)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    for n in names:
        core.create_namespaced_service("default", lb_service(n))
    wait_for(lambda: sum(1 for n in names if _ips(core, n)) >= 3, what="partial progress")
    proc.kill()
    proc.wait(timeout=10)
    again = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(_ips(core, n) for n in names), timeout=60, what="all converged")
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    ips = [_ips(core, n) for n in names]
    assert all(len(i) == 1 for i in ips)
    assert len({i[0] for i in ips}) == 20


def test_unknown_provider_lists_installed(sandbox: Sandbox, tmp_path: Path) -> None:
    cmd = _ccm(tmp_path, sandbox, "run")
    cmd[cmd.index("pool")] = "nosuch"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "unknown provider 'nosuch'" in proc.stderr and "pool" in proc.stderr


def test_plan_prints_without_changing_anything(
    sandbox: Sandbox, core: client.CoreV1Api, tmp_path: Path
) -> None:
    core.create_namespaced_service("default", lb_service("web"))
    before = core.read_namespaced_service("web", "default").metadata.resource_version
    proc = subprocess.run(
        _ccm(tmp_path, sandbox, "plan", "default/web"), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "would add finalizer " + FINALIZER in proc.stdout
    assert "allocate" in proc.stdout
    after = core.read_namespaced_service("web", "default")
    assert after.metadata.resource_version == before
    assert not after.metadata.finalizers

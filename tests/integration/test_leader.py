"""Several `ccm run` replicas against one API server: one leads, failover on SIGKILL,
handover on SIGTERM, exit on a lost renewal, and never two writers at once.

Lease timings are scaled down (3 s lease, 2 s renew deadline, 0.5 s retry) so the
properties can be seen in seconds; the bounds asserted are the election's own
guarantees in those units plus scheduling slack, not performance targets.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from ccm.sandbox.requestlog import RequestRecord
from ccm.sandbox.server import Sandbox
from tests.integration.harness import ccm_command, lb_service, wait_for, write_pools

# client-go's 15/10/2 s scaled down. Each Lease request times out after the retry
# period, so a shorter one fails reads when four workers load a 2-core CI machine.
LEASE, RENEW, RETRY, JITTER = 4.0, 3.0, 1.0, 1.2
SLACK = 2.0  # process scheduling on a loaded 2-core CI machine
WRITES = frozenset({"create", "update", "patch", "delete"})


class Replicas:
    """Starts `ccm run` processes with one identity each; stops what is left at the end."""

    def __init__(self, sandbox: Sandbox, tmp: Path) -> None:
        self.kubeconfig = sandbox.write_kubeconfig(tmp / "kubeconfig")
        self.pools = write_pools(tmp)
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, identity: str, *extra: str) -> subprocess.Popen[str]:
        cmd = ccm_command(
            "run",
            self.kubeconfig,
            *("--leak-interval", "0", "--leader-elect-identity", identity),
            *("--leader-elect-lease-duration", str(LEASE)),
            *("--leader-elect-renew-deadline", str(RENEW)),
            *("--leader-elect-retry-period", str(RETRY)),
            *extra,
            cluster_name="ha",
            provider_config=self.pools,
        )
        log = open(self.tmp / f"{identity}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, stderr=log, stdout=log, text=True)
        self.procs[identity] = proc
        return proc

    def log(self, identity: str) -> list[dict[str, object]]:
        lines = (self.tmp / f"{identity}.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def replicas(sandbox: Sandbox, tmp_path: Path) -> Iterator[Replicas]:
    r = Replicas(sandbox, tmp_path)
    yield r
    r.stop_all()


def _lease(api: client.ApiClient) -> dict[str, object]:
    coordination = client.CoordinationV1Api(api)
    try:
        resp = coordination.read_namespaced_lease("ccm", "kube-system", _preload_content=False)
    except client.ApiException as e:
        if e.status == 404:
            return {}
        raise
    spec: dict[str, object] = json.loads(resp.data).get("spec") or {}
    return spec


def _holder(api: client.ApiClient) -> str:
    return str(_lease(api).get("holderIdentity") or "")


def _ips(core: client.CoreV1Api, name: str) -> list[str]:
    raw = json.loads(core.read_namespaced_service(name, "default", _preload_content=False).data)
    return [i["ip"] for i in raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []]


def _writer(record: RequestRecord) -> str:
    """The replica identity in `ccm/VERSION (identity)`; "" for the test's own client."""
    ua = record.user_agent
    return ua[ua.find("(") + 1 : ua.rfind(")")] if ua.startswith("ccm/") else ""


def _service_writes(sandbox: Sandbox) -> dict[str, list[RequestRecord]]:
    out: dict[str, list[RequestRecord]] = {}
    for r in sandbox.request_log():
        if r.resource == "services" and r.verb in WRITES and _writer(r):
            out.setdefault(_writer(r), []).append(r)
    return out


def _took_lease_at(sandbox: Sandbox, who: str, after: float) -> float:
    """When the sandbox answered `who`'s first successful Lease write after `after`.

    Read from the sandbox's own log (same process, same monotonic clock as the test), so
    the time the test's polling thread waits for the CPU on a loaded machine is not
    counted as failover time.
    """
    took = [
        r.end
        for r in sandbox.request_log()
        if r.resource == "leases"
        and r.verb in ("update", "create")
        and r.code in (200, 201)
        and _writer(r) == who
        and r.start >= after
    ]
    assert took, f"{who} never wrote the Lease"
    return min(took)


def _assert_one_writer_at_a_time(sandbox: Sandbox) -> None:
    """Each replica's Service writes span a window; no two windows may overlap."""
    windows = sorted(
        (min(r.start for r in rs), max(r.end for r in rs), who)
        for who, rs in _service_writes(sandbox).items()
    )
    for (_, end, a), (start, _, b) in itertools.pairwise(windows):
        assert end < start, f"{a} still wrote Services at {end:.3f} after {b} began at {start:.3f}"


def test_one_leader_failover_on_kill_handover_on_sigterm(
    sandbox: Sandbox, core: client.CoreV1Api, api_client: client.ApiClient, replicas: Replicas
) -> None:
    a = replicas.start("a")
    wait_for(lambda: _holder(api_client) == "a", what="a leads")
    replicas.start("b")
    names = [f"web{i}" for i in range(4)]
    for n in names:
        core.create_namespaced_service("default", lb_service(n))
    wait_for(lambda: all(_ips(core, n) for n in names), what="a reconciles")
    time.sleep(LEASE)  # b has had a whole lease duration to (wrongly) take over
    assert _holder(api_client) == "a"
    assert set(_service_writes(sandbox)) == {"a"}, "a standby wrote a Service"

    a.kill()  # SIGKILL: no release, b must wait for the Lease to expire
    killed = time.monotonic()
    wait_for(lambda: _holder(api_client) == "b", timeout=30, what="b takes over")
    failover = _took_lease_at(sandbox, "b", killed) - killed
    assert failover <= LEASE + RETRY * (1 + JITTER) + SLACK, (
        f"failover took {failover:.2f}s; b's log: {replicas.log('b')[-8:]}"
    )
    core.create_namespaced_service("default", lb_service("after-kill"))
    wait_for(lambda: _ips(core, "after-kill"), what="b reconciles")
    assert int(_lease(api_client).get("leaseTransitions") or 0) == 1

    replicas.start("c")
    wait_for(
        lambda: any("waiting for the leader Lease" in str(e.get("msg")) for e in replicas.log("c")),
        what="c up as a standby",
    )
    b = replicas.procs["b"]
    b.send_signal(signal.SIGTERM)
    termed = time.monotonic()
    wait_for(lambda: _holder(api_client) == "c", timeout=30, every=0.02, what="c takes over")
    handover = _took_lease_at(sandbox, "c", termed) - termed
    assert b.wait(timeout=30) == 0
    assert handover <= 2.0, f"SIGTERM handover took {handover:.2f}s (released Lease)"
    core.create_namespaced_service("default", lb_service("after-term"))
    wait_for(lambda: _ips(core, "after-term"), what="c reconciles")
    assert int(_lease(api_client).get("leaseTransitions") or 0) == 2
    _assert_one_writer_at_a_time(sandbox)
    print(f"failover after SIGKILL {failover:.2f}s, handover after SIGTERM {handover:.2f}s")


def test_leader_that_cannot_renew_exits_non_zero(
    sandbox: Sandbox, api_client: client.ApiClient, replicas: Replicas
) -> None:
    a = replicas.start("a")
    wait_for(lambda: _holder(api_client) == "a", what="a leads")
    replicas.start("b")
    sandbox.faults.add(path="/leases/ccm$", method="PUT", status=500)  # renewals fail
    failed = time.monotonic()
    code = a.wait(timeout=RENEW + RETRY + 20)
    stopped = time.monotonic() - failed
    assert code == 3, replicas.log("a")[-3:]
    assert stopped >= RENEW - RETRY, f"gave up after {stopped:.2f}s, before the renew deadline"
    assert any("lost the leader Lease" in str(e.get("msg")) for e in replicas.log("a"))
    sandbox.faults.clear()
    wait_for(lambda: _holder(api_client) == "b", timeout=30, what="b takes over")


def test_no_leader_election_runs_at_once(
    sandbox: Sandbox, core: client.CoreV1Api, api_client: client.ApiClient, replicas: Replicas
) -> None:
    replicas.start("solo", "--no-leader-elect")
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: _ips(core, "web"), what="reconciles without a Lease")
    assert _lease(api_client) == {}

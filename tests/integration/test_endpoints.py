"""/metrics, /healthz and /readyz over HTTP: scraped and parsed with prometheus_client's
own parser, values read before and after Services come and go."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from ccm.endpoints import EndpointServer
from ccm.metrics import sample
from ccm.probe import ProviderProbe
from ccm.sandbox.server import Sandbox
from tests.integration.aws_harness import CLUSTER, AwsWorld
from tests.integration.harness import (
    Loop,
    ccm_command,
    hostname,
    lb_service,
    leak_sweeper,
    start_on,
    wait_for,
    write_pools,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_move_with_services_on_aws(
    loop: Loop, aws: AwsWorld, core: client.CoreV1Api
) -> None:
    driver = aws.driver()
    ctl = start_on(loop, aws.nodes(), driver, core, CLUSTER)
    probe = ProviderProbe(driver, 30)
    probe.probe_once()
    server = EndpointServer("127.0.0.1", 0, lambda: (True, "up"), probe.status).start()
    try:
        assert get(server.port, "/readyz") == (200, "ok: informers synced, aws API reachable\n")
        before = scrape(server.port)
        core.create_namespaced_service("default", lb_service("web"))
        wait_for(lambda: hostname(core, "web"), what="status written")
        assert ctl.wait_idle()
        sweeper = leak_sweeper(driver, CLUSTER)
        sweeper.sweep(ctl.service_snapshot)
        up = scrape(server.port)
        created = "ccm_reconciles_total"
        assert value(up, created, result="created") == value(before, created, result="created") + 1
        calls = "ccm_cloud_api_calls_total"
        made = total(up, calls, provider="aws", result="ok") - total(
            before, calls, provider="aws", result="ok"
        )
        assert made >= 3  # at least a load balancer, a target group and a listener
        assert total(up, calls, operation="elasticloadbalancing:CreateLoadBalancer") >= 1
        assert value(up, "ccm_reconcile_duration_seconds_count", result="created") >= 1
        assert value(up, "ccm_owned_resources", provider="aws", kind="load-balancer") == 1
        cost = "ccm_owned_resources_hourly_cost_usd"
        assert value(up, cost, provider="aws", kind="load-balancer") > 0
        assert ("ccm_workqueue_depth", ()) in up

        core.delete_namespaced_service("web", "default")
        elbv2 = aws.raw["elbv2"]
        wait_for(lambda: not elbv2.describe_load_balancers()["LoadBalancers"], what="LB deleted")
        assert ctl.wait_idle()
        sweeper.sweep(ctl.service_snapshot)
        down = scrape(server.port)
        assert value(down, created, result="deleted") == value(up, created, result="deleted") + 1
        assert value(down, "ccm_owned_resources", provider="aws", kind="load-balancer") == 0
        assert total(down, calls, operation="elasticloadbalancing:DeleteLoadBalancer") >= 1
    finally:
        server.stop()


def test_throttles_are_counted(loop: Loop, aws: AwsWorld, core: client.CoreV1Api) -> None:
    driver = aws.driver()
    start_on(loop, aws.nodes(), driver, core, CLUSTER)
    op = "elasticloadbalancing:CreateTargetGroup"
    aws.proxy.add(match=op, status=400, error_code="Throttling", times=2)
    series = {"provider": "aws", "operation": op}
    before = sample("ccm_cloud_api_throttles_total", series)
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: hostname(core, "web"), what="status after throttling")
    assert sample("ccm_cloud_api_throttles_total", series) - before == 2
    throttled = sample("ccm_cloud_api_calls_total", {**series, "result": "throttled"})
    assert throttled >= 2


def _run(tmp: Path, sandbox: Sandbox) -> subprocess.Popen[str]:
    cmd = ccm_command(
        "run",
        sandbox.write_kubeconfig(tmp / "kubeconfig"),
        *("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2"),
        *("--leader-elect-retry-period", "0.5"),
        cluster_name="metrics",
        provider_config=write_pools(tmp),
    )
    return subprocess.Popen(cmd, stderr=open(tmp / "ccm.log", "w"), text=True)


def _port(tmp: Path) -> int:
    text = (tmp / "ccm.log").read_text()
    found = re.search(r"on port (\d+)", text)
    return int(found.group(1)) if found else 0


def test_ccm_run_serves_probes_and_metrics(
    sandbox: Sandbox, core: client.CoreV1Api, tmp_path: Path
) -> None:
    proc = _run(tmp_path, sandbox)
    try:
        port = wait_for(lambda: _port(tmp_path), what="the metrics port in the log")
        wait_for(lambda: get(port, "/readyz")[0] == 200, what="ready")
        # Ready means synced and reachable; a standby is ready too, so wait to lead.
        wait_for(lambda: "leader" in get(port, "/healthz")[1], what="the replica leads")
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/nosuch")[0] == 404
        wait_for(lambda: value(scrape(port), "ccm_leader") == 1, what="leader gauge")
        svc = {
            "metadata": {"name": "web"},
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerClass": "ccm.dev/lb",
                "ports": [{"name": "http", "port": 80}],
            },
        }
        core.create_namespaced_service("default", svc)
        wait_for(
            lambda: value(scrape(port), "ccm_reconciles_total", result="created") == 1,
            what="created counted",
        )
        core.delete_namespaced_service("web", "default")
        wait_for(
            lambda: value(scrape(port), "ccm_reconciles_total", result="deleted") == 1,
            what="deleted counted",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(x) for x in (tmp_path / "ccm.log").read_text().splitlines()]
    created = [x for x in lines if x.get("result") == "created"]
    assert created and created[0]["service"] == "default/web"
    assert created[0]["provider"] == "pool" and "duration_ms" in created[0]
    assert all(x["cluster"] == "metrics" for x in lines)

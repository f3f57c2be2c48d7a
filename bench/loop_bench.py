"""Reconcile-loop scale benchmark with the pool driver.

Three processes: the sandbox API server, `ccm run --provider pool`, and this script,
which registers M Nodes, then creates N LoadBalancer Services through the official client
and watches their status. Reports the time from the last create to the last status
written, statuses and reconciles per second (reconciles scraped from the controller's
/metrics), the time for one node change to fan out to every Service, the controller's
peak RSS, and the writes one full no-op resync makes.

    uv run --all-extras python -m bench.loop_bench --services 10000 --nodes 1000
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.sandbox_bench import RESULTS, Core, api, start_sandbox

POOLS = """
pools:
  - name: bench
    addresses: ["172.16.0.0/16"]
"""


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_sandbox/stats", timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


class StatusWatcher:
    """Counts Services that have an ingress IP, and when the last one got it."""

    def __init__(self, url: str, rv: str) -> None:
        self.core = api(url, 2)
        self.rv = rv
        self.with_ip: set[str] = set()
        self.last_status_at = 0.0
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:
            return

    def _watch(self) -> None:
        while not self.stop:
            resp = self.core.list_service_for_all_namespaces(
                watch=True,
                resource_version=self.rv,
                timeout_seconds=60,
                allow_watch_bookmarks=True,
                _preload_content=False,
            )
            for line in resp:
                for raw in line.splitlines():
                    if not raw.strip():
                        continue
                    ev = json.loads(raw)
                    obj = ev["object"]
                    self.rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if (
                        obj.get("status", {}).get("loadBalancer", {}).get("ingress")
                        and name not in self.with_ip
                    ):
                        self.with_ip.add(name)
                        self.last_status_at = time.monotonic()


@dataclass(frozen=True)
class LoopConfig:
    services: int = 10000
    nodes: int = 1000
    workers: int = 4
    writers: int = 8
    resync_period: float = 45.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--resync-period", type=float, default=45.0)
    args = parser.parse_args()
    result = run_bench(
        LoopConfig(args.services, args.nodes, args.workers, args.writers, args.resync_period)
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loop.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


def controller_command(tmp: Path, cfg: LoopConfig) -> list[str]:
    """`ccm run` as an operator would start it, except that /metrics goes on a free
    loopback port (so parallel runs do not fight over :10258) and logs are text, which
    the final "reconciles {...}" line is parsed from."""
    return [
        sys.executable,
        "-m",
        "ccm.cli",
        "run",
        "--provider",
        "pool",
        "--cluster-name",
        "bench",
        "--kubeconfig",
        str(tmp / "kubeconfig"),
        "--provider-config",
        str(tmp / "pools.yaml"),
        "--workers",
        str(cfg.workers),
        "--resync-period",
        str(cfg.resync_period),
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-level",
        "info",
        "--log-format",
        "text",
        "--leak-interval",
        "0",
    ]


def run_bench(cfg: LoopConfig) -> dict[str, Any]:
    """The whole benchmark: processes up, Nodes in, the controller started, then `run`."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sandbox, url = start_sandbox(tmp, node_ports="30000-50000")
        (tmp / "pools.yaml").write_text(POOLS)
        log_path = tmp / "controller.log"
        log_file = log_path.open("w")  # a file, not a pipe: a full pipe would block the logger
        ctl: subprocess.Popen[str] | None = None
        try:
            nodes_s = add_nodes(api(url, cfg.writers), range(cfg.nodes), cfg.writers)
            ctl = subprocess.Popen(controller_command(tmp, cfg), stderr=log_file, text=True)
            result = run(url, ctl, log_path, cfg)
            result["node_create_s"] = round(nodes_s, 2)
        finally:
            if ctl is not None:
                ctl.send_signal(signal.SIGTERM)
                ctl.wait(timeout=120)
            log_file.close()
            err = log_path.read_text()
            sandbox.terminate()
            sandbox.wait(timeout=10)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "loop-controller.log").write_text(err)
        match = re.search(r"reconciles (\{.*\})", err)
        counts = json.loads(match.group(1)) if match else {}
        result["reconcile_results"] = counts
        result["reconciles_total"] = sum(counts.values())
    return {"config": asdict(cfg), **result}


def node(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{i:04d}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": f"10.1.{i // 250}.{i % 250 + 1}"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def add_nodes(core: Core, which: range, writers: int) -> float:
    t0 = time.monotonic()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(lambda i: core.create_node(node(i), _preload_content=False), which))
    return time.monotonic() - t0


def metrics_url(log_path: Path, timeout: float = 60.0) -> str:
    """The controller logs the port it picked for --metrics-addr 127.0.0.1:0."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"/readyz on port (\d+)", log_path.read_text())
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        time.sleep(0.1)
    raise RuntimeError("controller did not report its metrics port")


def reconciles_scraped(url: str) -> int:
    """Sum of ccm_reconciles_total over results, from the controller's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "ccm_reconciles":
            total += sum(s.value for s in family.samples if s.name == "ccm_reconciles_total")
    return int(total)


class RssSampler:
    """Peak resident memory of a process, sampled every 100 ms on a daemon thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.running = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def now_mb(self) -> float:
        rss: int = self.proc.memory_info().rss
        return round(rss / 2**20, 1)


def lb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "ccm.dev/lb",
            "ports": [{"name": "http", "port": 80}],
        },
    }


def wait_until(predicate: Any, timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def run(url: str, ctl: subprocess.Popen[str], log_path: Path, cfg: LoopConfig) -> dict[str, Any]:
    rss = RssSampler(ctl.pid)
    metrics = metrics_url(log_path)
    core: Core = api(url, cfg.writers)
    rv = core.list_service_for_all_namespaces().metadata.resource_version
    watcher = StatusWatcher(url, rv)
    # Leader elected and informers synced once a first Service gets its address.
    core.create_namespaced_service("default", lb_service("probe"), _preload_content=False)
    if not wait_until(lambda: "probe" in watcher.with_ip, 180):
        raise RuntimeError("the controller never wrote the probe Service's status")
    rss_idle = rss.now_mb()
    n = cfg.services
    names = {f"lb-{i:05d}" for i in range(n)}
    reconciles0 = reconciles_scraped(metrics)

    def create(i: int) -> None:
        core.create_namespaced_service("default", lb_service(f"lb-{i:05d}"), _preload_content=False)

    began = time.monotonic()
    with ThreadPoolExecutor(cfg.writers) as pool:
        list(pool.map(create, range(n)))
    last_create = time.monotonic()
    wait_until(lambda: names <= watcher.with_ip, max(300.0, n / 10))
    converged = len(names & watcher.with_ip)
    done_at = watcher.last_status_at
    reconciles1 = reconciles_scraped(metrics)
    rss_converged = rss.now_mb()
    fanout = node_fanout(core, metrics, cfg, n)
    writes, events_drained_s = noop_resync(url, cfg, done_at)
    rss.running = False
    window = max(0.001, done_at - began)
    return {
        "services": n,
        "nodes": cfg.nodes,
        "controller_workers": cfg.workers,
        "create_phase_s": round(last_create - began, 2),
        "converged": converged,
        "last_create_to_last_status_s": round(done_at - last_create, 2),
        "first_create_to_last_status_s": round(window, 2),
        "statuses_per_s": round(converged / window, 1),
        "reconciles_during_convergence": reconciles1 - reconciles0,
        "reconciles_per_s": round((reconciles1 - reconciles0) / window, 1),
        **fanout,
        "controller_rss_idle_mb": rss_idle,
        "controller_rss_converged_mb": rss_converged,
        "controller_peak_rss_mb": round(rss.peak / 2**20, 1),
        "events_written_by_s_after_last_status": round(events_drained_s, 1),
        "noop_resync_window_s": cfg.resync_period + 20,
        "noop_resync_writes": writes,
    }


def node_fanout(core: Core, metrics: str, cfg: LoopConfig, n: int) -> dict[str, Any]:
    """One Node joins: every owned Service must be re-ensured. Time until the controller
    has reconciled that many more times (the event throughput of a node change)."""
    before = reconciles_scraped(metrics)
    t0 = time.monotonic()
    core.create_node(node(cfg.nodes), _preload_content=False)
    done = wait_until(lambda: reconciles_scraped(metrics) - before >= n + 1, 600, every=0.5)
    took = time.monotonic() - t0
    return {
        "node_change_fanout_complete": done,
        "node_change_fanout_s": round(took, 2),
        "node_change_reconciles_per_s": round((reconciles_scraped(metrics) - before) / took, 1),
    }


def noop_resync(url: str, cfg: LoopConfig, done_at: float) -> tuple[dict[str, int], float]:
    """Let the Event backlog drain, then a full resync of the converged set must write
    nothing: the API writes in one resync window."""
    drained = time.monotonic()
    previous = -1
    while time.monotonic() - drained < 120:
        posts = stats(url)["requestsByMethod"].get("POST", 0)
        if posts == previous:
            break
        previous = posts
        time.sleep(3)
    events_drained_s = time.monotonic() - done_at
    before = stats(url)["requestsByMethod"]
    time.sleep(cfg.resync_period + 20)
    after = stats(url)["requestsByMethod"]
    writes = {m: after.get(m, 0) - before.get(m, 0) for m in ("POST", "PUT", "PATCH", "DELETE")}
    return writes, events_drained_s


if __name__ == "__main__":
    sys.exit(main())

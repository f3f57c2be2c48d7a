"""Reconcile-loop scale benchmark with the pool driver.

Three processes: the sandbox API server, `ccm run --provider pool`, and this script,
which creates N LoadBalancer Services through the official client and watches their
status. Reports the time from the last create to the last status written, reconciles per
second, the controller's peak RSS, and the writes one full no-op resync makes.

    uv run --all-extras python -m bench.loop_bench --services 5000
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
from pathlib import Path
from typing import Any

import psutil
from kubernetes import client

from bench.sandbox_bench import RESULTS, api, start_sandbox

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--resync-period", type=float, default=45.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sandbox, url = start_sandbox(tmp, node_ports="30000-50000")
        (tmp / "pools.yaml").write_text(POOLS)
        log_path = tmp / "controller.log"
        log_file = log_path.open("w")  # a file, not a pipe: a full pipe would block the logger
        ctl = subprocess.Popen(
            [
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
                str(args.workers),
                "--resync-period",
                str(args.resync_period),
                "--log-level",
                "info",
            ],
            stderr=log_file,
            text=True,
        )
        try:
            result = run(url, ctl, args)
        finally:
            ctl.send_signal(signal.SIGTERM)
            ctl.wait(timeout=60)
            log_file.close()
            err = log_path.read_text()
            sandbox.terminate()
            sandbox.wait(timeout=10)
        (RESULTS / "loop-controller.log").parent.mkdir(exist_ok=True)
        (RESULTS / "loop-controller.log").write_text(err)
        match = re.search(r"reconciles (\{.*\})", err)
        counts = json.loads(match.group(1)) if match else {}
        result["reconcile_results"] = counts
        total = sum(counts.values())
        result["reconciles_total"] = total
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loop.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


def run(url: str, ctl: subprocess.Popen[str], args: argparse.Namespace) -> dict[str, Any]:
    proc = psutil.Process(ctl.pid)
    peak = 0
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    core: client.CoreV1Api = api(url, args.writers)
    for i in range(3):  # a cluster has nodes; without them every Service also gets a Warning
        core.create_node(
            {
                "metadata": {"name": f"node-{i}"},
                "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.0.{i + 1}"}]},
            }
        )
    rv = core.list_service_for_all_namespaces().metadata.resource_version
    watcher = StatusWatcher(url, rv)
    time.sleep(2)  # controller start-up and informer sync
    n = args.services

    def create(i: int) -> None:
        core.create_namespaced_service(
            "default",
            {
                "metadata": {"name": f"lb-{i:05d}"},
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerClass": "ccm.dev/lb",
                    "ports": [{"name": "http", "port": 80}],
                },
            },
            _preload_content=False,
        )

    began = time.monotonic()
    with ThreadPoolExecutor(args.writers) as pool:
        list(pool.map(create, range(n)))
    last_create = time.monotonic()
    deadline = last_create + 300
    while len(watcher.with_ip) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    converged = len(watcher.with_ip)
    done_at = watcher.last_status_at
    converge_s = done_at - last_create
    # Let the Event backlog drain, then a full resync of the converged set must write nothing.
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
    time.sleep(args.resync_period + 20)
    after = stats(url)["requestsByMethod"]
    sampling = False
    writes = {m: after.get(m, 0) - before.get(m, 0) for m in ("POST", "PUT", "PATCH", "DELETE")}
    return {
        "services": n,
        "controller_workers": args.workers,
        "create_phase_s": round(last_create - began, 2),
        "converged": converged,
        "last_create_to_last_status_s": round(converge_s, 2),
        "first_create_to_last_status_s": round(done_at - began, 2),
        "statuses_per_s": round(n / max(0.001, done_at - began), 1),
        "controller_peak_rss_mb": round(peak / 2**20, 1),
        "events_written_by_s_after_last_status": round(events_drained_s, 1),
        "noop_resync_window_s": args.resync_period + 20,
        "noop_resync_writes": writes,
    }


if __name__ == "__main__":
    sys.exit(main())

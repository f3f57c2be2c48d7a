"""Sandbox scale benchmark: N Services created through the official client while four
watchers stream, then full and paged lists. Prints a table and writes JSON.

The sandbox runs as its own process (`ccm sandbox`), so the memory figure is the
server's alone and client work does not share its GIL.

    uv run --all-extras python -m bench.sandbox_bench --services 10000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import yaml
from kubernetes import client, watch

RESULTS = Path(__file__).parent / "results"

# The kubernetes client's annotations name its model classes, but the benches pass plain
# dicts and read raw responses (`_preload_content=False`), which the client supports and
# its annotations do not express; so the benches hold the API object untyped.
Core = Any


def start_sandbox(
    tmp: Path, node_ports: str = "30000-60000"
) -> tuple[subprocess.Popen[bytes], str]:
    cfg = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccm.cli",
            "sandbox",
            "--port",
            "0",
            "--kubeconfig-out",
            str(cfg),
            "--service-node-port-range",
            "30000-60000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not cfg.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("ccm sandbox did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    url = yaml.safe_load(cfg.read_text())["clusters"][0]["cluster"]["server"]
    return proc, str(url)


def api(url: str, pool: int) -> Core:
    cfg = client.Configuration()
    cfg.host = url
    cfg.connection_pool_maxsize = pool
    return client.CoreV1Api(client.ApiClient(cfg))


def watcher(
    url: str, rv: str, want: int, counts: list[int], idx: int, done: threading.Event
) -> None:
    core = api(url, 1)
    w: Any = watch.Watch()  # type: ignore[no-untyped-call]
    for ev in w.stream(
        core.list_service_for_all_namespaces,
        resource_version=rv,
        timeout_seconds=600,
        _preload_content=False,
    ):
        if ev["type"] == "ADDED":
            counts[idx] += 1
            if counts[idx] >= want:
                w.stop()
    done.set()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--writers", type=int, default=8, help="client threads creating Services")
    parser.add_argument("--watchers", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_sandbox(Path(tmp))
        try:
            result = run(url, proc.pid, args.services, args.writers, args.watchers)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


def run(url: str, pid: int, n: int, writers: int, watchers: int) -> dict[str, Any]:
    server = psutil.Process(pid)
    rss_idle = server.memory_info().rss
    core = api(url, writers)
    rv = core.list_service_for_all_namespaces().metadata.resource_version
    counts = [0] * watchers
    dones = [threading.Event() for _ in range(watchers)]
    for i in range(watchers):
        threading.Thread(
            target=watcher, args=(url, rv, n, counts, i, dones[i]), daemon=True
        ).start()
    time.sleep(0.5)

    def create(i: int) -> None:
        core.create_namespaced_service(
            "default",
            {
                "metadata": {"name": f"svc-{i:05d}", "labels": {"bench": "1"}},
                "spec": {
                    "type": "LoadBalancer",
                    "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
                },
            },
            _preload_content=False,
        )

    cpu_before = sum(server.cpu_times()[:2])
    began = time.monotonic()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(create, range(n)))
    create_s = time.monotonic() - began
    server_cpu = sum(server.cpu_times()[:2]) - cpu_before
    watch_deadline = time.monotonic() + 120
    for d in dones:
        d.wait(max(0.0, watch_deadline - time.monotonic()))
    watch_lag = time.monotonic() - began - create_s

    full: list[float] = []
    for _ in range(5):
        t = time.monotonic()
        resp = core.list_service_for_all_namespaces(_preload_content=False)
        items = len(json.loads(resp.data)["items"])
        full.append(time.monotonic() - t)
    paged: list[float] = []
    for _ in range(3):
        t = time.monotonic()
        token, seen = None, 0
        while True:
            page = json.loads(
                core.list_service_for_all_namespaces(
                    limit=500, _continue=token, _preload_content=False
                ).data
            )
            seen += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        paged.append(time.monotonic() - t)
    selected = time.monotonic()
    core.list_service_for_all_namespaces(
        field_selector="metadata.name=svc-00042", _preload_content=False
    )
    selector_s = time.monotonic() - selected

    return {
        "services": n,
        "writer_threads": writers,
        "watchers": watchers,
        "create_total_s": round(create_s, 2),
        "create_requests_per_s": round(n / create_s, 1),
        "server_cpu_during_create_s": round(server_cpu, 2),
        "server_cpu_ms_per_create": round(server_cpu / n * 1000, 2),
        "watch_events_received": counts,
        "watch_lag_after_last_create_s": round(watch_lag, 2),
        "list_all_items": items,
        "list_all_median_ms": round(statistics.median(full) * 1000, 1),
        "list_paged_500_median_ms": round(statistics.median(paged) * 1000, 1),
        "paged_items": seen,
        "field_selector_list_ms": round(selector_s * 1000, 1),
        "server_rss_idle_mb": round(rss_idle / 2**20, 1),
        "server_rss_after_mb": round(server.memory_info().rss / 2**20, 1),
    }


if __name__ == "__main__":
    sys.exit(main())

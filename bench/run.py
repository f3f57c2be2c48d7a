"""Run every benchmark, print one table, write bench/results.json and docs/benchmarks.md.

Numbers only mean something with the machine, the date and the commit they came from,
and a doc typed by hand drifts from the JSON; so one command runs the per-topic benches
(each in its own process: moto's backends and the Prometheus registry are process-wide,
and one crash must not lose the other results), records everything in one JSON file and
regenerates the doc from that file alone.

    uv run --all-extras python -m bench.run                 # the issue's sizes
    uv run --all-extras python -m bench.run --quick         # small sizes, a smoke test
    uv run --all-extras python -m bench.run --only aws,leaks --out-dir /tmp/b
    uv run --all-extras python -m bench.run --render-only   # the doc from the JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.docgen import render

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results.json"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
COMMAND = "uv run --all-extras python -m bench.run"


def _aws(_: dict[str, Any]) -> dict[str, Any]:
    from bench import aws_bench

    return aws_bench.collect()


def _gcp(_: dict[str, Any]) -> dict[str, Any]:
    from bench import gcp_bench

    return gcp_bench.collect()


def _azure(_: dict[str, Any]) -> dict[str, Any]:
    from bench import azure_bench

    return azure_bench.collect()


def _throttle(sizes: dict[str, Any]) -> dict[str, Any]:
    from bench import throttle_bench

    return throttle_bench.run(int(sizes["services"]))


def _scale(sizes: dict[str, Any]) -> dict[str, Any]:
    from bench.loop_bench import LoopConfig, run_bench

    return run_bench(
        LoopConfig(
            services=int(sizes["services"]),
            nodes=int(sizes["nodes"]),
            resync_period=float(sizes["resync_period"]),
        )
    )


def _leaks(sizes: dict[str, Any]) -> dict[str, Any]:
    from bench import leak_bench

    return leak_bench.run(int(sizes["services"]))


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[dict[str, Any]], dict[str, Any]]
    full: dict[str, Any]  # the sizes
    quick: dict[str, Any]  # a smoke test's


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("aws", _aws, {}, {}),
        Benchmark("gcp", _gcp, {}, {}),
        Benchmark("azure", _azure, {}, {}),
        Benchmark("throttle", _throttle, {"services": 1000}, {"services": 20}),
        Benchmark(
            "scale",
            _scale,
            {"services": 10000, "nodes": 1000, "resync_period": 45.0},
            {"services": 200, "nodes": 20, "resync_period": 3.0},
        ),
        Benchmark("leaks", _leaks, {"services": 1000}, {"services": 20}),
    )
}


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def git_commit() -> dict[str, Any]:
    """The commit the code under test came from, and whether the code had local edits."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "ccm", "providers", "bench")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(dirty)}


def run_child(name: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """One benchmark in a fresh interpreter; its result (or its failure) as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, "-m", "bench.run", "--child", name, "--child-out", str(out)]
        cmd += ["--child-sizes", json.dumps(sizes)]
        t0 = time.monotonic()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        took = round(time.monotonic() - t0, 1)
        entry: dict[str, Any] = {
            "sizes": sizes,
            "seconds": took,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if done.returncode == 0 and out.exists():
            entry["result"] = json.loads(out.read_text())
        else:
            entry["error"] = (done.stderr or done.stdout)[-4000:]
        return entry


def child(name: str, out: Path, sizes: dict[str, Any]) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    result = BENCHMARKS[name].run(sizes)
    out.write_text(json.dumps(result, indent=2, default=str))
    return 0


def select(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return names


def headline(name: str, entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The few numbers per benchmark the console table shows."""
    if "error" in entry:
        return [("FAILED", entry["error"].strip().splitlines()[-1][:80])]
    r = entry["result"]
    if name in ("aws", "gcp", "azure"):
        phases = r.get("phases", r)
        calls = {p: _calls(phases[p]) for p in ("create", "resync", "annotation", "delete")}
        lat = r["latency"]
        return [
            ("calls create/resync/annotation/delete", "/".join(str(v) for v in calls.values())),
            ("s to status at 50 ms/call", f"{lat['seconds_to_status']:.3f}"),
        ]
    if name == "throttle":
        return [
            ("services converged", f"{r['converged']}/{r['services']}"),
            ("wall s (ratio to floor)", f"{r['wall_s']} ({_ratio(r['ratio_to_floor'])})"),
            (
                "throttled calls / error reconciles",
                f"{r['throttled_calls']} / {r['error_reconciles']}",
            ),
            ("Warning events", str(r["warning_events_total"])),
        ]
    if name == "scale":
        return [
            ("services x nodes", f"{r['services']} x {r['nodes']}"),
            ("statuses/s, reconciles/s", f"{r['statuses_per_s']}, {r['reconciles_per_s']}"),
            ("node change fan-out s", str(r["node_change_fanout_s"])),
            ("controller peak RSS MB", str(r["controller_peak_rss_mb"])),
        ]
    if name == "leaks":
        return [
            ("owned resources scanned", str(r["scan"]["owned"])),
            ("scan calls / s", f"{r['scan']['total_calls']} / {r['scan']['seconds']}"),
            ("delete sweep calls / s", f"{r['delete']['total_calls']} / {r['delete']['seconds']}"),
        ]
    return []


def _ratio(value: float | None) -> str:
    """None when every call fit in the buckets' initial capacity: no floor to divide by."""
    return f"{value}x" if value is not None else "floor 0: all calls fit the bursts"


def _calls(phase: dict[str, Any]) -> int:
    return int(phase.get("proxy_calls", phase.get("calls", 0)))


def print_table(data: dict[str, Any], names: list[str]) -> None:
    rows = [("benchmark", "metric", "value"), ("", "", "")]
    for name in names:
        entry = data["benchmarks"][name]
        for i, (metric, value) in enumerate(headline(name, entry)):
            rows.append((f"{name} ({entry['seconds']:.0f} s)" if i == 0 else "", metric, value))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    rows[1] = tuple("-" * w for w in widths)  # type: ignore[assignment]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def load(path: Path) -> dict[str, Any]:
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"benchmarks": {}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    p.add_argument("--out-dir", type=Path, help="write results.json and benchmarks.md here")
    p.add_argument("--json", type=Path, help=f"results file (default {DEFAULT_JSON})")
    p.add_argument("--doc", type=Path, help=f"generated doc (default {DEFAULT_DOC})")
    p.add_argument("--render-only", action="store_true", help="regenerate the doc, run nothing")
    p.add_argument(
        "--note",
        action="append",
        default=[],
        help="a remark on the run's conditions, kept in the JSON and shown in the doc",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--child-sizes", default="{}", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child, args.child_out, json.loads(args.child_sizes))
    out_dir: Path | None = args.out_dir
    json_path = args.json or (out_dir / "results.json" if out_dir else DEFAULT_JSON)
    doc_path = args.doc or (out_dir / "benchmarks.md" if out_dir else DEFAULT_DOC)
    if args.render_only:
        data = load(json_path)
        if args.note:  # a remark about a run already recorded, e.g. a busy machine
            data["notes"] = [*data.get("notes", []), *args.note]
            json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        doc_path.write_text(render(data))
        print(f"wrote {doc_path}")
        return 0
    names = select(args.only)
    # A partial run updates its benchmarks in the existing file and keeps the others.
    data = load(json_path) if args.only else {"benchmarks": {}}
    data.update(
        machine=machine(),
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        git=git_commit(),
        command=COMMAND + (" --quick" if args.quick else ""),
        quick=args.quick,
        notes=args.note,
    )
    t0 = time.monotonic()
    for name in names:
        b = BENCHMARKS[name]
        print(f"running {name} ...", flush=True)
        data["benchmarks"][name] = run_child(name, b.quick if args.quick else b.full)
    data["last_run_seconds"] = round(time.monotonic() - t0, 1)
    data["last_run"] = names
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(render(data))
    print()
    print_table(data, names)
    print(
        f"\n{len(names)} benchmarks in {data['last_run_seconds']} s; wrote {json_path}, {doc_path}"
    )
    failed = [n for n in names if "error" in data["benchmarks"][n]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

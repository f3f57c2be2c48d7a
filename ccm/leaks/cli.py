"""`ccm leaks`: the detector on demand. Reports by default; `--delete` removes.

Deleting confirms first: a second scan `--confirm-delay` seconds after the first, and
only what both scans call orphaned (and what is older than `--min-age` where the cloud
says when it was made) is deleted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace

from ccm.controller import has_finalizer, owns
from ccm.driver import ObservingDriver
from ccm.leaks.report import table, to_json
from ccm.leaks.sweep import Mode, SweepConfig, Sweeper, SweepReport
from ccm.model import JSON, ClusterInfo
from ccm.run import build

EXIT_REFUSED = 1
EXIT_FAILED = 3


def leaks(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.max_deletions < 0 or args.min_age < 0 or args.confirm_delay < 0:
        raise SystemExit("--max-deletions, --min-age, --confirm-delay: must not be negative")
    kube, driver = build(args)
    cluster = ClusterInfo(args.cluster_name, args.load_balancer_class)

    def owned(svc: JSON) -> bool:
        return owns(svc, cluster.load_balancer_class, args.default_class)

    def list_services() -> list[JSON]:
        services = kube.list_all("services")[0]
        if isinstance(driver, ObservingDriver):  # its state lives in the Services' status
            driver.observe([s for s in services if owned(s) or has_finalizer(s)], cluster)
        return services

    if isinstance(driver, ObservingDriver):
        list_services()  # the inventory comes from what observe rebuilt
    config = SweepConfig(
        mode=Mode.REPORT,
        min_age=args.min_age,
        max_deletions=args.max_deletions,
        delete_legacy=args.delete_legacy,
        min_gap=args.confirm_delay,
    )
    sweeper = Sweeper(driver, cluster, owned, config)
    report = sweeper.sweep(list_services)
    if args.delete and not report.refused and report.findings:
        print(
            f"ccm leaks: {len(report.findings)} orphaned; confirming in {args.confirm_delay:g}s",
            file=sys.stderr,
        )
        time.sleep(args.confirm_delay)
        sweeper.config = replace(config, mode=Mode.DELETE)
        report = sweeper.sweep(list_services)
    _print(args.output, report, cluster.name)
    if report.refused:
        print(f"ccm leaks: deleted nothing: {report.refused}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_FAILED if report.failed else 0


def _print(output: str, report: SweepReport, cluster: str) -> None:
    if output == "json":
        json.dump(to_json([report], cluster), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table([report]))

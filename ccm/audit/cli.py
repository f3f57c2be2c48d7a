"""`ccm audit`: price every LoadBalancer Service of a fleet, its orphans and the savings.

Exit codes: 0 the audit is complete; 2 it could not be made (a cluster unreachable, an
inventory that failed, a price file that is malformed or lacks the region). There is no
partial report: a cluster missing from a fleet total would read as $0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TextIO

from ccm.audit.assemble import AuditOptions, assemble
from ccm.audit.collect import AuditError, collect, members
from ccm.audit.csv_out import render_csv
from ccm.audit.html import render_html
from ccm.audit.table import render_table
from ccm.model import JSON
from ccm.pricing import PriceFileError

EXIT_FAILED = 2


def render(doc: JSON, output: str) -> str:
    if output == "json":
        return json.dumps(doc, indent=2) + "\n"
    if output == "csv":
        return render_csv(doc)
    if output == "html":
        return render_html(doc)
    return render_table(doc)


def audit(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.capacity_units is not None and args.capacity_units < 0:
        print("ccm audit: --capacity-units: must be a number >= 0", file=sys.stderr)
        return EXIT_FAILED
    try:
        fleet = members(args)
        snapshots = collect(args, fleet)
        doc = assemble(
            snapshots,
            AuditOptions(capacity_units=args.capacity_units, pending_after=args.pending_after),
        )
    except (AuditError, PriceFileError) as e:
        print(f"ccm audit: {e}", file=sys.stderr)
        print("ccm audit: no report written", file=sys.stderr)
        return EXIT_FAILED
    out.write(render(doc, args.output))
    return 0

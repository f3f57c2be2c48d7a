"""The audit as CSV, one row per billed thing, for spreadsheets and chargeback scripts.

Services and orphans share one sheet (told apart by `record`) because the people who pivot
on cost want a single table that sums to the total; figures stay unformatted numbers so a
spreadsheet can add them up.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

COLUMNS = (
    "record",
    "cluster",
    "provider",
    "namespace",
    "name",
    "uid",
    "kind",
    "controller",
    "scheme",
    "ports",
    "public_ips",
    "state",
    "ready_endpoints",
    "reason",
    "hourly",
    "monthly",
    "exact",
)


def _cell(value: Any) -> str:
    """A field as text; None is an empty cell, not the word None."""
    return "" if value is None else str(value)


def _flag(value: Any) -> str:
    # Lower-case words rather than Python's True/False, matching the JSON.
    return "true" if value is True else "false"


def _records(value: Any) -> list[dict[str, Any]]:
    """The objects under a key, so an absent list yields no rows rather than an error."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _ports(value: Any) -> str:
    # Space-joined: commas would need quoting and read like separate columns.
    return " ".join(str(port) for port in value) if isinstance(value, list) else _cell(value)


def _service_row(svc: dict[str, Any]) -> dict[str, str]:
    return {
        "record": "service",
        "cluster": _cell(svc.get("cluster")),
        "provider": _cell(svc.get("provider")),
        "namespace": _cell(svc.get("namespace")),
        "name": _cell(svc.get("name")),
        "uid": _cell(svc.get("uid")),
        "kind": _cell(svc.get("kind")),
        "controller": _cell(svc.get("controller")),
        "scheme": _cell(svc.get("scheme")),
        "ports": _ports(svc.get("ports")),
        "public_ips": _cell(svc.get("public_ips")),
        "state": _cell(svc.get("state")),
        "ready_endpoints": _cell(svc.get("ready_endpoints")),
        "reason": "",
        "hourly": _cell(svc.get("hourly")),
        "monthly": _cell(svc.get("monthly")),
        "exact": _flag(svc.get("exact")),
    }


def _orphan_row(orphan: dict[str, Any]) -> dict[str, str]:
    """An orphan is filed under the Service that once owned it, so chargeback can find it."""
    owner = orphan.get("owner")
    owner = owner if isinstance(owner, dict) else {}
    return {
        "record": "orphan",
        "cluster": _cell(orphan.get("cluster")),
        "provider": _cell(orphan.get("provider")),
        "namespace": _cell(owner.get("namespace")),
        "name": _cell(owner.get("name")),
        "uid": _cell(owner.get("uid")),
        "kind": _cell(orphan.get("kind")),
        "controller": _cell(orphan.get("controller")),
        "scheme": "",
        "ports": "",
        "public_ips": "",
        "state": "",
        "ready_endpoints": "",
        "reason": _cell(orphan.get("reason")),
        "hourly": _cell(orphan.get("hourly")),
        "monthly": _cell(orphan.get("monthly")),
        "exact": _flag(orphan.get("exact")),
    }


def _rows(doc: dict[str, Any]) -> Iterator[dict[str, str]]:
    for svc in _records(doc.get("services")):
        yield _service_row(svc)
    for orphan in _records(doc.get("orphans")):
        yield _orphan_row(orphan)


def render_csv(doc: dict[str, Any]) -> str:
    """Header plus one row per Service and per orphan of a `ccm.dev/audit/v1` document.

    Rows end in CRLF as RFC 4180 asks, which every spreadsheet and `csv.reader` accepts.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(_rows(doc))
    return out.getvalue()

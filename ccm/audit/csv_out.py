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


_SERVICE_FIELDS = (
    "cluster", "provider", "namespace", "name", "uid", "kind", "controller", "scheme",
    "public_ips", "state", "ready_endpoints", "hourly", "monthly",
)  # fmt: skip
_ORPHAN_FIELDS = ("cluster", "provider", "kind", "controller", "reason", "hourly", "monthly")


def _row(record: str, source: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    """Every column present (empty where the record has no such field), fields copied."""
    row = dict.fromkeys(COLUMNS, "")
    row["record"] = record
    row.update({name: _cell(source.get(name)) for name in fields})
    row["exact"] = _flag(source.get("exact"))
    return row


def _service_row(svc: dict[str, Any]) -> dict[str, str]:
    row = _row("service", svc, _SERVICE_FIELDS)
    row["ports"] = _ports(svc.get("ports"))
    return row


def _orphan_row(orphan: dict[str, Any]) -> dict[str, str]:
    """An orphan is filed under the Service that once owned it, so chargeback can find it."""
    owner = orphan.get("owner")
    owner = owner if isinstance(owner, dict) else {}
    row = _row("orphan", orphan, _ORPHAN_FIELDS)
    row.update({name: _cell(owner.get(name)) for name in ("namespace", "name", "uid")})
    return row


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

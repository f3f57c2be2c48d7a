"""A sweep as a table for people and as JSON for tools (the schema is in the README)."""

from __future__ import annotations

from typing import Any

from ccm.leaks.sweep import Finding, SweepReport


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _owner(f: Finding) -> tuple[str, str]:
    o = f.orphan.resource.owner
    return (o.key, o.uid or "-") if o else ("(shared)", "-")


def table(reports: list[SweepReport]) -> str:
    header = ("PROVIDER", "KIND", "NAME", "OWNER", "UID", "REASON", "AGE", "$/MONTH", "ACTION")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for rep in reports:
        if rep.refused:
            notes.append(f"{rep.provider}: refused, deleted nothing: {rep.refused}")
        for f in rep.findings:
            r = f.orphan.resource
            owner, uid = _owner(f)
            rows.append(
                (
                    r.provider,
                    r.kind,
                    r.name or r.id,
                    owner,
                    uid,
                    f.orphan.reason.value,
                    age_text(f.age),
                    f"{f.monthly_cost:.2f}",
                    f.action.value + (f" ({f.error})" if f.error else ""),
                )
            )
        for r, why in rep.spared:
            notes.append(f"{r.provider}: kept {r.kind} {r.name or r.id}: {why.value}")
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    total = sum(f.monthly_cost for rep in reports for f in rep.findings)
    count = sum(len(rep.findings) for rep in reports)
    if not rows:
        lines = ["no orphaned resources"]
    lines.append(f"{count} orphaned, estimated ${total:.2f}/month")
    return "\n".join(lines + notes) + "\n"


def to_json(reports: list[SweepReport], cluster: str) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "sweeps": [
            {
                "provider": rep.provider,
                "started": rep.started.isoformat(),
                "refused": rep.refused or None,
                "owned": rep.owned,
                "services": rep.services,
                "orphans": [_finding(f) for f in rep.findings],
                "spared": [
                    {"kind": r.kind, "id": r.id, "name": r.name, "why": why.value}
                    for r, why in rep.spared
                ],
                "monthly_cost": round(sum(f.monthly_cost for f in rep.findings), 2),
            }
            for rep in reports
        ],
    }


def _finding(f: Finding) -> dict[str, Any]:
    r = f.orphan.resource
    return {
        "provider": r.provider,
        "kind": r.kind,
        "id": r.id,
        "name": r.name or r.id,
        "owner": (
            {"namespace": r.owner.namespace, "name": r.owner.name, "uid": r.owner.uid or None}
            if r.owner
            else None
        ),
        "managed_by": r.managed_by,
        "reason": f.orphan.reason.value,
        "detail": f.orphan.detail,
        "age_seconds": None if f.age is None else round(f.age, 1),
        "monthly_cost": f.monthly_cost,
        "action": f.action.value,
        "error": f.error or None,
    }

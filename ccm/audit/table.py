"""The audit for a terminal: fits 80 columns, money right-aligned, estimates marked `~`."""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 80
MADE_BY = {
    "ccm": "ccm",
    "cloud-provider-aws": "in-tree",
    "aws-load-balancer-controller": "aws-lbc",
    "unknown": "unknown",
    "none": "-",
}
KIND = {"address": "addr", "unknown": "?"}
_ROW = "{:<26} {:<4} {:<8} {:<13} {:>3} {:<7} {:>11}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def money(value: Any, exact: bool = True) -> str:
    mark = "" if exact else "~"
    return f"{mark}${float(value or 0):,.2f}"


def _ports(ports: list[str]) -> str:
    short = [p.removeprefix("TCP/") for p in ports]
    return ",".join(short)


def render_table(doc: dict[str, Any]) -> str:
    fleet = len(doc.get("clusters") or []) > 1
    lines = [_ROW.format("SERVICE", "KIND", "MADE BY", "PORTS", "IPS", "STATE", "$/MONTH")]
    for s in doc.get("services") or []:
        name = f"{s['namespace']}/{s['name']}"
        if fleet:
            name = f"{s['cluster']}:{name}"
        lines.append(
            _ROW.format(
                _fit(name, 26),
                _fit(KIND.get(s["kind"], s["kind"]), 4),
                _fit(MADE_BY.get(s["controller"], s["controller"]), 8),
                _fit(_ports(s["ports"]), 13),
                s["public_ips"],
                s["state"],
                money(s["monthly"], s["exact"]),
            )
        )
    for o in doc.get("orphans") or []:
        owner = o.get("owner") or {}
        name = f"{owner.get('namespace', '?')}/{owner.get('name', '?')}" if owner else o["name"]
        lines.append(
            _ROW.format(
                _fit(f"{o['cluster']}:{name}" if fleet else name, 26),
                _fit(KIND.get(o["kind"], o["kind"]), 4),
                _fit(MADE_BY.get(o["controller"], o["controller"]), 8),
                "",
                "",
                "orphan" if o.get("deletable", True) else "kept",
                money(o["monthly"], o["exact"]),
            )
        )
    totals = doc.get("totals") or {}
    lines.append("")
    for c in doc.get("clusters") or []:
        lines.append(
            _fit(
                f"{c['cluster']} ({c['provider']}, {c['region']}): {c['services']} Services, "
                f"{c['load_balancers']} load balancers, {c['pending']} pending, "
                f"{money(c['monthly'])}/month",
                WIDTH,
            )
        )
    lines.append(
        f"TOTAL {money(totals.get('monthly'))}/month (~{money(totals.get('monthly_estimated'))}"
        f" estimated), orphans {money(totals.get('orphans_monthly'))}, possible savings "
        f"{money(totals.get('savings_monthly'))}"
    )
    namespaces = totals.get("by_namespace") or []
    if namespaces:
        parts = [
            f"{n['cluster'] + ':' if fleet else ''}{n['namespace']} {money(n['monthly'])}"
            for n in namespaces
        ]
        lines += textwrap.wrap("by namespace: " + ", ".join(parts), WIDTH, subsequent_indent="  ")
    findings = doc.get("findings") or []
    lines.append("")
    lines.append(f"FINDINGS ({len(findings)})" if findings else "FINDINGS: none")
    for f in findings:
        head = f"[{f['category']}] {f['type']}"
        if f["category"] == "saving":
            head += f" {money(f['monthly_saving'])}/month"
        who = ", ".join(f.get("services") or [])
        text = f"{head}: {who + ': ' if who else ''}{f['reason']}"
        lines += textwrap.wrap(text, WIDTH, subsequent_indent="    ")
    lines.append("")
    for c in doc.get("clusters") or []:
        p = c.get("prices") or {}
        lines += textwrap.wrap(
            f"prices for {c['cluster']}: {p.get('file', '')}, {p.get('date', '')}; "
            f"{p.get('source', '')}",
            WIDTH,
            subsequent_indent="    ",
        )
    lines.append("~ marks an estimate; everything else is list price x what the cloud reports.")
    return "\n".join(lines) + "\n"

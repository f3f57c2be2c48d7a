"""The audit as one self-contained HTML page, for people who will not read JSON.

The page is meant to be mailed, attached to a ticket or opened from a CI artifact, often
somewhere with no network or a strict proxy, so it fetches nothing: styles are inline, the
charts are hand-built SVG, there is no script, and a Content-Security-Policy says so to
the browser. Every value that came from a cluster or a cloud is escaped, because Service
names, tags and price-file text are not ours to trust.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

_CSP = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dee7;
  --bar: #3b6fd4; --saving: #1f7a44; --saving-bg: #eaf6ee; --risk: #b3261e;
  --risk-bg: #fdecea; --est: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: #f6f7f9; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 16px 20px; margin: 0 0 20px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.meta, .none, .note { color: var(--muted); }
.headline { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 12px; padding: 0; }
.headline div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px;
  min-width: 180px; }
.headline dt { color: var(--muted); font-size: 12px; }
.headline dd { margin: 0; font-size: 20px; font-weight: 600; }
ul.clusters { margin: 0; padding-left: 18px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
  gap: 20px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .bar { fill: var(--bar); }
svg.chart text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg.chart .value { fill: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #eef1f5; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  word-break: break-all; }
tr.saving td:first-child { border-left: 4px solid var(--saving); }
tr.risk td:first-child { border-left: 4px solid var(--risk); }
tr.risk { background: var(--risk-bg); }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px;
  font-weight: 600; }
.badge.saving { color: var(--saving); background: var(--saving-bg); }
.badge.risk { color: #fff; background: var(--risk); }
.estimate { color: var(--est); font-style: italic; }
.pending { color: var(--est); }
"""

# Chart geometry, in SVG user units; the viewBox scales it to the column width.
_CHART_WIDTH = 640
_LABEL_WIDTH = 220
_VALUE_WIDTH = 90
_ROW_HEIGHT = 24
_BAR_HEIGHT = 16
_PAD = 8
_LABEL_CHARS = 32


def _text(value: Any) -> str:
    """Escape anything for text or a quoted attribute; None is blank, not the word None."""
    return "" if value is None else escape(str(value), quote=True)


def _num(value: Any) -> float:
    """A figure the page can do arithmetic on, so a missing or bad field draws as zero."""
    if isinstance(value, bool):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def money(value: Any) -> str:
    """Monthly money at cents, the precision the JSON rounds monthly figures to."""
    return f"${_num(value):,.2f}"


def hourly_money(value: Any) -> str:
    """Hourly rates keep their sub-cent digits: $0.0225 shown as $0.02 would misprice."""
    digits = f"{_num(value):,.6f}".rstrip("0")
    whole, _, frac = digits.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _records(value: Any) -> list[dict[str, Any]]:
    """The list of objects under a key, so an absent or malformed list renders as none."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any, sep: str) -> str:
    if not isinstance(value, list):
        return "" if value is None else str(value)
    return sep.join(str(item) for item in value)


def _table(headers: Sequence[tuple[str, bool]], rows: Iterable[str]) -> str:
    """A table whose header knows which columns are numbers, so they right-align."""
    head = "".join(
        ('<th scope="col" class="num">' if numeric else '<th scope="col">') + f"{_text(title)}</th>"
        for title, numeric in headers
    )
    body = "".join(rows)
    return (
        '<div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _none(what: str) -> str:
    return f'<p class="none">none: {_text(what)}</p>'


def _truncate(label: str) -> str:
    """Long labels are cut so the bars keep their room; the full label is in the tooltip."""
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "\u2026"


def bar_chart(chart_id: str, title: str, items: Sequence[tuple[str, float]]) -> str:
    """A horizontal bar chart in plain SVG: readable with no script and in any mail client.

    Bars are scaled to the largest value; when every value is zero (a cluster with only
    pending Services) the bars are simply empty rather than a division by zero.
    """
    rows = sorted(items, key=lambda item: item[1], reverse=True)
    top = max((value for _, value in rows), default=0.0)
    span = _CHART_WIDTH - _LABEL_WIDTH - _VALUE_WIDTH
    height = max(len(rows), 1) * _ROW_HEIGHT + 2 * _PAD
    parts = [
        f'<svg id="{_text(chart_id)}" class="chart" role="img"'
        f' viewBox="0 0 {_CHART_WIDTH} {height}" width="{_CHART_WIDTH}" height="{height}"'
        f' aria-labelledby="{_text(chart_id)}-title">',
        f'<title id="{_text(chart_id)}-title">{_text(title)}</title>',
    ]
    if not rows:
        parts.append(f'<text x="{_PAD}" y="{_PAD + _ROW_HEIGHT // 2 + 4}">none</text>')
    for index, (label, value) in enumerate(rows):
        parts.append(_bar(index, label, value, top, span))
    parts.append("</svg>")
    return "".join(parts)


def _bar(index: int, label: str, value: float, top: float, span: int) -> str:
    """One row of a chart: label, bar and dollar value, with the exact text as a tooltip."""
    width = 0.0 if top <= 0 else max(value, 0.0) / top * span
    y = _PAD + index * _ROW_HEIGHT
    text_y = y + _ROW_HEIGHT // 2 + 4
    bar_y = y + (_ROW_HEIGHT - _BAR_HEIGHT) // 2
    return (
        "<g>"
        f"<title>{_text(label)}: {_text(money(value))}/month</title>"
        f'<text x="{_LABEL_WIDTH - _PAD}" y="{text_y}" text-anchor="end">'
        f"{_text(_truncate(label))}</text>"
        f'<rect class="bar" x="{_LABEL_WIDTH}" y="{bar_y}" width="{width:.1f}"'
        f' height="{_BAR_HEIGHT}" rx="2" />'
        f'<text class="value" x="{_LABEL_WIDTH + width + 6:.1f}" y="{text_y}">'
        f"{_text(money(value))}</text>"
        "</g>"
    )


def _head(doc: dict[str, Any]) -> str:
    generated = doc.get("generated") or "unknown time"
    return (
        "<head>"
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_text(_CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ccm audit \u2014 {_text(generated)}</title>"
        f"<style>{_STYLE}</style>"
        "</head>"
    )


def _figure(label: str, value: str) -> str:
    return f"<div><dt>{_text(label)}</dt><dd>{_text(value)}</dd></div>"


def _cluster_line(cluster: dict[str, Any]) -> str:
    """One cluster, with where its prices came from, so a reader can judge how current."""
    prices = _mapping(cluster.get("prices"))
    name = cluster.get("cluster") or cluster.get("context") or "?"
    context = cluster.get("context")
    where = f" (context {context})" if context and context != name else ""
    counts = (
        f"{cluster.get('services', 0)} services, {cluster.get('load_balancers', 0)} load"
        f" balancers, {cluster.get('pending', 0)} pending"
    )
    source = prices.get("source") or "unknown"
    date = prices.get("date") or "undated"
    price_file = f", file {prices['file']}" if prices.get("file") else ""
    return (
        f"<li><strong>{_text(name)}</strong>{_text(where)}: "
        f"{_text(cluster.get('provider') or '?')} / {_text(cluster.get('region') or '-')}"
        f" \u2014 {_text(counts)} \u2014 {_text(money(cluster.get('monthly')))}/month"
        f" (estimated {_text(money(cluster.get('monthly_estimated')))},"
        f" orphans {_text(money(cluster.get('orphans_monthly')))})"
        f'<br><span class="note">prices: {_text(source)} as of {_text(date)}'
        f"{_text(price_file)}</span></li>"
    )


def _summary(doc: dict[str, Any]) -> str:
    totals = _mapping(doc.get("totals"))
    figures = "".join(
        (
            _figure("Total per month", money(totals.get("monthly"))),
            _figure("of which estimated", money(totals.get("monthly_estimated"))),
            _figure("Orphans per month", money(totals.get("orphans_monthly"))),
            _figure("Possible savings per month", money(totals.get("savings_monthly"))),
        )
    )
    clusters = _records(doc.get("clusters"))
    lines = (
        '<ul class="clusters">' + "".join(_cluster_line(c) for c in clusters) + "</ul>"
        if clusters
        else _none("no clusters audited")
    )
    meta = (
        f"generated {_text(doc.get('generated') or 'unknown')}"
        f" \u00b7 {_text(doc.get('currency') or 'USD')}"
        f" \u00b7 a month is {_text(doc.get('hours_per_month') or 730)} hours"
        f" \u00b7 schema {_text(doc.get('schema') or 'unknown')}"
    )
    return (
        '<section id="summary"><h1>ccm audit: load balancer cost</h1>'
        f'<p class="meta">{meta}</p><dl class="headline">{figures}</dl>'
        f"<h2>Clusters</h2>{lines}</section>"
    )


def _charts(doc: dict[str, Any]) -> str:
    totals = _mapping(doc.get("totals"))
    by_namespace = [
        (f"{row.get('cluster', '')}/{row.get('namespace', '')}", _num(row.get("monthly")))
        for row in _records(totals.get("by_namespace"))
    ]
    by_kind = [
        (f"{row.get('provider', '')} {row.get('kind', '')}", _num(row.get("monthly")))
        for row in _records(totals.get("by_kind"))
    ]
    return (
        '<section id="charts"><h2>Monthly cost</h2><div class="charts">'
        "<div><h3>By namespace</h3>"
        + bar_chart("chart-by-namespace", "Monthly cost by cluster/namespace", by_namespace)
        + "</div><div><h3>By kind</h3>"
        + bar_chart("chart-by-kind", "Monthly cost by provider and load balancer kind", by_kind)
        + "</div></div></section>"
    )


_Column = tuple[str, bool, Callable[[dict[str, Any]], str]]  # title, numeric, cell HTML


def _field(name: str, fmt: Callable[[Any], Any] = lambda v: v) -> Callable[[dict[str, Any]], str]:
    """A cell showing one field of the record, formatted, then escaped."""
    return lambda record: _text(fmt(record.get(name)))


def _records_table(
    columns: Sequence[_Column],
    records: Sequence[dict[str, Any]],
    row_attrs: Callable[[dict[str, Any]], str] = lambda record: "",
) -> str:
    """One table from column specs, so a header and its cells cannot drift apart."""
    rows = (
        f"<tr{row_attrs(r)}>"
        + "".join(
            (f'<td class="num">{cell(r)}</td>' if numeric else f"<td>{cell(r)}</td>")
            for _, numeric, cell in columns
        )
        + "</tr>"
        for r in records
    )
    return _table([(title, numeric) for title, numeric, _ in columns], rows)


def _category(finding: dict[str, Any]) -> str:
    """Risks get their own colour: a risk that saves $0 must not read as a non-event."""
    return "risk" if finding.get("category") == "risk" else "saving"


_FINDING_COLUMNS: tuple[_Column, ...] = (
    (
        "Category",
        False,
        lambda f: (
            f'<span class="badge {_category(f)}">{_text(f.get("category") or _category(f))}</span>'
        ),
    ),
    ("Type", False, _field("type")),
    ("Cluster", False, _field("cluster")),
    ("Services", False, _field("services", lambda v: _strings(v, ", "))),
    ("Monthly saving", True, _field("monthly_saving", money)),
    ("Reason", False, _field("reason")),
)


def _findings(doc: dict[str, Any]) -> str:
    findings = _records(doc.get("findings"))
    body = (
        _records_table(_FINDING_COLUMNS, findings, lambda f: f' class="{_category(f)}"')
        if findings
        else _none("no findings")
    )
    return f'<section id="findings"><h2>Findings</h2>{body}</section>'


def _exact(value: Any) -> str:
    """Estimates are marked in words, not just colour, so they survive printing."""
    return "exact" if value is True else '<span class="estimate">estimate</span>'


def _ready(value: Any) -> str:
    # null means the EndpointSlices could not be listed, which is not the same as zero.
    return "unknown" if value is None else _text(value)


def _state(svc: dict[str, Any]) -> str:
    state = _text(svc.get("state"))
    return f'<span class="pending">{state}</span>' if svc.get("state") == "pending" else state


_SERVICE_COLUMNS: tuple[_Column, ...] = (
    ("Cluster", False, _field("cluster")),
    ("Service", False, lambda s: f"{_text(s.get('namespace'))}/{_text(s.get('name'))}"),
    ("Provider", False, _field("provider")),
    ("Kind", False, _field("kind")),
    ("Controller", False, _field("controller")),
    ("Scheme", False, _field("scheme")),
    ("Ports", False, _field("ports", lambda v: _strings(v, " "))),
    ("Public IPs", True, _field("public_ips", lambda v: 0 if v is None else v)),
    ("State", False, _state),
    ("Ready endpoints", True, lambda s: _ready(s.get("ready_endpoints"))),
    ("$/hour", True, _field("hourly", hourly_money)),
    ("$/month", True, _field("monthly", money)),
    ("Exact", False, lambda s: _exact(s.get("exact"))),
)


def _service_key(svc: dict[str, Any]) -> str:
    key = f"{svc.get('cluster', '')}/{svc.get('namespace', '')}/{svc.get('name', '')}"
    return f' data-service="{_text(key)}"'


def _services(doc: dict[str, Any]) -> str:
    services = _records(doc.get("services"))
    body = (
        _records_table(_SERVICE_COLUMNS, services, _service_key)
        if services
        else _none("no Services of type LoadBalancer")
    )
    return f'<section id="services"><h2>Services</h2>{body}</section>'


def age_text(seconds: Any) -> str:
    """Age in the largest whole unit, as `ccm leaks` prints it, so the two reports agree."""
    if seconds is None:
        return "?"
    whole = int(_num(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _owner(value: Any) -> str:
    owner = _mapping(value)
    if not owner:
        return "(none)"
    return f"{owner.get('namespace', '')}/{owner.get('name', '')}"


_ORPHAN_COLUMNS: tuple[_Column, ...] = (
    ("Cluster", False, _field("cluster")),
    ("Provider", False, _field("provider")),
    ("Kind", False, _field("kind")),
    ("Name", False, _field("name")),
    ("ID", False, lambda o: f'<span class="code">{_text(o.get("id"))}</span>'),
    ("Owner", False, _field("owner", _owner)),
    ("Controller", False, _field("controller")),
    ("Reason", False, _field("reason")),
    ("Detail", False, _field("detail")),
    ("Age", True, _field("age_seconds", age_text)),
    ("$/hour", True, _field("hourly", hourly_money)),
    ("$/month", True, _field("monthly", money)),
    ("Exact", False, lambda o: _exact(o.get("exact"))),
)


def _orphans(doc: dict[str, Any]) -> str:
    orphans = _records(doc.get("orphans"))
    body = _records_table(_ORPHAN_COLUMNS, orphans) if orphans else _none("no orphaned resources")
    return f'<section id="orphans"><h2>Orphans</h2>{body}</section>'


def render_html(doc: dict[str, Any]) -> str:
    """The whole page from a `ccm.dev/audit/v1` document, tolerant of missing fields.

    It renders from the JSON document rather than from the audit's objects so the page
    shows exactly what `-o json` would have said, and can be rebuilt from a saved file.
    """
    body = "".join((_summary(doc), _charts(doc), _findings(doc), _services(doc), _orphans(doc)))
    return f'<!DOCTYPE html>\n<html lang="en">{_head(doc)}<body><main>{body}</main></body></html>\n'

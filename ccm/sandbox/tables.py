"""Server-side `Table` rendering, which is what `kubectl get` prints.

kubectl has no built-in printers for server resources any more; it asks for
`as=Table` and prints the columns the server chose. Without this, `kubectl get svc`
would show neither the type nor the EXTERNAL-IP a user is waiting for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ccm.sandbox.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def human_age(created: str | None) -> str:
    """The API server's HumanDuration, so ages read the same as on a real cluster."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<invalid>"
    secs = max(0, int((datetime.now(UTC) - then).total_seconds()))
    mins, hours, days = secs // 60, secs // 3600, secs // 86400
    if secs < 120:
        return f"{secs}s"
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d"


def _name(o: Obj) -> str:
    return str(o.get("metadata", {}).get("name", ""))


def _age(o: Obj) -> str:
    return human_age(o.get("metadata", {}).get("creationTimestamp"))


def _svc_external(o: Obj) -> str:
    spec, status = o.get("spec", {}), o.get("status", {})
    addrs = list(spec.get("externalIPs") or [])
    if spec.get("type") == "LoadBalancer":
        for ing in (status.get("loadBalancer") or {}).get("ingress") or []:
            addrs.append(ing.get("ip") or ing.get("hostname") or "")
        if not addrs:
            return "<pending>"
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    return ",".join(a for a in addrs if a) or "<none>"


def _svc_ports(o: Obj) -> str:
    parts = []
    for p in o.get("spec", {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        parts.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _svc_selector(o: Obj) -> str:
    sel = o.get("spec", {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"


def _node_status(o: Obj) -> str:
    ready = "Unknown"
    for c in o.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            ready = "Ready" if c.get("status") == "True" else "NotReady"
    if o.get("spec", {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def _node_roles(o: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = o.get("metadata", {}).get("labels") or {}
    return ",".join(sorted(k[len(prefix) :] for k in labels if k.startswith(prefix))) or "<none>"


COLUMNS: dict[str, list[Column]] = {
    "services": [
        ("Name", "string", 0, _name),
        ("Type", "string", 0, lambda o: o.get("spec", {}).get("type", "")),
        ("Cluster-IP", "string", 0, lambda o: o.get("spec", {}).get("clusterIP", "<none>")),
        ("External-IP", "string", 0, _svc_external),
        ("Port(s)", "string", 0, _svc_ports),
        ("Age", "string", 0, _age),
        ("Selector", "string", 1, _svc_selector),
    ],
    "nodes": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "string", 0, _age),
        (
            "Version",
            "string",
            0,
            lambda o: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
        ),
    ],
    "namespaces": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "")),
        ("Age", "string", 0, _age),
    ],
    "leases": [
        ("Name", "string", 0, _name),
        ("Holder", "string", 0, lambda o: o.get("spec", {}).get("holderIdentity", "")),
        ("Age", "string", 0, _age),
    ],
    "configmaps": [
        ("Name", "string", 0, _name),
        ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("Age", "string", 0, _age),
    ],
}

_DEFAULT: list[Column] = [("Name", "string", 0, _name), ("Age", "string", 0, _age)]


def _core_event_columns() -> list[Column]:
    def obj_ref(o: Obj) -> str:
        ref = o.get("involvedObject") or o.get("regarding") or {}
        return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"

    return [
        (
            "Last Seen",
            "string",
            0,
            lambda o: human_age(
                o.get("lastTimestamp")
                or o.get("eventTime")
                or o.get("metadata", {}).get("creationTimestamp")
            ),
        ),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        ("Object", "string", 0, obj_ref),
        ("Message", "string", 0, lambda o: o.get("message") or o.get("note") or ""),
    ]


def columns_for(rt: ResourceType) -> list[Column]:
    if rt.plural == "events":
        return _core_event_columns()
    return COLUMNS.get(rt.plural, _DEFAULT)


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(
    rt: ResourceType,
    objs: list[Obj],
    resource_version: str,
    include: str = "Metadata",
    continue_token: str = "",
    with_columns: bool = True,
) -> Obj:
    cols = columns_for(rt)
    rows = []
    for obj in objs:
        row: Obj = {"cells": [cell(obj) for _, _, _, cell in cols]}
        inner = _row_object(obj, include)
        if inner is not None:
            row["object"] = inner
        rows.append(row)
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows}
    if with_columns:
        out["columnDefinitions"] = [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": prio,
            }
            for name, typ, prio, _ in cols
        ]
    return out

"""Service fields every cloud driver reads the same way: ports, source ranges, the status
addresses, and the annotation-table row. Checked here once, so every driver refuses bad
input with the same field names and words."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccm.model import JSON, InvalidServiceSpec


@dataclass(frozen=True)
class AnnotationDoc:
    """One row of a driver's README table; a test keeps the table and the parser in step."""

    name: str
    values: str
    default: str
    change: str  # "in place" or "replace" (with a note in parentheses)


def annotation_field(name: str) -> str:
    return f"metadata.annotations[{name}]"


def bad_annotation(name: str, message: str, accepted: str = "") -> InvalidServiceSpec:
    return InvalidServiceSpec(annotation_field(name), message, accepted)


def port_number(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidServiceSpec(field, f"{value!r} is not a port", "1-65535")
    return value


def ipv4_source_ranges(
    body: Mapping[str, Any], annotation: str, raw: str | None, default: str
) -> tuple[str, ...]:
    """`spec.loadBalancerSourceRanges` first, then the comma-separated annotation, then
    `default`; IPv4 CIDRs only, host bits dropped, duplicates folded."""
    listed = body.get("loadBalancerSourceRanges") or []
    if listed:
        items = [
            (f"spec.loadBalancerSourceRanges[{i}]", str(t).strip()) for i, t in enumerate(listed)
        ]
    else:
        items = [(annotation_field(annotation), t.strip()) for t in (raw or "").split(",")]
        items = [(f, t) for f, t in items if t]
    out: list[str] = []
    for field, text in items:
        try:
            if "/" not in text:
                raise ValueError(text)
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidServiceSpec(
                field, f'"{text}" is not a CIDR', "e.g. 203.0.113.0/24"
            ) from None
        if network.version != 4:
            raise InvalidServiceSpec(field, f"{text}: IPv6 ranges are not supported", "IPv4 CIDRs")
        if str(network) not in out:
            out.append(str(network))
    return tuple(out) or (default,)


def status_ips(service: JSON) -> tuple[str, ...]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return tuple(sorted(str(i["ip"]) for i in ingress if i.get("ip")))

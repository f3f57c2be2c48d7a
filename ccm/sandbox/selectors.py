"""Label and field selectors, parsed the way kube-apiserver parses them.

A selector the server cannot honour is a 400, never a silent "match everything": a
controller that asked for a filtered list must not receive the whole cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccm.sandbox.errors import APIError, bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:\s(in|notin)\s*\((.*)\))?\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=|>|<)\s*([A-Za-z0-9_.-]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op in (">", "<"):
            try:
                lhs, rhs = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return lhs > rhs if self.op == ">" else lhs < rhs
        return False


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]


def parse_label_selector(text: str) -> list[Requirement]:
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        m = _CMP_RE.match(part)
        if m:
            key, op, value = m.groups()
            reqs.append(Requirement(key, "=" if op == "==" else op, (value,)))
            continue
        m = _SET_RE.match(part)
        if m:
            neg, key, setop, values = m.groups()
            if setop:
                if neg:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                vals = tuple(v.strip() for v in values.split(",") if v.strip())
                reqs.append(Requirement(key, setop, vals))
            else:
                reqs.append(Requirement(key, "!" if neg else "exists", ()))
            continue
        raise bad_request(f"unable to parse requirement: found {part!r}")
    return reqs


def _dig(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# Field labels each kind supports beyond metadata.name / metadata.namespace.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Service": ("spec.type", "spec.clusterIP"),
    "Node": ("spec.unschedulable",),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
        "regarding.kind",
        "regarding.name",
        "regarding.namespace",
        "regarding.uid",
    ),
    "Namespace": ("status.phase",),
}


def parse_field_selector(text: str, kind: str) -> Callable[[dict[str, Any]], bool]:
    allowed = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ())}
    terms: list[tuple[str, bool, str]] = []
    for part in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        key, op, value = m.groups()
        if key not in allowed:
            raise APIError(
                400,
                "BadRequest",
                f'Unable to find "{key}" field label for {kind}; supported: '
                + ", ".join(sorted(allowed)),
            )
        terms.append((key, op != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        for key, equal, value in terms:
            actual = _dig(obj, "source.component" if key == "source" else key)
            if (actual == value) != equal:
                return False
        return True

    return matches


def label_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    reqs = parse_label_selector(text)

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return matches

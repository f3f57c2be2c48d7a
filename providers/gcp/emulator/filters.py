"""The `filter` parameter of Compute list calls, so drivers' server-side filtering is real.

Compute has two filter dialects that may not be mixed in one request: the older regular
expression one (``name eq "web-.*"``, ``name ne 'x'``; RE2 matched against the *whole*
field) and AIP-160 comparisons (``name = "web"``, ``labels.owner != "ccm"``,
``labels.owner:*``). Several comparisons are each put in parentheses and AND-ed,
either implicitly (``(a = "1") (b = "2")``) or with an explicit ``AND``. Anything else
(OR, NOT, ordering comparisons) is refused with 400, so a driver never silently relies on
a filter this emulator would evaluate differently from GCP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from providers.gcp.emulator.errors import ApiError

Predicate = Callable[[Mapping[str, Any]], bool]

_AIP_OPS = frozenset({"=", "!=", ":"})
_REGEX_OPS = frozenset({"eq", "ne"})
_FIELD_OP = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op>!=|=|:)\s*"
    r"|\s*(?P<rfield>[A-Za-z_][\w.\-]*)\s+(?P<rop>eq|ne)\s+"
)
_MISSING = object()


@dataclass(frozen=True)
class _Comparison:
    field: str
    op: str
    value: str

    def __call__(self, resource: Mapping[str, Any]) -> bool:
        found = _lookup(resource, self.field)
        if self.op in _REGEX_OPS:
            pattern = re.compile(self.value)
            values = [""] if found is _MISSING else _strings(found)
            hit = any(pattern.fullmatch(v) for v in values)
            return hit if self.op == "eq" else not hit
        if self.op == ":" and self.value == "*":
            return found is not _MISSING and found not in ("", [], {})
        if found is _MISSING:
            return self.op == "!="
        glob = re.compile(".*".join(re.escape(part) for part in self.value.split("*")))
        hit = any(glob.fullmatch(v) for v in _strings(found))
        return not hit if self.op == "!=" else hit


def _lookup(resource: Mapping[str, Any], field: str) -> Any:
    node: Any = resource
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _strings(value: Any) -> list[str]:
    """A field's value as the strings a literal is compared with (any item of a list)."""
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float | str):
        return [str(value)]
    return []


class _Parser:
    """A hand-written scanner: values may hold regex metacharacters, parentheses included."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, why: str = "Invalid list filter expression.") -> ApiError:
        return ApiError(400, "invalid", f"Invalid value for field 'filter': '{self.text}'. {why}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def terms(self) -> list[_Comparison]:
        out: list[_Comparison] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                return out
            word = re.match(r"(AND|OR|NOT)\b", self.text[self.pos :])
            if word is not None:
                if word[1] != "AND" or not out:
                    raise self.error(f"'{word[1]}' is not supported by the emulator.")
                self.pos += 3
                continue
            if self.text[self.pos] == "(":
                inner = _Parser(self.group())
                comparison = inner.comparison(in_group=True)
                inner.skip_space()
                if inner.pos != len(inner.text):
                    raise self.error()
                out.append(comparison)
            else:
                out.append(self.comparison(in_group=False))

    def group(self) -> str:
        """The text inside the parentheses opening at `pos`, quotes respected."""
        depth, i, quote = 0, self.pos, ""
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    inner = self.text[self.pos + 1 : i]
                    self.pos = i + 1
                    return inner
            i += 1
        raise self.error("Unbalanced parentheses.")

    def comparison(self, *, in_group: bool) -> _Comparison:
        m = _FIELD_OP.match(self.text, self.pos)
        if m is None:
            raise self.error()
        self.pos = m.end()
        field, op = (m["field"], m["op"]) if m["field"] else (m["rfield"], m["rop"])
        value = self.value(in_group=in_group)
        if op in _REGEX_OPS:
            try:
                re.compile(value)
            except re.error as e:
                raise self.error(f"Invalid regular expression: {e}.") from e
        return _Comparison(field, op, value)

    def value(self, *, in_group: bool) -> str:
        if self.pos >= len(self.text):
            raise self.error("A comparison has no value.")
        quote = self.text[self.pos]
        if quote in "\"'":
            out: list[str] = []
            i = self.pos + 1
            while i < len(self.text):
                ch = self.text[i]
                if ch == "\\" and i + 1 < len(self.text):
                    out.append(
                        self.text[i + 1] if self.text[i + 1] in "\"'\\" else ch + self.text[i + 1]
                    )
                    i += 2
                    continue
                if ch == quote:
                    self.pos = i + 1
                    return "".join(out)
                out.append(ch)
                i += 1
            raise self.error("Unterminated quoted value.")
        depth, start = 0, self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace() and depth == 0 and not in_group:
                break
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        value = self.text[start : self.pos].strip()
        if not value:
            raise self.error("A comparison has no value.")
        return value


def compile_filter(expression: str) -> Predicate:
    """A predicate over rendered resources; a 400 ``invalid`` for what GCP would refuse or
    what the emulator does not implement."""
    parser = _Parser(expression.strip())
    terms = parser.terms()
    ops = {t.op for t in terms}
    if ops & _AIP_OPS and ops & _REGEX_OPS:
        raise parser.error("Regular expression (eq/ne) and '=' style comparisons can't be mixed.")

    def predicate(resource: Mapping[str, Any]) -> bool:
        return all(term(resource) for term in terms)

    return predicate

"""The operator's pools, read from YAML.

Every error carries the path of the offending value (`pools[1].addresses[0]`) because the
text comes from a ConfigMap the operator edits by hand, and "invalid config" alone would
send them hunting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import yaml

from providers.pool.addresses import AddressRange, IPAddress, Skips, parse_range

POOL_KEYS = (
    "name",
    "addresses",
    "namespaces",
    "autoAssign",
    "avoidBuggyIPs",
    "avoidNetworkAndBroadcast",
)
TOP_KEYS = ("pools",)


class ConfigError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass(frozen=True)
class Pool:
    name: str
    ranges: tuple[AddressRange, ...]
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    avoid_network_and_broadcast: bool = False

    @property
    def skips(self) -> Skips:
        return Skips(self.avoid_buggy_ips, self.avoid_network_and_broadcast)

    @property
    def families(self) -> frozenset[str]:
        return frozenset(r.family for r in self.ranges)

    def serves(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    def contains(self, ip: IPAddress) -> bool:
        """Whether the pool would hand this address out (its skips applied)."""
        skips = self.skips
        return any(r.contains(ip, skips) for r in self.ranges)

    def covers(self, ip: IPAddress) -> bool:
        return any(r.covers(ip) for r in self.ranges)

    def addresses(self, family: str) -> Iterator[IPAddress]:
        skips = self.skips
        for r in self.ranges:
            if r.family == family:
                yield from r.addresses(skips)

    def walk(
        self, family: str, after: tuple[int, int] | None = None
    ) -> Iterator[tuple[tuple[int, int], IPAddress]]:
        """Addresses with their position (range index, value), resuming after a position, so
        the allocator can continue where its last pick left off instead of rescanning."""
        skips = self.skips
        for index, r in enumerate(self.ranges):
            if r.family != family or (after is not None and index < after[0]):
                continue
            resume = after[1] if after is not None and index == after[0] else None
            for address in r.addresses(skips, resume):
                yield (index, int(address)), address

    def size(self) -> int:
        skips = self.skips
        return sum(r.size(skips) for r in self.ranges)

    def describe(self) -> str:
        return f"{self.name} ({', '.join(r.text for r in self.ranges)})"


def pool_of(ip: IPAddress, pools: Sequence[Pool]) -> Pool | None:
    """Pools never overlap, so at most one answers."""
    return next((p for p in pools if p.contains(ip)), None)


def parse_config(text: str) -> list[Pool]:
    located = _read_document(text, "")
    _check_together(located)
    return [pool for _, pool in located]


def load_config(files: Mapping[str, str]) -> list[Pool]:
    """Merge every YAML file of a ConfigMap's data (or `{"config": text}`), in name order,
    so an operator can split pools across keys; an empty mapping is zero pools."""
    located: list[tuple[str, Pool]] = []
    for key in sorted(files):
        if key == "config" or key.endswith((".yaml", ".yml")):
            located.extend(_read_document(files[key], key))
    _check_together(located)
    return [pool for _, pool in located]


def _read_document(text: str, file: str) -> list[tuple[str, Pool]]:
    def where(path: str) -> str:
        return f"{file}: {path}" if file and path else file or path

    try:
        doc = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(file, f"not valid YAML: {exc}") from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise ConfigError(file, "must be a mapping with a `pools:` list")
    _no_unknown_keys(doc, TOP_KEYS, where(""), "the top level")
    pools = doc.get("pools")
    if pools is None:
        return []
    if not isinstance(pools, list):
        raise ConfigError(where("pools"), "must be a list of pools")
    located = []
    for i, item in enumerate(pools):
        path = f"pools[{i}]"
        try:
            located.append((path, _read_pool(item, path)))
        except ConfigError as exc:
            raise ConfigError(where(exc.path), exc.problem) from None
    return [(where(path), pool) for path, pool in located]


def _read_pool(item: Any, path: str) -> Pool:
    if not isinstance(item, dict):
        raise ConfigError(path, "must be a mapping with `name` and `addresses`")
    _no_unknown_keys(item, POOL_KEYS, path, "a pool")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}.name", "is required and must be a non-empty string")
    addresses = item.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        raise ConfigError(f"{path}.addresses", "is required and must list at least one address")
    ranges = []
    for j, spec in enumerate(addresses):
        try:
            ranges.append(parse_range(spec if isinstance(spec, str) else str(spec)))
        except ValueError as exc:
            raise ConfigError(f"{path}.addresses[{j}]", str(exc)) from None
    return Pool(
        name=name.strip(),
        ranges=tuple(ranges),
        namespaces=_namespaces(item.get("namespaces"), f"{path}.namespaces"),
        auto_assign=_flag(item, "autoAssign", True, path),
        avoid_buggy_ips=_flag(item, "avoidBuggyIPs", False, path),
        avoid_network_and_broadcast=_flag(item, "avoidNetworkAndBroadcast", False, path),
    )


def _namespaces(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(path, "must be a list of namespace names")
    return tuple(value)


def _flag(item: Mapping[str, Any], key: str, default: bool, path: str) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", f"{value!r} is not true or false")
    return value


def _no_unknown_keys(obj: Mapping[Any, Any], accepted: Sequence[str], path: str, what: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in accepted)
    if unknown:
        raise ConfigError(
            path,
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in {what} "
            f"(accepted: {', '.join(accepted)})",
        )


def _check_together(located: list[tuple[str, Pool]]) -> None:
    """Names must be unique and no address may belong to two pools (nor twice to one),
    or the pool an IP belongs to would be ambiguous."""
    seen: dict[str, str] = {}
    for path, pool in located:
        if pool.name in seen:
            raise ConfigError(
                f"{path}.name", f'duplicate pool name "{pool.name}" (also at {seen[pool.name]})'
            )
        seen[pool.name] = path
    spans = sorted(
        (
            (r, pool.name, f"{path}.addresses[{j}]")
            for path, pool in located
            for j, r in enumerate(pool.ranges)
        ),
        key=lambda s: (s[0].version, s[0].first),
    )
    for (prev, prev_pool, prev_path), (cur, cur_pool, cur_path) in pairwise(spans):
        if prev.overlaps(cur):
            raise ConfigError(
                cur_path,
                f'"{cur.text}" overlaps "{prev.text}" of pool "{prev_pool}" ({prev_path})'
                + ("" if prev_pool != cur_pool else "; a pool must not list an address twice"),
            )

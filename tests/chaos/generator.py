"""The seeded operation sequence: Service churn, node churn and faults, from one seed.

Everything random is drawn here, from one `random.Random(seed)`, before anything runs:
the sequence (and so the operation log) depends on the seed, the driver and the length
only, which is what makes `pytest tests/chaos --seed S --driver D` a replay. The
generator keeps a model of what it has done (which slots hold a Service, of which type;
which nodes are registered; whether the controller is alive) so each operation is one
that makes sense at that point; the runner still tolerates the world disagreeing (a
409 it did not cause, an object already gone).

Service names carry a generation (`s3-2`: slot 3, second Service there), so a name is
never reused while an earlier Service of that name may still be terminating.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.profiles import PROFILES

SLOTS = 7
PORTS = (80, 443, 8080, 8443, 9000)
RANGES: tuple[tuple[str, ...], ...] = (
    (),
    ("10.0.0.0/8",),
    ("192.168.0.0/16", "203.0.113.0/24"),
    ("0.0.0.0/0",),
)
SERVICE_OPS = frozenset(
    {"create", "ports", "annotate", "ranges", "to-clusterip", "to-lb", "delete", "force-delete"}
)


@dataclass(frozen=True)
class Op:
    """One step. `gap` is the pause after it, so the controller is caught mid-work."""

    index: int
    kind: str
    target: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    gap: float = 0.0

    def line(self) -> str:
        args = json.dumps(self.params, sort_keys=True) if self.params else ""
        return f"{self.index:03d} {self.kind:<17} {self.target:<8} {args}".rstrip()


@dataclass(eq=False)
class _Slot:
    index: int
    gen: int = 0
    name: str = ""  # "" = no Service in this slot
    load_balancer: bool = True


@dataclass
class _Model:
    slots: list[_Slot]
    nodes: set[int]
    alive: bool = True
    kills: int = 0


def ports(rng: random.Random) -> list[dict[str, Any]]:
    chosen = sorted(rng.sample(PORTS, rng.randint(1, 3)))
    return [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in chosen]


def annotations_for(rng: random.Random, driver: str) -> dict[str, str]:
    out = {}
    for key, values in PROFILES[driver].knobs.items():
        value = rng.choice(values)
        if value is not None:
            out[key] = value
    return out


def generate(
    seed: int, driver: str, count: int, nodes: int, initial_nodes: int = 2
) -> tuple[list[int], list[Op]]:
    """(the nodes registered before the controller starts, the operations)."""
    rng = random.Random(f"{driver}:{seed}")
    model = _Model([_Slot(i) for i in range(SLOTS)], set(range(min(initial_nodes, nodes))))
    initial = sorted(model.nodes)
    max_kills = max(1, count // 12)
    ops: list[Op] = []
    for i in range(count):
        kind, target, params = _pick(rng, driver, model, nodes, max_kills)
        gap = rng.choice((0.0, 0.05, 0.1, 0.2, 0.5))
        ops.append(Op(i, kind, target, params, gap))
    return initial, ops


def _pick(
    rng: random.Random, driver: str, m: _Model, nodes: int, max_kills: int
) -> tuple[str, str, dict[str, Any]]:
    present = [s for s in m.slots if s.name]
    absent = [s for s in m.slots if not s.name]
    lbs = [s for s in present if s.load_balancer]
    cips = [s for s in present if not s.load_balancer]
    weights: dict[str, float] = {
        "create": 4.0 if absent else 0.0,
        "ports": 1.5 if present else 0.0,
        "annotate": 3.0 if present else 0.0,
        "ranges": 1.0 if lbs else 0.0,
        "to-clusterip": 1.0 if lbs else 0.0,
        "to-lb": 1.5 if cips else 0.0,
        "delete": 1.2 if present else 0.0,
        "force-delete": 0.6 if present else 0.0,
        "node-add": 0.8 if len(m.nodes) < nodes else 0.0,
        "node-remove": 0.8 if len(m.nodes) > 1 else 0.0,
        "kube-drop-watches": 0.8,
        "kube-409": 0.8,
        "kill": 0.7 if m.alive and m.kills < max_kills else 0.0,
        "restart": 3.0 if not m.alive else 0.0,
        "pause": 1.0,
    }
    if PROFILES[driver].cloud_faults:
        weights.update(
            {"cloud-latency": 0.8, "cloud-throttle": 0.8, "cloud-5xx": 0.8, "cloud-reset": 0.6}
        )
    kinds = [k for k, w in weights.items() if w > 0]
    kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
    if kind == "create":
        slot = rng.choice(absent)
        slot.gen += 1
        slot.name = f"s{slot.index}-{slot.gen}"
        slot.load_balancer = True
        params = {
            "ports": ports(rng),
            "annotations": annotations_for(rng, driver),
            "ranges": list(rng.choice(RANGES)),
        }
        return kind, slot.name, params
    if kind in ("ports", "annotate", "delete", "force-delete"):
        slot = rng.choice(present)
        target = slot.name
        if kind in ("delete", "force-delete"):
            slot.name = ""
        if kind == "ports":
            return kind, target, {"ports": ports(rng)}
        if kind == "annotate":
            key = rng.choice(sorted(PROFILES[driver].knobs))
            return kind, target, {"key": key, "value": rng.choice(PROFILES[driver].knobs[key])}
        return kind, target, {}
    if kind == "ranges":
        return kind, rng.choice(lbs).name, {"ranges": list(rng.choice(RANGES))}
    if kind == "to-clusterip":
        slot = rng.choice(lbs)
        slot.load_balancer = False
        return kind, slot.name, {}
    if kind == "to-lb":
        slot = rng.choice(cips)
        slot.load_balancer = True
        return kind, slot.name, {"ranges": list(rng.choice(RANGES))}
    if kind == "node-add":
        node = rng.choice(sorted(set(range(nodes)) - m.nodes))
        m.nodes.add(node)
        return kind, f"node{node}", {"node": node}
    if kind == "node-remove":
        node = rng.choice(sorted(m.nodes))
        m.nodes.discard(node)
        return kind, f"node{node}", {"node": node}
    if kind == "kill":
        m.alive = False
        m.kills += 1
        return kind, "ccm", {}
    if kind == "restart":
        m.alive = True
        return kind, "ccm", {}
    if kind == "pause":
        return kind, "", {"seconds": rng.choice((0.3, 0.6, 1.0))}
    return kind, "", _fault(rng, kind)


def _fault(rng: random.Random, kind: str) -> dict[str, Any]:
    """Parameters of a fault: how many calls it hits, with which chance, and how."""
    if kind == "cloud-latency":
        return {
            "latency": rng.choice((0.1, 0.3, 0.6)),
            "times": rng.randint(5, 20),
            "write_only": rng.random() < 0.5,
        }
    if kind == "cloud-throttle":
        return {"times": rng.randint(2, 8), "probability": 0.5, "write_only": rng.random() < 0.5}
    if kind == "cloud-5xx":
        return {"status": rng.choice((500, 503)), "times": rng.randint(1, 5), "write_only": True}
    if kind == "cloud-reset":
        return {"times": rng.randint(1, 3), "write_only": rng.random() < 0.5}
    if kind == "kube-409":
        return {"times": rng.randint(1, 3), "method": rng.choice(("PUT", "PATCH"))}
    return {}

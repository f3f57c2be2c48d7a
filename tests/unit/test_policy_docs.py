"""Each driver README's permission table lists exactly what its shipped cloud policy holds.

The policy files in deploy/policies are what the end-to-end suites check calls against;
a README that drifts from them would tell an operator to grant the wrong thing.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "deploy" / "policies"


def _expand(item: str) -> list[str]:
    """`a.{b,c}.d` → a.b.d, a.c.d (any number of brace groups)."""
    parts = re.split(r"\{([^}]*)\}", item)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def readme_permissions(readme: Path, heading: str) -> set[str]:
    """Permissions in the first column of the table under `heading`.

    `/write` after a full Azure action means the same action path with that last part.
    """
    text = readme.read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    out: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if not line.startswith("| `") or len(cells) < 3:
            continue
        previous = ""
        for item in re.findall(r"`([^`]+)`", cells[1]):
            if item.startswith("/"):
                item = previous.rsplit("/", 1)[0] + item
            else:
                previous = item
            out.update(_expand(item))
    return out


def test_expand() -> None:
    assert _expand("compute.{a,b}.{get,list}") == [
        "compute.a.get",
        "compute.a.list",
        "compute.b.get",
        "compute.b.list",
    ]


@pytest.mark.parametrize(
    ("provider", "heading", "policy"),
    [
        ("azure", "## Role permissions", "azure-role-definition.json"),
        ("gcp", "## IAM permissions", "gcp-custom-role.yaml"),
    ],
)
def test_readme_lists_the_shipped_policy(provider: str, heading: str, policy: str) -> None:
    raw = (POLICIES / policy).read_text()
    if policy.endswith(".json"):
        held = set(json.loads(raw)["Actions"])
    else:
        held = set(yaml.safe_load(raw)["includedPermissions"])
    listed = readme_permissions(ROOT / "providers" / provider / "README.md", heading)
    assert listed == held, {"only in README": listed - held, "only in policy": held - listed}

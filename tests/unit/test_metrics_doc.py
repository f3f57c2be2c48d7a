"""Every metric the registry exports is documented in docs/operations.md, and every
documented one exists: the table is the contract dashboards are built on."""

from __future__ import annotations

import re
from pathlib import Path

from ccm.metrics import REGISTRY

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        suffix = "_total" if family.type == "counter" else ""
        names.add(family.name + suffix)
    return names


def test_metrics_table_matches_the_registry() -> None:
    documented = set(re.findall(r"^\| `(ccm_[a-z_]+)` \|", DOC.read_text(), re.MULTILINE))
    assert documented == _exported()

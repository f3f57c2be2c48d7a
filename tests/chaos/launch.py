"""`python -m tests.chaos.launch run ...`: the real `ccm run`, with the work queue's
backoff scaled down for a test budget.

`ccm run` has no flag for the per-key backoff (5 s base, 300 s cap) or the readiness
re-poll (5 s); after a burst of injected faults a key would sit in backoff for minutes,
which no CI budget affords. This launcher changes only those defaults — the same values
the in-process harness (tests/integration/harness.py) uses — and then runs
`ccm.cli.main` unchanged: argument parsing, driver loading, informers, workers, leak loop
and signal handling are the shipped code path. `$CCM_CHAOS_CONTROLLER` (JSON) carries
the overrides.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import ccm.run
from ccm.cli import main
from ccm.controller import ControllerConfig

ENV = "CCM_CHAOS_CONTROLLER"
DEFAULTS: dict[str, float] = {"backoff_base": 0.2, "backoff_cap": 2.0, "ready_poll_interval": 0.2}


def _overrides() -> dict[str, float]:
    raw = os.environ.get(ENV, "")
    return {**DEFAULTS, **(json.loads(raw) if raw else {})}


def _config(**kwargs: Any) -> ControllerConfig:
    """ControllerConfig with the test's defaults where `ccm run` passed nothing."""
    for key, value in _overrides().items():
        kwargs.setdefault(key, value)
    return ControllerConfig(**kwargs)


if __name__ == "__main__":
    setattr(ccm.run, "ControllerConfig", _config)  # noqa: B010 - the one override
    sys.exit(main(sys.argv[1:]))

"""Client-side rate limiting and the retry budget every cloud driver shares.

Clouds throttle per account and API family; a fleet of Services reconciled at once must
stay under that rate rather than discover it through 429s. Drivers keep one bucket per
API family and one retry policy, and count every attempt for the benchmarks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class TokenBucket:
    """`rate` tokens a second, bursts of `burst`; acquire blocks until a token is free."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self.waited += wait
            time.sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial: float = 0.2
    cap: float = 20.0
    deadline: float = 120.0


def parse_rates(text: str, example: str) -> dict[str, tuple[float, float]]:
    """ "family=RATE/BURST,..." (from `--provider-setting rates=...`) -> {family: (rate, burst)}."""
    out: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        fam, _, value = part.partition("=")
        rate, _, burst = value.partition("/")
        try:
            out[fam] = (float(rate), float(burst or rate))
        except ValueError as e:
            raise ValueError(f"rate {part!r}: expected FAMILY=RATE/BURST, e.g. {example}") from e
    return out

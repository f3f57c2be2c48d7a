"""The work queue's guarantees, exercised with real threads."""

from __future__ import annotations

import random
import threading
import time

import pytest

from ccm.workqueue import Backoff, ShutDown, WorkQueue


def test_duplicates_collapse() -> None:
    q = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(0.1) == "a"
    assert q.get(0.1) == "b"
    with pytest.raises(TimeoutError):
        q.get(0.05)


def test_key_in_flight_is_not_handed_out_again_until_done() -> None:
    q = WorkQueue()
    q.add("a")
    assert q.get(0.1) == "a"
    q.add("a")  # changed while being processed
    with pytest.raises(TimeoutError):
        q.get(0.05)
    q.done("a")
    assert q.get(0.1) == "a"


def test_many_workers_never_share_a_key() -> None:
    q = WorkQueue()
    active: set[str] = set()
    lock = threading.Lock()
    violations = 0
    processed = 0
    stop = threading.Event()

    def worker() -> None:
        nonlocal violations, processed
        while not stop.is_set():
            try:
                key = q.get(0.05)
            except TimeoutError:
                continue
            except ShutDown:
                return
            with lock:
                if key in active:
                    violations += 1
                active.add(key)
            time.sleep(0.001)
            with lock:
                active.discard(key)
                processed += 1
            q.done(key)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    rng = random.Random(1)
    for _ in range(3000):
        q.add(f"k{rng.randrange(20)}")
    deadline = time.monotonic() + 10
    while not q.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    q.shutdown()
    for t in threads:
        t.join()
    assert violations == 0
    assert 20 <= processed < 3000  # work happened, and duplicates collapsed


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(base=5, cap=300, jitter=0.2, rng=random.Random(0))
    delays = [b.next_delay("k") for _ in range(10)]
    for n, d in enumerate(delays):
        nominal = min(300, 5 * 2**n)
        assert nominal * 0.8 <= d <= nominal * 1.2
    assert b.failures("k") == 10
    assert b.next_delay("other") <= 6
    b.forget("k")
    assert b.next_delay("k") <= 6


def test_add_after_delays_and_orders() -> None:
    q = WorkQueue()
    q.add_after("late", 0.3)
    q.add_after("soon", 0.1)
    began = time.monotonic()
    assert q.get(2) == "soon"
    q.done("soon")
    assert q.get(2) == "late"
    assert time.monotonic() - began >= 0.29


def test_rate_limited_uses_per_key_backoff() -> None:
    q = WorkQueue(Backoff(base=0.05, cap=1, jitter=0))
    assert q.add_rate_limited("a") == pytest.approx(0.05)
    assert q.add_rate_limited("a") == pytest.approx(0.1)
    assert q.add_rate_limited("b") == pytest.approx(0.05)
    q.forget("a")
    assert q.add_rate_limited("a") == pytest.approx(0.05)


def test_shutdown_stops_handing_out_work() -> None:
    q = WorkQueue()
    q.add("a")
    q.shutdown()
    with pytest.raises(ShutDown):
        q.get(0.1)
    q.add("b")  # ignored after shutdown
    assert len(q) == 1

"""One place every driver reports a cloud API attempt: metrics, a debug log line, and the
request id for the reconcile that made it.

Drivers own their retry loops (tenacity around each SDK call); they wrap the single
attempt in `observe`, so a call retried three times counts three requests, exactly what
the cloud's rate limiter sees. The request ids of a reconcile's calls are collected in a
context variable and put on the reconcile's log line, so one line ties a Service to the
ids a cloud support ticket asks for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from ccm.metrics import CLOUD_CALL_SECONDS, CLOUD_CALLS, CLOUD_THROTTLES

log = logging.getLogger("ccm.cloud")

T = TypeVar("T")

_request_ids: ContextVar[list[str] | None] = ContextVar("ccm_request_ids", default=None)


def _no_id(_: object) -> str:
    return ""


def observe(
    provider: str,
    operation: str,
    attempt: Callable[[], T],
    is_throttle: Callable[[BaseException], bool],
    request_id: Callable[[object], str] = _no_id,
) -> T:
    """Run one attempt; count it by result and remember its request id (taken from the
    result, or from the exception for a failed call)."""
    started = time.monotonic()
    try:
        result = attempt()
    except BaseException as e:
        throttled = is_throttle(e)
        _record(
            provider,
            operation,
            "throttled" if throttled else "error",
            time.monotonic() - started,
            _safe_id(request_id, e),
        )
        if throttled:
            CLOUD_THROTTLES.labels(provider, operation).inc()
        raise
    _record(provider, operation, "ok", time.monotonic() - started, _safe_id(request_id, result))
    return result


def _safe_id(request_id: Callable[[object], str], value: object) -> str:
    """A missing or odd-shaped id must never fail the call it describes."""
    try:
        return request_id(value) or ""
    except Exception:
        return ""


def _record(provider: str, operation: str, result: str, seconds: float, request_id: str) -> None:
    CLOUD_CALLS.labels(provider, operation, result).inc()
    CLOUD_CALL_SECONDS.labels(provider).observe(seconds)
    ids = _request_ids.get()
    if ids is not None and request_id:
        ids.append(request_id)
    log.debug(
        "cloud call %s %s: %s",
        provider,
        operation,
        result,
        extra={
            "provider": provider,
            "action": operation,
            "result": result,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id,
        },
    )


@contextmanager
def collect_request_ids() -> Iterator[list[str]]:
    """Request ids of the cloud calls made on this thread inside the block."""
    ids: list[str] = []
    token = _request_ids.set(ids)
    try:
        yield ids
    finally:
        _request_ids.reset(token)

"""JSON and text log lines: structured fields, request ids, and no credential ever."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ccm.cloudcalls import collect_request_ids, observe
from ccm.logs import REDACTED, redact, setup


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_carries_the_structured_fields(captured: io.StringIO) -> None:
    setup("info", "json", {"cluster": "prod"}, stream=captured)
    logging.getLogger("ccm.controller").info(
        "reconciled %s: %s",
        "default/web",
        "created",
        extra={
            "service": "default/web",
            "provider": "aws",
            "action": "reconcile",
            "result": "created",
            "duration_ms": 12.5,
            "request_ids": ["r-1", "r-2"],
        },
    )
    (line,) = _lines(captured)
    assert line["msg"] == "reconciled default/web: created"
    assert line["level"] == "info" and line["logger"] == "ccm.controller"
    assert line["cluster"] == "prod" and line["service"] == "default/web"
    assert line["duration_ms"] == 12.5 and line["request_ids"] == ["r-1", "r-2"]
    assert str(line["time"]).endswith("+00:00")


@pytest.mark.parametrize(
    "secret",
    [
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjY20ifQ.c2lnbmF0dXJl",
        "token=s3cr3t-value",
        '{"client_secret": "hunter2"}',
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "key id AKIAIOSFODNN7EXAMPLE in use",
        "X-Amz-Security-Token: FwoGZXIvYXdzEBYaDNOTREAL",
        "password: pa55",
    ],
)
def test_credentials_never_reach_a_line(captured: io.StringIO, secret: str) -> None:
    setup("debug", "json", stream=captured)
    log = logging.getLogger("ccm.test")
    log.warning("call failed: %s", secret)
    try:
        raise RuntimeError(f"boom with {secret}")
    except RuntimeError:
        log.exception("with a traceback")
    text = captured.getvalue()
    for piece in (
        "eyJzdWIiOiJjY20ifQ",
        "s3cr3t-value",
        "hunter2",
        "wJalrXUtnFEMI",
        "AKIAIOSFODNN7EXAMPLE",
        "FwoGZXIvYXdzEBYaDNOTREAL",
        "pa55",
    ):
        assert piece not in text
    assert REDACTED in text
    assert all(isinstance(x, dict) for x in _lines(captured))


def test_redaction_keeps_the_rest_readable() -> None:
    assert redact("GET /api/v1/services 200 in 12ms") == "GET /api/v1/services 200 in 12ms"
    assert redact("token=abc def") == f"token={REDACTED} def"


def test_text_format_for_humans(captured: io.StringIO) -> None:
    setup("info", "text", stream=captured)
    logging.getLogger("ccm").info("hello", extra={"service": "default/web"})
    line = captured.getvalue().strip()
    assert " INFO ccm: hello [service=default/web]" in line
    with pytest.raises(ValueError):
        json.loads(line)


def test_cloud_request_ids_are_collected_per_reconcile() -> None:
    def ok() -> dict[str, object]:
        return {"ResponseMetadata": {"RequestId": "req-123"}}

    def rid(outcome: object) -> str:
        return str(outcome["ResponseMetadata"]["RequestId"]) if isinstance(outcome, dict) else ""

    with collect_request_ids() as ids:
        observe("aws", "ec2:DescribeSubnets", ok, lambda e: False, rid)
        with pytest.raises(KeyError):
            observe("aws", "ec2:DescribeSubnets", lambda: {}["x"], lambda e: False, rid)
    assert ids == ["req-123"]
    observe("aws", "ec2:DescribeSubnets", ok, lambda e: False, rid)  # outside: not collected
    assert ids == ["req-123"]

"""Log set-up for `ccm run`: one JSON object per line by default, text for humans, and a
redaction filter on both so no credential reaches a log store.

JSON lines carry the structured fields the loop attaches with `extra=` (service,
provider, action, result, duration_ms, request_id / request_ids) as top-level keys, so
`jq 'select(.service=="default/web")'` or a log query finds every line of one Service.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = ("service", "provider", "action", "result", "duration_ms", "request_id", "request_ids")

# Order matters: a header or key=value pair is cut before the bare-token patterns look.
_SECRETS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)([\"']?\b(?:authorization|token|access[_-]?token|id[_-]?token|secret|"
        r"client[_-]?secret|password|passwd|aws_secret_access_key|secret[_-]?access[_-]?key|"
        r"x-amz-security-token|session[_-]?token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),  # a JWT
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # an AWS access key id
)
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced."""
    text = _SECRETS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRETS[1].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    for pattern in _SECRETS[2:]:
        text = pattern.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the message once, scrubbed, so neither formatter can leak an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.static,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, "", []):
                out[name] = value
        if record.exc_text:
            out["error"] = record.exc_text
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None)]
        return f"{line} [{' '.join(extras)}]" if extras else line


def setup(
    level: str, fmt: str, static: dict[str, str] | None = None, stream: TextIO | None = None
) -> None:
    """Replace the root handlers: `fmt` is "json" or "text"."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter(static) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SDKs log request headers and bodies (azure-core at info, botocore and urllib3 at
    # debug); only their warnings are ours to show. Redaction is the second line, not the only.
    for noisy in ("urllib3", "botocore", "boto3", "azure", "google", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

"""Every AWS call the driver makes goes through here: token buckets, retries, counting.

AWS throttles per account and API family, and the reference controllers are known for
retry storms that make it worse. So botocore's own retries are off (one attempt per
request) and this layer owns the policy: a client-side token bucket per family
(describes and mutations separately) keeps a fleet of Services under the account's
rate, and tenacity retries throttling, 5xx and connection errors with jittered exponential
backoff. Each attempt is counted, which is what the benchmarks report.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from ccm.cloudcalls import observe
from ccm.ratelimit import RetryPolicy, TokenBucket

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
TRANSIENT_CODES = frozenset(
    {"InternalFailure", "InternalError", "ServiceUnavailable", "Unavailable", "RequestTimeout"}
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def request_id(outcome: object) -> str:
    """The x-amzn-RequestId botocore puts in ResponseMetadata, of a result or an error."""
    if isinstance(outcome, ClientError):
        meta = outcome.response.get("ResponseMetadata", {})
    elif isinstance(outcome, dict):
        meta = outcome.get("ResponseMetadata", {})
    else:
        return ""
    return str(meta.get("RequestId", ""))


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, BotoConnectionError):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = error_code(exc)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status >= 500
    return False


# Conservative defaults under the documented ELBv2/EC2 account limits (ELBv2 describes
# ~10/s, mutations ~5/s; EC2 describes ~20/s, mutations ~5/s). `--aws-rate` overrides.
DEFAULT_RATES: Mapping[str, tuple[float, float]] = {
    "elasticloadbalancing:read": (10.0, 20.0),
    "elasticloadbalancing:write": (5.0, 10.0),
    "ec2:read": (20.0, 40.0),
    "ec2:write": (5.0, 10.0),
    "tagging:read": (5.0, 10.0),
}

_READ_PREFIXES = ("Describe", "Get", "List")


def family(endpoint_prefix: str, operation: str) -> str:
    """e.g. "ec2:read"; the tagging API's endpoint prefix is already "tagging"."""
    kind = "read" if operation.startswith(_READ_PREFIXES) else "write"
    return f"{endpoint_prefix}:{kind}"


class Caller:
    """Wraps boto3 clients' operations with the bucket of their family and the retry policy."""

    def __init__(
        self,
        rates: Mapping[str, tuple[float, float]] | None = None,
        policy: RetryPolicy | None = None,
        on_call: Callable[[str, str], None] | None = None,
    ) -> None:
        merged = {**DEFAULT_RATES, **(rates or {})}
        self._buckets = {name: TokenBucket(r, b) for name, (r, b) in merged.items()}
        self.policy = policy or RetryPolicy()
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()
        self._on_call = on_call

    def call(self, client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        service = client.meta.service_model.endpoint_prefix
        bucket = self._buckets.get(family(service, operation))
        method = getattr(client, _snake(operation))
        retry = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential_jitter(multiplier=self.policy.initial, max=self.policy.cap),
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.deadline),
            reraise=True,
        )
        for attempt in retry:
            with attempt:
                if bucket is not None:
                    bucket.acquire()
                with self._lock:
                    self.calls[f"{service}:{operation}"] += 1
                if self._on_call is not None:
                    self._on_call(service, operation)
                try:
                    result: dict[str, Any] = observe(
                        "aws",
                        f"{service}:{operation}",
                        lambda: method(**kwargs),
                        is_throttle,
                        request_id,
                    )
                except ClientError as e:
                    if error_code(e) in THROTTLING_CODES:
                        with self._lock:
                            self.throttled += 1
                    raise
                return result
        raise AssertionError("unreachable: tenacity reraises")

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if (
            ch.isupper()
            and i
            and (
                not operation[i - 1].isupper()
                or (i + 1 < len(operation) and operation[i + 1].islower())
            )
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)

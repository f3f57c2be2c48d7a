"""Errors in the JSON shape Google APIs send, so api_core raises its usual exceptions.

api_core picks the exception class from the HTTP status alone and copies
``error.errors`` onto the exception; drivers branch on ``errors[0]["reason"]``
(``alreadyExists``, ``resourceInUseByAnotherResource``, ...), so every refusal here
carries the reason real Compute Engine gives for it, and a message worded like its.
"""

from __future__ import annotations

from typing import Any

# google.rpc.Code names by HTTP status, as Google front ends put them in `error.status`.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# The code an operation's `error.errors[]` carries for a refusal with this reason: Compute
# reports asynchronous failures in upper snake case rather than as HTTP reasons.
OPERATION_CODES = {
    "notFound": "RESOURCE_NOT_FOUND",
    "alreadyExists": "RESOURCE_ALREADY_EXISTS",
    "resourceInUseByAnotherResource": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
    "resourceNotReady": "RESOURCE_NOT_READY",
    "quotaExceeded": "QUOTA_EXCEEDED",
    "conditionNotMet": "CONDITION_NOT_MET",
    "invalid": "INVALID_USAGE",
}

# What Compute puts in an operation's `httpErrorMessage` for a failing status.
HTTP_REASON_PHRASES = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    500: "INTERNAL SERVER ERROR",
}


class ApiError(Exception):
    """A refusal: raised anywhere in the emulator, answered by the server as JSON."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        """The response body Google sends for this error."""
        return error_body(self.status, self.reason, self.message)


def error_body(status: int, reason: str, message: str) -> dict[str, Any]:
    """``{"error": {"code", "message", "status", "errors": [{reason, domain, message}]}}``."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": RPC_STATUS.get(status, "UNKNOWN"),
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def not_found(path: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{path}' was not found")


def already_exists(path: str) -> ApiError:
    return ApiError(409, "alreadyExists", f"The resource '{path}' already exists")


def not_ready(path: str) -> ApiError:
    """A resource whose operation is still running: GCP refuses to build on or change it."""
    return ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")


def in_use(kind: str, path: str, user: str) -> ApiError:
    return ApiError(
        400,
        "resourceInUseByAnotherResource",
        f"The {kind} resource '{path}' is already being used by '{user}'",
    )


def invalid(field: str, value: Any, why: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for field '{field}': '{value}'. {why}")


def required(field: str) -> ApiError:
    return ApiError(400, "required", f"Required field '{field}' not specified")


def condition_not_met(message: str) -> ApiError:
    return ApiError(412, "conditionNotMet", message)


def quota_exceeded(metric: str, limit: float, where: str) -> ApiError:
    return ApiError(
        403, "quotaExceeded", f"Quota '{metric}' exceeded.  Limit: {limit:.1f} {where}."
    )

"""API errors in the shape kube-apiserver sends them, so clients' error handling is exercised.

The official client raises `ApiException` with the `Status` body; controllers branch on
`reason` (Conflict, AlreadyExists, NotFound, Invalid, Expired), so those must be exact.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def _about(code: int, reason: str, message: str, group: str, plural: str, name: str) -> APIError:
    return APIError(code, reason, message, {"name": name, "group": group, "kind": plural})


def not_found(group: str, plural: str, name: str) -> APIError:
    return _about(
        404, "NotFound", f'{_qualified(group, plural)} "{name}" not found', group, plural, name
    )


def already_exists(group: str, plural: str, name: str) -> APIError:
    return _about(
        409,
        "AlreadyExists",
        f'{_qualified(group, plural)} "{name}" already exists',
        group,
        plural,
        name,
    )


def conflict(group: str, plural: str, name: str) -> APIError:
    message = (
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again"
    )
    return _about(409, "Conflict", message, group, plural, name)


class FieldError:
    """One cause of a 422: `field` uses the API's path syntax, e.g. spec.ports[0].port."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        self.field = field
        self.reason = reason  # FieldValueInvalid, FieldValueRequired, FieldValueDuplicate, ...
        self.message = message

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> APIError:
    summary = ", ".join(f"{e.field}: {e.message}" for e in errors)
    return APIError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {summary}',
        {"name": name, "group": group, "kind": kind, "causes": [e.cause() for e in errors]},
    )


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)

"""Errors in Azure Resource Manager's shape, so azure-core raises what it raises for Azure.

ARM answers every refusal with ``{"error": {"code", "message", "details": [...]}}``;
azure-core picks the exception class from the status (401 ClientAuthenticationError, 404
ResourceNotFoundError, 409 ResourceExistsError, anything else HttpResponseError) and
parses the body into ``exc.error``, so drivers branch on ``exc.error.code``. Every
refusal here therefore carries the code real Microsoft.Network gives for it where that
is known (README.md lists which ones are the emulator's own choice), and a message
worded like Azure's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ArmError(Exception):
    """A refusal: raised anywhere in the emulator, answered by the server as JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": list(details or [])}}


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def invalid_format(message: str) -> ArmError:
    """A body the emulator cannot accept for a reason it has no better ARM code for."""
    return ArmError(400, "InvalidRequestFormat", f"Cannot parse the request. {message}")


def invalid_content(why: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: '{why}'.",
    )


def resource_not_found(type_name: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group '{resource_group}' was not "
        "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def child_not_found(resource_id: str) -> ArmError:
    """What Microsoft.Network says for a missing subnet, rule, frontend...: a bare NotFound."""
    return ArmError(404, "NotFound", f"Resource {resource_id} not found.")


def unknown_path(method: str, path: str) -> ArmError:
    return ArmError(
        404, "NotFound", f"The emulator serves no resource or collection at {method} {path}."
    )


def method_not_allowed(method: str, path: str) -> ArmError:
    return ArmError(
        405,
        "MethodNotAllowed",
        f"The requested resource does not support http method '{method}' ({path}).",
    )


def subscription_not_found(subscription: str) -> ArmError:
    return ArmError(
        404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
    )


def missing_api_version() -> ArmError:
    return ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def invalid_reference(target: str, referrer: str) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {target} referenced by resource {referrer} was not found. Please make "
        "sure that the referenced resource exists, and that both resources are in the "
        "same region.",
    )


def duplicate_name(parent: str, name: str) -> ArmError:
    return ArmError(
        400,
        "DuplicateResourceName",
        f"Resource {parent} has two child resources with the same name ({name}).",
    )


def precondition_failed(resource_id: str, sent: str, current: str) -> ArmError:
    return ArmError(
        412,
        "PreconditionFailed",
        f"Precondition failed for resource {resource_id}: the request asked for etag "
        f"{sent} but the resource's etag is {current or '(none: it does not exist)'}.",
    )


def another_operation(
    operation: str, resource_id: str, running: str, running_id: str, status_url: str
) -> ArmError:
    return ArmError(
        409,
        "AnotherOperationInProgress",
        f"Operation {operation} on resource {resource_id} cannot be performed because "
        f"another operation {running} ({running_id}) on this or dependent resource is in "
        f"progress. To retrieve status of the operation use uri: {status_url}",
    )


def authentication_failed(why: str) -> ArmError:
    return ArmError(
        401, "AuthenticationFailed", f"Authentication failed. {why}", headers=_challenge()
    )


def invalid_token() -> ArmError:
    return ArmError(
        401,
        "InvalidAuthenticationToken",
        "The access token is invalid.",
        headers=_challenge(),
    )


def _challenge() -> dict[str, str]:
    """ARM's challenge; without ``claims`` the SDK's policy gives the 401 back at once."""
    return {
        "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/", '
        'error="invalid_token", error_description="The access token is missing or invalid."'
    }

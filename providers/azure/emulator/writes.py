"""PUT and DELETE of resources and of writable children, as Microsoft.Network answers them.

Order of checks, as a driver meets them: a resource with an operation running refuses
the write (409 AnotherOperationInProgress), then ``If-Match``/``If-None-Match`` are
checked against the current etag (412 PreconditionFailed), then the body is validated
(400). An accepted PUT answers 201 (created) or 200 (updated) with the body it will
store, ``provisioningState: Updating``, and ``Azure-AsyncOperation``; an accepted DELETE
answers 202 with ``Azure-AsyncOperation`` and ``Location``; deleting what does not exist
answers 204. A write to a child (``securityRules/x``, ``subnets/x``, ...) is a write of
its parent: the parent's whole body is validated and the parent is what is busy.
"""

from __future__ import annotations

import copy

from providers.azure.emulator.errors import (
    another_operation,
    invalid_content,
    precondition_failed,
    resource_not_found,
)
from providers.azure.emulator.ids import Ref, key, new_etag, parse
from providers.azure.emulator.kinds import Child, Kind
from providers.azure.emulator.messages import Reply, Request
from providers.azure.emulator.operations import Operation
from providers.azure.emulator.shapes import properties_of, type_name
from providers.azure.emulator.store import State, stamp
from providers.azure.emulator.world import Body


def _bare(etag: str) -> str:
    value = etag.strip()
    return value[2:] if value.startswith("W/") else value


def check_preconditions(request: Request, resource_id: str, current: str) -> None:
    """`current` is the resource's etag, or "" when it does not exist."""
    if_match = request.headers.get("if-match")
    if if_match is not None:
        wanted = if_match.strip()
        if (wanted == "*" and not current) or (wanted != "*" and _bare(wanted) != _bare(current)):
            raise precondition_failed(resource_id, wanted, current)
    if_none = request.headers.get("if-none-match")
    if if_none is not None and if_none.strip() == "*" and current:
        raise precondition_failed(resource_id, "If-None-Match: *", current)


def _check_idle(state: State, resource_key: str, resource_id: str, operation: str) -> None:
    running = state.busy(resource_key)
    if running is not None:
        raise another_operation(
            operation, resource_id, running.name, running.id, running.status_url
        )


def _body(request: Request) -> Body:
    if request.body is None:
        raise invalid_content("the request has no JSON body")
    return request.body


def _headers(state: State, op: Operation, *, location: bool) -> dict[str, str]:
    out = {"Azure-AsyncOperation": op.status_url, "Retry-After": str(state.retry_after)}
    if location:
        out["Location"] = op.result_url
    return out


def _stored_ref(old: Body | None, resource: Ref) -> Ref:
    """A resource keeps the ID casing of its creation, whatever later requests send."""
    if old is not None:
        parsed = parse(old["id"])
        if parsed is not None:
            return parsed
    return resource


def _rendered(state: State, kind: Kind, body: Body, op: Operation) -> Body:
    return state.view(kind, body, state="" if op.done else "Updating")


def put_resource(state: State, request: Request, kind: Kind, resource: Ref) -> Reply:
    body = _body(request)
    old = state.stored(kind, key(resource.id))
    resource = _stored_ref(old, resource)
    name = f"Put{kind.singular}Operation"
    _check_idle(state, key(resource.id), resource.id, name)
    check_preconditions(request, resource.id, (old or {}).get("etag", ""))
    new = stamp(kind, kind.prepare(state, resource, body, old), resource, new_etag())
    op = state.begin(request, kind, resource, new["location"], new, name)
    return Reply(
        200 if old else 201, _rendered(state, kind, new, op), _headers(state, op, location=False)
    )


def delete_resource(state: State, request: Request, kind: Kind, resource: Ref) -> Reply:
    old = state.stored(kind, key(resource.id))
    if old is None:
        return Reply(204)
    resource = _stored_ref(old, resource)
    name = f"Delete{kind.singular}Operation"
    _check_idle(state, key(resource.id), resource.id, name)
    check_preconditions(request, resource.id, old.get("etag", ""))
    kind.check_delete(state, old)
    op = state.begin(request, kind, resource, old["location"], None, name)
    return Reply(202, None, _headers(state, op, location=True))


def _parent(state: State, kind: Kind, resource: Ref) -> tuple[Ref, Body]:
    parent = state.stored(kind, key(resource.parent_id))
    if parent is None:
        raise resource_not_found(type_name(kind.name), resource.name, resource.resource_group)
    return _stored_ref(parent, resource), parent


def _find(items: list[Body], name: str) -> int:
    return next((i for i, item in enumerate(items) if item["name"].lower() == name.lower()), -1)


def put_child(state: State, request: Request, kind: Kind, child: Child, resource: Ref) -> Reply:
    body = _body(request)
    parent_ref, parent = _parent(state, kind, resource)
    name = f"Put{child.singular}Operation"
    _check_idle(state, key(parent_ref.id), parent_ref.id, name)
    draft = copy.deepcopy(parent)
    items: list[Body] = draft["properties"].setdefault(child.name, [])
    index = _find(items, resource.child_name)
    child_id = f"{parent_ref.id}/{child.name}/{resource.child_name}"
    check_preconditions(request, child_id, parent["etag"] if index >= 0 else "")
    entry: Body = {
        "name": str(items[index]["name"]) if index >= 0 else resource.child_name,
        "properties": properties_of(body, child_id),
    }
    if index >= 0:
        items[index] = entry
    else:
        items.append(entry)
    new = stamp(kind, kind.prepare(state, parent_ref, draft, parent), parent_ref, new_etag())
    op = state.begin(request, kind, parent_ref, new["location"], new, name)
    rendered = _rendered(state, kind, new, op)["properties"][child.name]
    return Reply(
        200 if index >= 0 else 201,
        rendered[_find(rendered, entry["name"])],
        _headers(state, op, location=False),
    )


def delete_child(state: State, request: Request, kind: Kind, child: Child, resource: Ref) -> Reply:
    parent = state.stored(kind, key(resource.parent_id))
    if parent is None:
        return Reply(204)
    parent_ref = _stored_ref(parent, resource)
    items = parent["properties"].get(child.name, [])
    index = _find(items, resource.child_name)
    if index < 0:
        return Reply(204)
    name = f"Delete{child.singular}Operation"
    _check_idle(state, key(parent_ref.id), parent_ref.id, name)
    check_preconditions(request, items[index]["id"], parent["etag"])
    draft = copy.deepcopy(parent)
    del draft["properties"][child.name][index]
    new = stamp(kind, kind.prepare(state, parent_ref, draft, parent), parent_ref, new_etag())
    op = state.begin(request, kind, parent_ref, new["location"], new, name)
    return Reply(202, None, _headers(state, op, location=True))

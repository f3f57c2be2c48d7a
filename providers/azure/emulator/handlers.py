"""Route one request to its read, write or operation poll, under the state's lock.

The reads live here (GET of a resource, a child, a page of a list, an operation's
status); the writes are in writes.py. Requests outside the subscription, without
``api-version``, or to paths the emulator does not serve are refused the way ARM
refuses them.
"""

from __future__ import annotations

from providers.azure.emulator import writes
from providers.azure.emulator.errors import (
    ArmError,
    child_not_found,
    method_not_allowed,
    missing_api_version,
    resource_not_found,
    subscription_not_found,
    unknown_path,
)
from providers.azure.emulator.ids import Ref, key
from providers.azure.emulator.kinds import Kind, kind_of
from providers.azure.emulator.messages import Reply, Request
from providers.azure.emulator.paging import page
from providers.azure.emulator.routes import Route, parse_path
from providers.azure.emulator.shapes import type_name
from providers.azure.emulator.store import State
from providers.azure.emulator.world import Body


def handle(state: State, request: Request) -> Reply:
    route = parse_path(request.path)
    if route is None:
        raise unknown_path(request.method, request.path)
    if route.subscription.lower() != state.subscription.lower():
        raise subscription_not_found(route.subscription)
    if not request.api_version:
        raise missing_api_version()
    with state.lock:
        state.expire()
        if route.shape in ("operation", "operation_result"):
            return _operation(state, request, route)
        kind = kind_of(route.kind)
        if kind is None:
            raise unknown_path(request.method, request.path)
        return _dispatch(state, request, route, kind)


def _dispatch(state: State, request: Request, route: Route, kind: Kind) -> Reply:
    method = request.method
    resource = Ref(
        route.subscription,
        route.resource_group,
        kind.name,
        route.name,
        route.child_kind,
        route.child_name,
    )
    if route.shape in ("list_all", "list"):
        _only(request, "GET")
        return _list(state, request, kind, route.resource_group)
    if route.shape == "resource":
        if method == "GET":
            return _get(state, kind, resource)
        if method == "PUT":
            return writes.put_resource(state, request, kind, resource)
        if method == "DELETE":
            return writes.delete_resource(state, request, kind, resource)
        raise method_not_allowed(method, request.path)
    child = kind.child(route.child_kind)
    if child is None:
        raise unknown_path(method, request.path)
    resource = Ref(
        resource.subscription,
        resource.resource_group,
        kind.name,
        resource.name,
        child.name,
        route.child_name,
    )
    if route.shape == "children":
        _only(request, "GET")
        return _list_children(state, request, kind, resource)
    if method == "GET":
        return _get_child(state, kind, resource)
    if method == "PUT" and child.writable:
        return writes.put_child(state, request, kind, child, resource)
    if method == "DELETE" and child.writable:
        return writes.delete_child(state, request, kind, child, resource)
    raise method_not_allowed(method, request.path)


def _only(request: Request, method: str) -> None:
    if request.method != method:
        raise method_not_allowed(request.method, request.path)


def _missing(kind: Kind, resource: Ref) -> ArmError:
    return resource_not_found(type_name(kind.name), resource.name, resource.resource_group)


def _get(state: State, kind: Kind, resource: Ref) -> Reply:
    body = state.stored(kind, key(resource.id))
    if body is None:
        raise _missing(kind, resource)
    return Reply(200, state.view(kind, body))


def _children(state: State, kind: Kind, resource: Ref) -> list[Body]:
    body = state.stored(kind, key(resource.parent_id))
    if body is None:
        raise _missing(kind, resource)
    items: list[Body] = state.view(kind, body)["properties"].get(resource.child_kind, [])
    return items


def _get_child(state: State, kind: Kind, resource: Ref) -> Reply:
    for item in _children(state, kind, resource):
        if str(item.get("name", "")).lower() == resource.child_name.lower():
            return Reply(200, dict(item))
    raise child_not_found(resource.id)


def _list(state: State, request: Request, kind: Kind, resource_group: str) -> Reply:
    group = resource_group.lower()
    items = []
    for body in state.committed(kind.name):
        ref_group = body["id"].split("/")[4].lower()
        if group and ref_group != group:
            continue
        sort_key = body["name"].lower() if group else key(body["id"])
        items.append((sort_key, state.view(kind, body)))
    items.sort(key=lambda pair: pair[0])
    return Reply(200, _page(state, request, items))


def _list_children(state: State, request: Request, kind: Kind, resource: Ref) -> Reply:
    items = sorted(
        ((str(item["name"]).lower(), dict(item)) for item in _children(state, kind, resource)),
        key=lambda pair: pair[0],
    )
    return Reply(200, _page(state, request, items))


def _page(state: State, request: Request, items: list[tuple[str, Body]]) -> Body:
    def next_url(token: str) -> str:
        return f"{request.base}{request.path}?api-version={request.api_version}&$skiptoken={token}"

    return page(items, request.query.get("$skiptoken", ""), state.page_size, next_url)


def _operation(state: State, request: Request, route: Route) -> Reply:
    _only(request, "GET")
    op = state.operation(route.operation)
    if op is None:
        raise ArmError(404, "NotFound", f"Operation {route.operation} was not found.")
    state.poll(op)
    retry = {"Retry-After": str(state.retry_after)}
    if route.shape == "operation":
        return Reply(200, op.render(), {} if op.done else retry)
    if not op.done:
        return Reply(202, None, {"Location": op.result_url, **retry})
    if op.status == "Failed" and op.failure is not None:
        raise ArmError(400, op.failure.code, op.failure.message)
    if op.new is None:
        return Reply(204)
    kind = kind_of(op.kind)
    assert kind is not None
    body = state.stored(kind, op.key)
    return Reply(200, state.view(kind, body)) if body is not None else Reply(204)

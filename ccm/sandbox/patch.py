"""The three PATCH content types of kube-apiserver, applied to plain JSON documents.

Controllers patch rather than update to avoid resourceVersion conflicts, and the official
client picks the content type per call (strategic merge for core kinds, merge patch for
custom resources, JSON patch on request). A sandbox that merged lists the wrong way would
silently drop a finalizer or a node condition another controller owns, so the list
semantics here follow the real server's patchStrategy/patchMergeKey tags.

Every function works on a deep copy: a patch that fails half-way must leave the stored
object exactly as it was, and callers may hold references to their patch bodies.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ccm.sandbox.errors import APIError

__all__ = [
    "FIELD_STRATEGIES",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
    "to_api_error",
]

MERGE = "merge"
MERGE_PRIMITIVE = "merge-primitive"

# kind -> dotted path of a list field -> (strategy, merge key). "*" applies to every kind.
# A list that is absent here is replaced wholesale, which is also what the real server does
# for fields without a patchStrategy tag (e.g. Service spec.externalIPs, Endpoints subsets,
# Service status.loadBalancer.ingress).
FIELD_STRATEGIES: dict[str, dict[str, tuple[str, str | None]]] = {
    "*": {
        "metadata.finalizers": (MERGE_PRIMITIVE, None),
        "metadata.ownerReferences": (MERGE, "uid"),
    },
    "Service": {
        "spec.ports": (MERGE, "port"),
        "status.conditions": (MERGE, "type"),
    },
    "Node": {
        "status.conditions": (MERGE, "type"),
        "status.addresses": (MERGE, "type"),
        "spec.podCIDRs": (MERGE_PRIMITIVE, None),
        "spec.taints": (MERGE, "key"),
    },
    "Pod": {
        "spec.containers": (MERGE, "name"),
        "spec.initContainers": (MERGE, "name"),
        "spec.volumes": (MERGE, "name"),
        "spec.containers.env": (MERGE, "name"),
        "spec.containers.ports": (MERGE, "containerPort"),
        "status.conditions": (MERGE, "type"),
    },
    "EndpointSlice": {},
    "Endpoints": {},
}

_ACCEPTED_MEDIA_TYPES = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
    "application/strategic-merge-patch+json"
)

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"


class PatchError(Exception):
    """A patch the server refuses; `code` separates malformed bodies (400) from ones that
    are well-formed but cannot apply to this object (422), as kube-apiserver does."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def to_api_error(e: PatchError) -> APIError:
    """Clients branch on `reason`, so it must match the code the real server pairs it with."""
    return APIError(e.code, "Invalid" if e.code == 422 else "BadRequest", e.message)


# --------------------------------------------------------------------------- RFC 7386


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: the content type custom resources get, since they carry no list tags."""
    return _merge_patch(copy.deepcopy(target), patch)


def _merge_patch(target: Any, patch: Any) -> Any:
    # `target` is already a private copy; only `patch` values need copying.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- RFC 6902


def apply_json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902, all-or-nothing: operations run on a copy, so a failing `test` or a bad
    path part-way through leaves `target` untouched."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc = copy.deepcopy(target)
    for index, op in enumerate(ops):
        doc = _apply_op(doc, op, index)
    return doc


def _parse_pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"invalid JSON pointer {pointer!r}: must be a string", 400)
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{pointer}": must start with "/"', 400)
    tokens: list[str] = []
    for raw in pointer[1:].split("/"):
        # RFC 6901: "~" must be followed by 0 or 1; ~1 is decoded before ~0 so "~01" is "~1".
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise PatchError(f'invalid JSON pointer "{pointer}": bad "~" escape', 400)
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _array_index(token: str, length: int, pointer: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    # No sign, no leading zeros: "01" and "-1" are not valid array indexes in RFC 6901.
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or not token.isascii():
        raise PatchError(f'invalid array index "{token}" in path "{pointer}"')
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise PatchError(f'array index {index} out of bounds in path "{pointer}"')
    return index


def _resolve_parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f'path "{pointer}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), pointer, allow_end=False)]
        else:
            raise PatchError(f'path "{pointer}" does not exist')
    if not isinstance(node, (dict, list)):
        raise PatchError(f'path "{pointer}" does not exist')
    return node


def _get(doc: Any, pointer: str) -> Any:
    tokens = _parse_pointer(pointer)
    if not tokens:
        return doc
    parent = _resolve_parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'path "{pointer}" does not exist')
        return parent[last]
    return parent[_array_index(last, len(parent), pointer, allow_end=False)]


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = _parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve_parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_array_index(last, len(parent), pointer, allow_end=True), value)
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = _parse_pointer(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve_parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'path "{pointer}" does not exist')
        return doc, parent.pop(last)
    return doc, parent.pop(_array_index(last, len(parent), pointer, allow_end=False))


def _replace(doc: Any, pointer: str, value: Any) -> Any:
    tokens = _parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve_parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'path "{pointer}" does not exist')
        parent[last] = value
    else:
        parent[_array_index(last, len(parent), pointer, allow_end=False)] = value
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """Python's == says True == 1 and 1 == 1.0; JSON `test` must not conflate booleans
    with numbers, though 1 and 1.0 are the same JSON number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _require(op: dict[str, Any], field: str, index: int) -> Any:
    if field not in op:
        raise PatchError(f'operation {index} ("{op.get("op")}") is missing "{field}"', 400)
    return op[field]


def _apply_op(doc: Any, op: Any, index: int) -> Any:
    if not isinstance(op, dict):
        raise PatchError(f"operation {index} must be an object", 400)
    name = op.get("op")
    path = _require(op, "path", index)
    _parse_pointer(path)  # reject a malformed pointer as 400 before touching the document
    if name == "add":
        return _add(doc, path, copy.deepcopy(_require(op, "value", index)))
    if name == "remove":
        return _remove(doc, path)[0]
    if name == "replace":
        return _replace(doc, path, copy.deepcopy(_require(op, "value", index)))
    if name == "test":
        expected = _require(op, "value", index)
        if not _json_equal(_get(doc, path), expected):
            raise PatchError(f'test operation {index} failed: value at "{path}" differs')
        return doc
    if name in ("move", "copy"):
        source = _require(op, "from", index)
        _parse_pointer(source)
        if name == "copy":
            return _add(doc, path, copy.deepcopy(_get(doc, source)))
        if path == source:
            _get(doc, source)  # still must exist
            return doc
        if path.startswith(source + "/"):
            raise PatchError(f'cannot move "{source}" into its own child "{path}"')
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    raise PatchError(f"operation {index} has unsupported op {name!r}", 400)


# --------------------------------------------------------------------- strategic merge


def apply_strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], kind: str
) -> dict[str, Any]:
    """Kubernetes strategic merge patch: like RFC 7386, except that the lists named in
    FIELD_STRATEGIES are merged element-wise, so two controllers can each patch their own
    finalizer, condition or port without clobbering the other's."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    strategies = {**FIELD_STRATEGIES["*"], **FIELD_STRATEGIES.get(kind, {})}
    if patch.get(_PATCH) == "delete":
        return {}
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_map(base, patch, "", strategies)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_directive(key: str) -> bool:
    return (
        key in (_PATCH, _RETAIN_KEYS)
        or key.startswith(_DELETE_FROM_PRIMITIVE)
        or key.startswith(_SET_ELEMENT_ORDER)
    )


def _directive_list(patch: dict[str, Any], key: str) -> list[Any]:
    value = patch[key]
    if not isinstance(value, list):
        raise PatchError(f'"{key}" must be a list, got {value!r}', 400)
    return value


def _merge_map(
    original: dict[str, Any],
    patch: dict[str, Any],
    path: str,
    strategies: dict[str, tuple[str, str | None]],
) -> dict[str, Any]:
    # `original` is a private copy and is updated in place; `patch` is never modified.
    directive = patch.get(_PATCH)
    if directive == "replace":
        body = {k: v for k, v in patch.items() if k != _PATCH}
        return _merge_map({}, body, path, strategies)
    if directive not in (None, "merge", "delete"):
        raise PatchError(f"{path or '<root>'}: unknown $patch directive {directive!r}", 400)

    if _RETAIN_KEYS in patch:
        retain = _directive_list(patch, _RETAIN_KEYS)
        for key in patch:
            if not _is_directive(key) and key not in retain:
                raise PatchError(
                    f'{path or "<root>"}: key "{key}" is in the patch but not in $retainKeys'
                )
        for key in [k for k in original if k not in retain]:
            del original[key]

    orders: dict[str, list[Any]] = {}
    for key in patch:
        if key.startswith(_DELETE_FROM_PRIMITIVE):
            field = key[len(_DELETE_FROM_PRIMITIVE) :]
            doomed = _directive_list(patch, key)
            current = original.get(field)
            if isinstance(current, list):
                original[field] = [v for v in current if v not in doomed]
        elif key.startswith(_SET_ELEMENT_ORDER):
            orders[key[len(_SET_ELEMENT_ORDER) :]] = _directive_list(patch, key)

    for key, value in patch.items():
        if _is_directive(key):
            continue
        child = _join(path, key)
        if value is None or (isinstance(value, dict) and value.get(_PATCH) == "delete"):
            original.pop(key, None)
        elif isinstance(value, dict):
            current = original.get(key)
            base = current if isinstance(current, dict) else {}
            original[key] = _merge_map(base, value, child, strategies)
        elif isinstance(value, list):
            current = original.get(key)
            base_list = current if isinstance(current, list) else []
            original[key] = _merge_list(base_list, value, child, strategies)
        else:
            original[key] = value

    for field, order in orders.items():
        current = original.get(field)
        strategy = strategies.get(_join(path, field))
        if isinstance(current, list) and strategy is not None:
            original[field] = _reorder(current, order, _join(path, field), strategy[1])
    return original


def _clean(value: Any, path: str, strategies: dict[str, tuple[str, str | None]]) -> Any:
    """New list elements go through the map merge too, so that nested directives and nulls
    never leak into the stored object."""
    if isinstance(value, dict):
        return _merge_map({}, value, path, strategies)
    return copy.deepcopy(value)


def _merge_list(
    original: list[Any],
    patch: list[Any],
    path: str,
    strategies: dict[str, tuple[str, str | None]],
) -> list[Any]:
    replace = any(isinstance(e, dict) and e.get(_PATCH) == "replace" for e in patch)
    if replace:
        return [
            _clean(e, path, strategies)
            for e in patch
            if not (isinstance(e, dict) and e.get(_PATCH) == "replace")
        ]
    strategy = strategies.get(path)
    if strategy is None:
        return [_clean(e, path, strategies) for e in patch]

    kind, merge_key = strategy
    if kind == MERGE_PRIMITIVE:
        result = list(original)
        for element in patch:
            if element not in result:
                result.append(copy.deepcopy(element))
        return result

    if merge_key is None:
        raise ValueError(f"FIELD_STRATEGIES: {path} uses the merge strategy without a merge key")
    result = list(original)
    for element in patch:
        if not isinstance(element, dict):
            raise PatchError(f"{path}: element {element!r} is not an object")
        if merge_key not in element:
            raise PatchError(f'{path}: element {element!r} is missing merge key "{merge_key}"')
        key_value = element[merge_key]
        position = next(
            (
                i
                for i, e in enumerate(result)
                if isinstance(e, dict) and merge_key in e and e[merge_key] == key_value
            ),
            None,
        )
        directive = element.get(_PATCH)
        if directive == "delete":
            result = [
                e for e in result if not (isinstance(e, dict) and e.get(merge_key) == key_value)
            ]
        elif directive not in (None, "merge"):
            raise PatchError(f"{path}: unknown $patch directive {directive!r} in list", 400)
        elif position is None:
            result.append(_merge_map({}, element, path, strategies))
        else:
            result[position] = _merge_map(result[position], element, path, strategies)
    return result


def _reorder(current: list[Any], order: list[Any], path: str, merge_key: str | None) -> list[Any]:
    """$setElementOrder carries the client's intended order; elements only the server
    knows about keep their relative order after the ones the client named."""
    if merge_key is None:
        keys = list(order)

        def identity(element: Any) -> Any:
            return element
    else:
        keys = []
        for entry in order:
            if not isinstance(entry, dict) or merge_key not in entry:
                raise PatchError(
                    f'{path}: $setElementOrder entry {entry!r} lacks merge key "{merge_key}"',
                    400,
                )
            keys.append(entry[merge_key])

        def identity(element: Any) -> Any:
            return element.get(merge_key) if isinstance(element, dict) else None

    remaining = list(current)
    ordered: list[Any] = []
    for key in keys:
        for i, element in enumerate(remaining):
            if identity(element) == key:
                ordered.append(remaining.pop(i))
                break
    return ordered + remaining


# ---------------------------------------------------------------------------- dispatch


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise PatchError(f"error decoding patch: {e}", 400) from e


def apply_patch(
    content_type: str, target: dict[str, Any], body: bytes, kind: str
) -> dict[str, Any]:
    """The PATCH verb's entry point: the content type, not the body, decides the semantics,
    exactly as with kube-apiserver."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in (
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ):
        # application/apply-patch+yaml (server-side apply) is deliberately unsupported.
        raise APIError(415, "UnsupportedMediaType", _ACCEPTED_MEDIA_TYPES)
    patch = _decode(body)
    if media_type == "application/json-patch+json":
        result = apply_json_patch(target, patch)
        if not isinstance(result, dict):
            raise PatchError("json patch result is not a JSON object")
        return result
    if not isinstance(patch, dict):
        raise PatchError("patch body must be a JSON object", 400)
    if media_type == "application/merge-patch+json":
        merged: dict[str, Any] = apply_merge_patch(target, patch)
        return merged
    return apply_strategic_merge_patch(target, patch, kind)

"""Discovery and OpenAPI documents, generated from the resource table.

kubectl resolves every resource name through discovery and, before `apply`, asks the
OpenAPI v3 document whether the server validates fields itself (the `fieldValidation`
query parameter). Advertising that lets kubectl skip client-side schema validation, which
would need the full upstream schemas; the sandbox accepts the parameter and does not
reject unknown fields (documented in the README).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ccm.sandbox.resources import RESOURCE_TYPES, VERBS, ResourceType, groups, in_group_version

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-ccm-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {k: v for k, v in _group(n, vs).items() if k not in ("kind", "apiVersion")}
            for n, vs in groups().items()
        ],
    }


def api_group(name: str) -> dict[str, Any] | None:
    versions = groups().get(name)
    return _group(name, versions) if versions else None


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular_name,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    if rt.has_status:
        out.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return out


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    types = in_group_version(group, version)
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for rt in types for e in _resource_entries(rt)],
    }


# ------------------------------------------------------------------ OpenAPI


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _gvk(rt: ResourceType) -> list[dict[str, str]]:
    return [{"group": rt.group, "version": rt.version, "kind": rt.kind}]


_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Strict, Warn or Ignore; accepted, unknown fields are not rejected.",
    "schema": {"type": "string", "uniqueItems": True},
}


def _schema_name(rt: ResourceType) -> str:
    group = rt.group or "core"
    return f"io.k8s.api.{group.split('.')[0]}.{rt.version}.{rt.kind}"


def openapi_v3_gv(group: str, version: str) -> dict[str, Any] | None:
    types = in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    prefix = "/" + _gv_path(group, version)
    for rt in types:
        ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
        body = {"content": {"application/json": {"schema": ref}}}
        ops = {
            verb: {
                "parameters": [_FIELD_VALIDATION],
                "requestBody": body,
                "responses": {"200": body},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": _gvk(rt)[0],
            }
            for verb, action in (("put", "put"), ("patch", "patch"))
        }
        create = {
            "post": {
                "parameters": [_FIELD_VALIDATION],
                "requestBody": body,
                "responses": {"201": body},
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": _gvk(rt)[0],
            }
        }
        base = (
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{prefix}/{rt.plural}"
        )
        paths[base] = create
        paths[f"{base}/{{name}}"] = ops
        schemas[_schema_name(rt)] = {
            "type": "object",
            "description": f"{rt.kind} (schema not enforced by the sandbox)",
            "x-kubernetes-group-version-kind": _gvk(rt),
            "x-kubernetes-preserve-unknown-fields": True,
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_v3_index() -> dict[str, Any]:
    gvs = sorted({(rt.group, rt.version) for rt in RESOURCE_TYPES})
    out: dict[str, Any] = {}
    for group, version in gvs:
        doc = json.dumps(openapi_v3_gv(group, version), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:32].upper()
        out[_gv_path(group, version)] = {
            "serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"
        }
    return {"paths": out}


def openapi_v2() -> dict[str, Any]:
    """Swagger 2.0 with one permissive definition per kind, for clients still on v2."""
    definitions = {
        _schema_name(rt): {
            "type": "object",
            "x-kubernetes-group-version-kind": _gvk(rt),
        }
        for rt in RESOURCE_TYPES
    }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": {},
        "definitions": definitions,
    }

"""The controller's only door to the Kubernetes API: the official client, raw JSON in and out.

Responses are read with `_preload_content=False` and decoded with `json.loads`, never into
the client's model classes: at thousands of Services the model deserialisation would cost
more than the reconcile itself, and the core works on plain dicts anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


def api_client(
    kubeconfig: str | None = None, context: str | None = None, pool_size: int = 8
) -> client.ApiClient:
    """Client from a kubeconfig (path, $KUBECONFIG, ~/.kube/config) or the in-cluster account."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except config.ConfigException:
        if kubeconfig:
            raise
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def _decode(resp: Any) -> JSON:
    data: JSON = json.loads(resp.data)
    return data


class Kube:
    """Typed-enough wrappers around CoreV1Api for the few calls the loop makes."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)

    # -------------------------------------------------------------- list / watch

    def _list_fn(self, resource: str) -> Any:
        return {
            "services": self.core.list_service_for_all_namespaces,
            "nodes": self.core.list_node,
            "endpointslices": client.DiscoveryV1Api(
                self.api
            ).list_endpoint_slice_for_all_namespaces,
        }[resource]

    def list_page(self, resource: str, limit: int = 500, token: str | None = None) -> JSON:
        kwargs: dict[str, Any] = {"limit": limit, "_preload_content": False}
        if token:
            kwargs["_continue"] = token
        return _decode(self._list_fn(resource)(**kwargs))

    def list_all(self, resource: str, page_size: int = 500) -> tuple[list[JSON], str]:
        """Every object, page by page, and the resourceVersion to watch from."""
        items: list[JSON] = []
        token: str | None = None
        while True:
            page = self.list_page(resource, page_size, token)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    def watch(self, resource: str, resource_version: str, timeout_seconds: int) -> Iterator[JSON]:
        """Events from one watch request; returns when the server ends the stream."""
        resp = self._list_fn(resource)(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=(10, timeout_seconds + 30),
        )
        try:
            for line in iter_resp_lines(resp):
                if line:
                    yield json.loads(line)
        finally:
            resp.close()
            resp.release_conn()

    # -------------------------------------------------------------- services

    def get_service(self, namespace: str, name: str) -> JSON:
        return _decode(self.core.read_namespaced_service(name, namespace, _preload_content=False))

    def patch_service(self, namespace: str, name: str, body: JSON) -> JSON:
        return _decode(
            self.core.patch_namespaced_service(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            )
        )

    def patch_service_status(self, namespace: str, name: str, body: JSON) -> JSON:
        return _decode(
            self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            )
        )

    def patch_service_status_strategic(self, namespace: str, name: str, body: JSON) -> JSON:
        return _decode(
            self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            )
        )

    # -------------------------------------------------------------- events, config

    def create_event(self, namespace: str, body: JSON) -> JSON:
        event = cast(client.CoreV1Event, body)  # sent as-is: raw JSON, not a model
        return _decode(self.core.create_namespaced_event(namespace, event, _preload_content=False))

    def patch_event(self, namespace: str, name: str, body: JSON) -> JSON:
        return _decode(
            self.core.patch_namespaced_event(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            )
        )

    def get_config_map(self, namespace: str, name: str) -> JSON | None:
        try:
            return _decode(
                self.core.read_namespaced_config_map(name, namespace, _preload_content=False)
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

"""Watch semantics through the official client's real chunked stream."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from ccm.sandbox.server import Sandbox


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def _collect(core: client.CoreV1Api, n: int, **kwargs: Any) -> list[tuple[str, str, str]]:
    """First n events as (type, name, resourceVersion), read with raw JSON objects."""
    w = watch.Watch()
    out: list[tuple[str, str, str]] = []
    for ev in w.stream(
        core.list_namespaced_config_map, "default", _preload_content=False, **kwargs
    ):
        obj = ev["raw_object"]
        out.append(
            (ev["type"], obj["metadata"].get("name", ""), obj["metadata"]["resourceVersion"])
        )
        if len(out) >= n:
            w.stop()
    return out


def test_watch_replays_every_change_after_resource_version(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("default", _cm("b"))
    core.delete_namespaced_config_map("a", "default")
    events = _collect(core, 4, resource_version=start, timeout_seconds=5)
    assert [(t, n) for t, n, _ in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    rvs = [int(rv) for _, _, rv in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)


def test_watch_streams_live_changes(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.2)
        core.create_namespaced_config_map("default", _cm("live"))

    t = threading.Thread(target=writer)
    t.start()
    events = _collect(core, 1, resource_version=start, timeout_seconds=5)
    t.join()
    assert events[0][:2] == ("ADDED", "live")


def test_watch_without_resource_version_starts_with_current_state(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", _cm("x"))
    events = _collect(core, 1, timeout_seconds=5)
    assert events[0][:2] == ("ADDED", "x")


def test_watch_resume_from_compacted_history_is_410(
    sandbox: Sandbox, core: client.CoreV1Api
) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a"))
    sandbox.store.compact()
    w = watch.Watch()
    with pytest.raises(ApiException) as exc:
        for _ in w.stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=5
        ):
            pass
    assert exc.value.status == 410


def test_410_arrives_as_error_event_in_the_stream(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a"))
    sandbox.store.compact()
    resp = core.list_namespaced_config_map(
        "default", watch=True, resource_version=start, timeout_seconds=5, _preload_content=False
    )
    import json

    lines = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    assert lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 410
    assert lines[0]["object"]["reason"] == "Expired"


def test_history_ring_expiry_gives_410(core: client.CoreV1Api) -> None:
    with Sandbox(history_size=5) as small:
        cfg = client.Configuration()
        cfg.host = small.url
        with client.ApiClient(cfg) as api:
            c = client.CoreV1Api(api)
            start = c.list_namespaced_config_map("default").metadata.resource_version
            for i in range(10):
                c.create_namespaced_config_map("default", _cm(f"m{i}"))
            with pytest.raises(ApiException) as exc:
                for _ in watch.Watch().stream(
                    c.list_namespaced_config_map,
                    "default",
                    resource_version=start,
                    timeout_seconds=2,
                ):
                    pass
            assert exc.value.status == 410
            recent = int(c.list_namespaced_config_map("default").metadata.resource_version) - 2
            events = [e["type"] for e in _iter(c, recent, 2)]
            assert events == ["ADDED", "ADDED"]


def _iter(c: client.CoreV1Api, rv: int, n: int) -> list[dict[str, Any]]:
    w = watch.Watch()
    out = []
    for ev in w.stream(
        c.list_namespaced_config_map, "default", resource_version=str(rv), timeout_seconds=2
    ):
        out.append(ev)
        if len(out) == n:
            w.stop()
    return out


def test_bookmarks_carry_current_resource_version(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", _cm("a"))
    now = core.list_namespaced_config_map("default").metadata.resource_version
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=now,
        allow_watch_bookmarks=True,
        timeout_seconds=5,
        _preload_content=False,
    ):
        assert ev["type"] == "BOOKMARK"
        assert ev["raw_object"]["metadata"]["resourceVersion"] == now
        w.stop()
        break
    else:
        pytest.fail("no BOOKMARK within 5 s")


def test_no_bookmarks_unless_asked(core: client.CoreV1Api) -> None:
    now = core.list_namespaced_config_map("default").metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=now, timeout_seconds=1
        )
    )
    assert events == []


def test_timeout_seconds_closes_stream(core: client.CoreV1Api) -> None:
    now = core.list_namespaced_config_map("default").metadata.resource_version
    began = time.monotonic()
    list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=now, timeout_seconds=1
        )
    )
    assert time.monotonic() - began < 10  # it returned: the server ended the stream


def test_selector_watch_sees_objects_enter_and_leave(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a", tier="db"))
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"tier": "web"}}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"tier": "db"}}})
    events = _collect(core, 2, resource_version=start, label_selector="tier=web", timeout_seconds=3)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "a"), ("DELETED", "a")]


def test_finalizer_deletion_is_modified_then_deleted(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "f", "finalizers": ["x/y"]}})
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.delete_namespaced_config_map("f", "default")
    core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": None}})
    w = watch.Watch()
    seen = []
    for ev in w.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=start,
        timeout_seconds=3,
        _preload_content=False,
    ):
        meta = ev["raw_object"]["metadata"]
        seen.append(
            (ev["type"], bool(meta.get("deletionTimestamp")), tuple(meta.get("finalizers", [])))
        )
        if ev["type"] == "DELETED":
            w.stop()
    assert seen == [("MODIFIED", True, ("x/y",)), ("MODIFIED", True, ()), ("DELETED", True, ())]


def test_drop_watches_ends_open_streams(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    now = core.list_namespaced_config_map("default").metadata.resource_version
    ended = threading.Event()

    def watcher() -> None:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=now, timeout_seconds=30
            )
        )
        ended.set()

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while sandbox.store.open_watches == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.store.open_watches == 1
    assert sandbox.drop_watches() == 1
    assert ended.wait(5), "the client's stream did not end after drop_watches"

"""The checker can fail: it passes a converged world and names each kind of damage.

A checker that always says "clean" would make every chaos seed pass, so it is tested on
a world the test builds itself: the Azure driver, in-process and straight to the
emulator (no controller), makes a Service's load balancer; then the test breaks the
world the ways the chaos looks for — a leftover of a Service that is gone, a status
that points elsewhere, a node not targeted, annotations the cloud no longer matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from ccm.model import FINALIZER, Node
from ccm.sandbox.server import Sandbox
from providers.azure.annotations import INTERNAL
from tests.chaos.checker import check
from tests.chaos.runner import NAMESPACE, read, service_body
from tests.chaos.worlds import World, open_world

PARAMS: dict[str, Any] = {
    "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
    "annotations": {},
    "ranges": [],
}


@pytest.fixture
def world() -> Iterator[World]:
    with open_world("azure") as w:
        yield w


def _converge(world: World, core: client.CoreV1Api, svc: dict[str, Any]) -> dict[str, Any]:
    """Do what the controller would: ensure with the driver, then write the status."""
    view = world.view()
    assert view is not None
    nodes = [Node.from_json(n) for n in world.nodes()]
    status = view.ensure(view.parse(svc, world.cluster), nodes)
    name = svc["metadata"]["name"]
    svc = read(core, name) or {}
    svc["status"] = {"loadBalancer": status.to_json()}
    core.replace_namespaced_service_status(name, NAMESPACE, cast(client.V1Service, svc))
    return read(core, name) or {}


def test_checker_passes_a_converged_world_and_names_each_kind_of_damage(
    world: World, sandbox: Sandbox, core: client.CoreV1Api
) -> None:
    for node in world.nodes():
        core.create_node(cast(client.V1Node, node))
    body = service_body("web", PARAMS)
    body["metadata"]["finalizers"] = [FINALIZER]
    core.create_namespaced_service(NAMESPACE, cast(client.V1Service, body))
    web = _converge(world, core, read(core, "web") or {})
    assert check(world, core, None) == []

    # A leftover: the load balancer of a Service deleted behind the controller's back.
    ghost = service_body("ghost", PARAMS)
    ghost["metadata"].update(namespace=NAMESPACE, uid="0badc0de-0000-4000-8000-000000000001")
    view = world.view()
    assert view is not None
    view.ensure(view.parse(ghost, world.cluster), [Node.from_json(n) for n in world.nodes()])
    problems = check(world, core, None)
    assert problems and all(p.startswith("orphan:") and "default/ghost" in p for p in problems)

    # A status that points at some other address.
    view.delete(view.parse(ghost, world.cluster).service)
    web["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.99"}]}}
    core.replace_namespaced_service_status("web", NAMESPACE, cast(client.V1Service, web))
    assert [p for p in check(world, core, None) if p.startswith("wrong status: web")]

    # A node the load balancer does not target.
    core.delete_node(world.nodes()[0]["metadata"]["name"])
    assert [p for p in check(world, core, None) if p.startswith("targets:")]
    core.create_node(cast(client.V1Node, world.nodes()[0]))

    # Annotations the cloud does not match: internal asked, public built (and so the
    # public resources are a stale identity), and no finalizer on a LoadBalancer.
    web = read(core, "web") or {}
    web["metadata"]["annotations"] = {INTERNAL: "true"}
    web["metadata"]["finalizers"] = []
    core.replace_namespaced_service("web", NAMESPACE, cast(client.V1Service, web))
    problems = check(world, core, None)
    assert any(p.startswith("orphan: web:") for p in problems), problems
    assert any(p.startswith("missing: web:") for p in problems), problems
    assert any("without " + FINALIZER in p for p in problems), problems

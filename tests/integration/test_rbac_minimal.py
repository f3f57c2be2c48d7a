"""The shipped RBAC is enough for `ccm run`, and no rule or verb in it is spare.

The bare-metal overlay is rendered with `kubectl kustomize` (it is the base's
ClusterRole and leader-election Role plus the ConfigMap Role), loaded into the
sandbox's authorizer, and two `ccm run` replicas run with the overlay's own container
arguments under the ServiceAccount's token: leader election, the leak detector, the
provider ConfigMap, Services created, changed, deleted, Nodes added, and a SIGTERM
handover. No request may be refused.

Minimality is shown twice. Every request the controller made in that run is re-checked
against the role with one verb taken away, for every verb of every rule: each reduced
role must refuse at least one of them, so that run would have failed with it. And for
every rule, the controller really runs under the role without that rule and is refused.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from ccm.model import FINALIZER
from ccm.sandbox.rbac import Authorizer, request_info, service_account_user, user_for
from ccm.sandbox.requestlog import RequestRecord
from ccm.sandbox.server import Sandbox
from tests.integration.harness import ccm_command, ip_of, lb_service, wait_for
from tests.unit.test_deploy import RBAC_KINDS, container, one, render

NAMESPACE = "kube-system"
TOKEN = "ccm-service-account-token"
USER = service_account_user(NAMESPACE, "ccm")
Obj = dict[str, Any]


@dataclass(frozen=True)
class Reduced:
    """The overlay's RBAC with one verb (or one whole rule) taken away."""

    label: str
    documents: list[Obj]
    resources: frozenset[str]  # the rule's resources (`services/status` for a subresource)
    verbs: frozenset[str]  # what was taken away


def overlay() -> list[Obj]:
    return render("overlays/baremetal")


def rbac_documents(objs: list[Obj]) -> list[Obj]:
    return [o for o in objs if o["kind"] in RBAC_KINDS]


def _without(docs: list[Obj], doc_i: int, rule_i: int, verb: str | None) -> list[Obj]:
    out = copy.deepcopy(docs)
    rules = out[doc_i]["rules"]
    if verb is None or rules[rule_i]["verbs"] == [verb]:
        del rules[rule_i]
    else:
        rules[rule_i]["verbs"].remove(verb)
    return out


def reductions(docs: list[Obj], *, whole_rules: bool) -> list[Reduced]:
    """Every rule (or every verb of every rule) of every role, taken away on its own."""
    out = []
    for doc_i, doc in enumerate(docs):
        for rule_i, rule in enumerate(doc.get("rules") or []):
            where = f"{doc['kind']} {doc['metadata']['name']} {rule['resources']}"
            resources = frozenset(rule["resources"])
            if whole_rules:
                verbs = frozenset(rule["verbs"])
                out.append(Reduced(where, _without(docs, doc_i, rule_i, None), resources, verbs))
                continue
            for verb in rule["verbs"]:
                label = f"{where} -{verb}"
                reduced = _without(docs, doc_i, rule_i, verb)
                out.append(Reduced(label, reduced, resources, frozenset([verb])))
    return out


def authorizer(docs: list[Obj]) -> Authorizer:
    return Authorizer.from_documents(docs, {TOKEN: USER}, default_namespace=NAMESPACE)


def refused_by(authz: Authorizer, records: list[RequestRecord]) -> list[RequestRecord]:
    """The controller's requests from a recorded run that `authz` would have refused."""
    user = user_for(USER)
    out = []
    for r in records:
        if r.username != USER:
            continue
        params = dict(urllib.parse.parse_qsl(r.query))
        if not authz.allowed(user, request_info(r.method, r.path, params)):
            out.append(r)
    return out


def _combined(r: RequestRecord) -> str:
    return f"{r.resource}/{r.subresource}" if r.subresource else r.resource


class Cluster:
    """An RBAC-enforcing sandbox seeded like a cluster the overlay was applied to."""

    def __init__(self, sandbox: Sandbox, objs: list[Obj], tmp: Path) -> None:
        self.sandbox = sandbox
        self.tmp = tmp
        self.args = [str(a) for a in container(objs)["args"]]
        self.kubeconfig = sandbox.write_kubeconfig(tmp / "kubeconfig", token=TOKEN)
        admin = client.Configuration()
        admin.host = sandbox.url
        admin.api_key = {"authorization": f"Bearer {sandbox.rbac.admin_token}"}  # type: ignore[union-attr]
        self.core = client.CoreV1Api(client.ApiClient(admin))
        self.coordination = client.CoordinationV1Api(client.ApiClient(admin))
        self.procs: list[subprocess.Popen[str]] = []
        config_map = one(objs, "ConfigMap", "ccm-config")
        self.core.create_namespaced_config_map(NAMESPACE, cast(client.V1ConfigMap, config_map))
        for i in (1, 2):
            self.add_node(i)

    def add_node(self, i: int) -> None:
        node = {
            "metadata": {"name": f"node-{i}"},
            "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.0.{i}"}]},
        }
        self.core.create_node(cast(client.V1Node, node))

    def start(self, identity: str) -> subprocess.Popen[str]:
        """`ccm run` with the Deployment's arguments; test-sized timings appended win."""
        cmd = ccm_command(
            "run",
            self.kubeconfig,
            *self.args[1:],
            *("--metrics-addr", "127.0.0.1:0", "--leader-elect-identity", identity),
            *("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2"),
            *("--leader-elect-retry-period", "0.5", "--leak-interval", "1"),
            *("--leak-min-age", "0", "--log-format", "text", "--resync-period", "1"),
        )
        env = {**os.environ, "POD_NAME": identity, "POD_NAMESPACE": NAMESPACE}
        log = open(self.tmp / f"{identity}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, text=True, env=env)
        self.procs.append(proc)
        return proc

    def holder(self) -> str:
        try:
            lease = self.coordination.read_namespaced_lease("ccm", NAMESPACE)
        except client.ApiException:
            return ""
        return str(lease.spec.holder_identity or "")

    def made(self, identity: str, resource: str, verb: str) -> bool:
        """Whether the replica made (and finished) such a request."""
        return any(
            f"({identity})" in r.user_agent and r.resource == resource and r.verb == verb
            for r in self.sandbox.request_log()
        )

    def finalizers(self, name: str) -> list[str]:
        return list(self.core.read_namespaced_service(name, "default").metadata.finalizers or [])

    def gone(self, name: str) -> bool:
        try:
            self.core.read_namespaced_service(name, "default")
        except client.ApiException as e:
            return e.status == 404
        return False

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _rbac_sandbox(docs: list[Obj]) -> Sandbox:
    return Sandbox(bookmark_interval=0.2, rbac=authorizer(docs))


@pytest.fixture(scope="module")
def full_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Cluster, list[RequestRecord]]]:
    """One run of everything the controller does, under the overlay's full RBAC."""
    objs = overlay()
    with _rbac_sandbox(rbac_documents(objs)) as sb:
        cluster = Cluster(sb, objs, tmp_path_factory.mktemp("rbac-full"))
        try:
            _exercise(cluster)
            # The replicas' watches are logged only when their streams end.
            cluster.stop()
            sb.drop_watches()
            assert sb.wait_logged(), "requests still in flight"
            yield cluster, sb.request_log()
        finally:
            cluster.stop()


def _exercise(cluster: Cluster) -> None:
    core = cluster.core
    first = cluster.start("replica-a")
    wait_for(lambda: cluster.holder() == "replica-a", what="replica-a leads")
    cluster.start("replica-b")  # a standby: reads the Lease and watches it by name
    wait_for(lambda: cluster.made("replica-b", "leases", "watch"), what="replica-b stands by")
    core.create_namespaced_service("default", lb_service("web"))
    wait_for(lambda: ip_of(core, "web"), what="web gets an address")
    assert cluster.finalizers("web") == [FINALIZER]
    # Someone wipes the status: the next resync reads the live object (its cache may
    # just predate its own write) and writes the address back.
    wipe = {"status": {"loadBalancer": {"ingress": None}}}
    core.patch_namespaced_service_status("web", "default", wipe)
    assert not ip_of(core, "web")
    wait_for(lambda: ip_of(core, "web"), what="web's address restored")
    assert cluster.made("replica-a", "services", "get")
    cluster.add_node(3)  # re-ensure: "Updated load balancer with new hosts"
    wait_for(lambda: _event_count(core, "UpdatedLoadBalancer") >= 1, what="node Event")
    cluster.add_node(4)  # the same Event again: a count bump (patch)
    wait_for(lambda: _event_count(core, "UpdatedLoadBalancer") >= 2, what="repeat Event")
    core.delete_namespaced_service("web", "default")
    wait_for(lambda: cluster.gone("web"), what="web's finalizer removed")
    first.send_signal(signal.SIGTERM)  # release: replica-b takes over at once
    assert first.wait(timeout=30) == 0
    wait_for(lambda: cluster.holder() == "replica-b", what="replica-b leads")
    core.create_namespaced_service("default", lb_service("after-handover"))
    wait_for(lambda: ip_of(core, "after-handover"), what="the new leader assigns")


def _events(core: client.CoreV1Api) -> list[client.CoreV1Event]:
    return list(core.list_event_for_all_namespaces().items)


def _event_count(core: client.CoreV1Api, reason: str) -> int:
    return max((e.count or 1 for e in _events(core) if e.reason == reason), default=0)


def test_controller_under_the_shipped_rbac_is_never_refused(
    full_run: tuple[Cluster, list[RequestRecord]],
) -> None:
    cluster, records = full_run
    assert cluster.sandbox.denials() == []
    mine = [r for r in records if r.username == USER]
    assert mine, "the controller made no request as its ServiceAccount"
    assert {r.code for r in mine} <= {200, 201, 404, 409}, sorted({r.code for r in mine})
    # The run used every kind of access the role grants (the replay below checks each).
    used = {(r.api_group, _combined(r), r.verb) for r in mine}
    assert ("coordination.k8s.io", "leases", "watch") in used
    assert ("", "events", "patch") in used
    assert ("", "configmaps", "get") in used
    assert ("", "services", "get") in used


@pytest.mark.parametrize(
    "reduced",
    reductions(rbac_documents(overlay()), whole_rules=False),
    ids=lambda r: r.label,
)
def test_every_verb_of_every_rule_is_needed(
    full_run: tuple[Cluster, list[RequestRecord]], reduced: Reduced
) -> None:
    _, records = full_run
    refused = refused_by(authorizer(reduced.documents), records)
    assert refused, f"the run needs nothing from {reduced.label}: the role is wider than needed"
    assert all(_combined(r) in reduced.resources and r.verb in reduced.verbs for r in refused)


def _refused_for_real(reduced: Reduced, objs: list[Obj], tmp: Path) -> list[RequestRecord]:
    """Run the controller under the reduced role until it is refused what was taken away."""
    with _rbac_sandbox(reduced.documents) as sb:
        cluster = Cluster(sb, objs, tmp)
        try:
            cluster.start("only")
            cluster.core.create_namespaced_service("default", lb_service("web"))

            def refused() -> list[RequestRecord]:
                return [
                    d
                    for d in sb.denials()
                    if _combined(d) in reduced.resources and d.verb in reduced.verbs
                ]

            return cast(list[RequestRecord], wait_for(refused, timeout=60, what=reduced.label))
        finally:
            cluster.stop()


def test_without_any_one_rule_the_controller_is_refused(tmp_path: Path) -> None:
    objs = overlay()
    cases = reductions(rbac_documents(objs), whole_rules=True)
    assert len(cases) == 7  # ClusterRole 4, leader-election Role 2, ConfigMap Role 1
    dirs = [tmp_path / str(i) for i in range(len(cases))]
    for d in dirs:
        d.mkdir()
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda c, d: _refused_for_real(c, objs, d), cases, dirs))
    for case, refused in zip(cases, results, strict=True):
        assert refused, case.label
        assert all(r.code == 403 for r in refused)

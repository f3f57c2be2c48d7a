"""RBAC enforcement and the request log of the sandbox, seen through the official client.

The point of RBAC in the sandbox is that a manifest which would make the real apiserver
answer 403 makes the sandbox answer the same 403, word for word; so each way a grant
can fall short (verb, namespace, subresource, resourceNames) is shown refused here, and
each matching grant shown to pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ccm.sandbox.rbac import Authorizer, request_info
from ccm.sandbox.server import Sandbox

CCM = "system:serviceaccount:kube-system:ccm"
TOKENS = {
    "ccm-token": CCM,
    "alice-token": "alice",
    "bob-token": "bob",
    "reader-token": "system:serviceaccount:default:reader",
}
RBAC = "rbac.authorization.k8s.io/v1"


def _cluster_role(name: str, *rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": name},
        **extra,
        "rules": list(rules),
    }


def _binding(
    kind: str, name: str, role_kind: str, role: str, subjects: list[dict[str, str]], ns: str = ""
) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": meta,
        "roleRef": ref,
        "subjects": subjects,
    }


def _rule(
    groups: list[str], resources: list[str], verbs: list[str], **extra: Any
) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


CCM_SA = {"kind": "ServiceAccount", "name": "ccm", "namespace": "kube-system"}
POLICY: list[dict[str, Any]] = [
    _cluster_role(
        "ccm",
        _rule([""], ["services"], ["get", "list", "watch", "patch"]),
        _rule([""], ["services/status"], ["patch"]),
        _rule([""], ["events"], ["create"]),
    ),
    _binding("ClusterRoleBinding", "ccm", "ClusterRole", "ccm", [CCM_SA]),
    {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "leader", "namespace": "kube-system"},
        "rules": [
            _rule(["coordination.k8s.io"], ["leases"], ["create"]),
            _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], resourceNames=["ccm"]),
        ],
    },
    _binding("RoleBinding", "leader", "Role", "leader", [CCM_SA], ns="kube-system"),
    # A ClusterRole bound by a RoleBinding grants only inside that binding's namespace.
    _cluster_role("configmap-reader", _rule([""], ["configmaps"], ["get", "list"])),
    _binding(
        "RoleBinding",
        "alice-cm",
        "ClusterRole",
        "configmap-reader",
        [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
        ns="team-a",
    ),
    # Services but not their status subresource.
    _cluster_role("svc-editor", _rule([""], ["services"], ["get", "patch"])),
    _binding(
        "ClusterRoleBinding", "bob", "ClusterRole", "svc-editor", [{"kind": "User", "name": "bob"}]
    ),
    # Group subjects, `*/status`, and an aggregated ClusterRole.
    _cluster_role(
        "status-reader",
        _rule([""], ["*/status"], ["get"]),
        _rule([""], ["nodes"], ["list"]),
        metadata={"name": "status-reader", "labels": {"example.dev/aggregate-to-view": "true"}},
    ),
    {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "view-ish"},
        "aggregationRule": {
            "clusterRoleSelectors": [{"matchLabels": {"example.dev/aggregate-to-view": "true"}}]
        },
    },
    _binding(
        "ClusterRoleBinding",
        "sa-view",
        "ClusterRole",
        "view-ish",
        [{"kind": "Group", "name": "system:serviceaccounts:default"}],
    ),
]


def _api(sb: Sandbox, token: str | None, user_agent: str = "") -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = sb.url
    if token is not None:
        cfg.api_key = {"authorization": f"Bearer {token}"}
    api = client.ApiClient(cfg)
    if user_agent:
        api.user_agent = user_agent
    return api


@pytest.fixture
def rbac_sandbox() -> Iterator[Sandbox]:
    with Sandbox(bookmark_interval=0.2, rbac=Authorizer(TOKENS, POLICY)) as sb:
        admin = client.CoreV1Api(_api(sb, "sandbox"))
        admin.create_namespace({"metadata": {"name": "team-a"}})
        admin.create_namespaced_service(
            "default",
            {
                "metadata": {"name": "web"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            },
        )
        yield sb


def _core(sb: Sandbox, token: str | None, user_agent: str = "") -> client.CoreV1Api:
    return client.CoreV1Api(_api(sb, token, user_agent))


def _refused(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    assert info.value.status in (401, 403), info.value.body
    body: dict[str, Any] = json.loads(info.value.body)
    return body


STATUS_PATCH = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}


def _message(user: str, verb: str, resource: str, scope: str, group: str = "") -> str:
    where = f'in the namespace "{scope}"' if scope else "at the cluster scope"
    return f'User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {where}'


def test_granted_verbs_pass(rbac_sandbox: Sandbox) -> None:
    core = _core(rbac_sandbox, "ccm-token")
    assert core.read_namespaced_service("web", "default").metadata.name == "web"
    names = {s.metadata.name for s in core.list_service_for_all_namespaces().items}
    assert names == {"kubernetes", "web"}
    stream = core.list_service_for_all_namespaces(
        watch=True, timeout_seconds=0, _preload_content=False
    )
    stream.read()
    stream.release_conn()
    core.patch_namespaced_service("web", "default", {"metadata": {"finalizers": ["x/y"]}})
    svc = core.patch_namespaced_service_status("web", "default", STATUS_PATCH)
    assert svc.status.load_balancer.ingress[0].ip == "192.0.2.10"
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Service", "name": "web"},
            "reason": "Ensured",
            "message": "ok",
            "type": "Normal",
        },
    )
    verbs = [
        (r.verb, r.resource, r.subresource, r.code)
        for r in rbac_sandbox.request_log()
        if r.username == CCM
    ]
    assert verbs == [
        ("get", "services", "", 200),
        ("list", "services", "", 200),
        ("watch", "services", "", 200),
        ("patch", "services", "", 200),
        ("patch", "services", "status", 200),
        ("create", "events", "", 201),
    ]
    assert rbac_sandbox.denials() == []


def test_wrong_verb_is_403_in_the_apiservers_words(rbac_sandbox: Sandbox) -> None:
    core = _core(rbac_sandbox, "ccm-token")
    body = _refused(core.delete_namespaced_service, "web", "default")
    assert body["code"] == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'services "web" is forbidden: {_message(CCM, "delete", "services", "default")}'
    )
    assert body["details"] == {"name": "web", "kind": "services"}
    body = _refused(core.delete_collection_namespaced_service, "default")
    assert body["message"] == (
        f"services is forbidden: {_message(CCM, 'deletecollection', 'services', 'default')}"
    )
    svc = core.read_namespaced_service("web", "default")
    body = _refused(core.replace_namespaced_service_status, "web", "default", svc)
    assert _message(CCM, "update", "services/status", "default") in body["message"]
    assert core.read_namespaced_service("web", "default").metadata.deletion_timestamp is None


def test_wrong_subresource_is_403(rbac_sandbox: Sandbox) -> None:
    core = _core(rbac_sandbox, "bob-token")
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})
    body = _refused(core.patch_namespaced_service_status, "web", "default", STATUS_PATCH)
    assert body["message"] == (
        f'services "web" is forbidden: {_message("bob", "patch", "services/status", "default")}'
    )
    admin = _core(rbac_sandbox, "sandbox")
    assert admin.read_namespaced_service("web", "default").status.load_balancer.ingress is None


def test_role_binding_grants_only_in_its_namespace(rbac_sandbox: Sandbox) -> None:
    admin = _core(rbac_sandbox, "sandbox")
    for ns in ("team-a", "default"):
        admin.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"k": "v"}})
    alice = _core(rbac_sandbox, "alice-token")
    assert alice.read_namespaced_config_map("cfg", "team-a").data == {"k": "v"}
    assert len(alice.list_namespaced_config_map("team-a").items) == 1
    body = _refused(alice.read_namespaced_config_map, "cfg", "default")
    assert body["message"] == (
        f'configmaps "cfg" is forbidden: {_message("alice", "get", "configmaps", "default")}'
    )
    body = _refused(alice.list_config_map_for_all_namespaces)
    assert body["message"] == (
        f"configmaps is forbidden: {_message('alice', 'list', 'configmaps', '')}"
    )
    # The leader-election Role lives in kube-system only.
    leases = client.CoordinationV1Api(_api(rbac_sandbox, "ccm-token"))
    body = _refused(leases.read_namespaced_lease, "ccm", "default")
    assert body["message"] == (
        'leases.coordination.k8s.io "ccm" is forbidden: '
        + _message(CCM, "get", "leases", "default", "coordination.k8s.io")
    )
    assert body["details"] == {"name": "ccm", "group": "coordination.k8s.io", "kind": "leases"}


def test_resource_names_limit_get_and_update(rbac_sandbox: Sandbox) -> None:
    leases = client.CoordinationV1Api(_api(rbac_sandbox, "ccm-token"))
    lease = {"metadata": {"name": "ccm"}, "spec": {"holderIdentity": "a"}}
    leases.create_namespaced_lease("kube-system", lease)  # create is not name-limited
    got = leases.read_namespaced_lease("ccm", "kube-system")
    got.spec.holder_identity = "b"
    leases.replace_namespaced_lease("ccm", "kube-system", got)
    leases.create_namespaced_lease("kube-system", {"metadata": {"name": "other"}, "spec": {}})
    body = _refused(leases.read_namespaced_lease, "other", "kube-system")
    assert body["message"] == (
        'leases.coordination.k8s.io "other" is forbidden: '
        + _message(CCM, "get", "leases", "kube-system", "coordination.k8s.io")
    )
    # A list is not a get, even of one name.
    body = _refused(leases.list_namespaced_lease, "kube-system")
    assert _message(CCM, "list", "leases", "kube-system", "coordination.k8s.io") in body["message"]


def test_list_with_a_name_field_selector_is_authorized_as_that_name() -> None:
    info = request_info(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        {"watch": "true", "fieldSelector": "metadata.name=ccm"},
    )
    assert (info.verb, info.name, info.namespace) == ("watch", "ccm", "kube-system")
    watch_path = request_info("GET", "/api/v1/watch/namespaces/default/services/web", {})
    assert (watch_path.verb, watch_path.resource, watch_path.name) == ("watch", "services", "web")
    namespace = request_info("PUT", "/api/v1/namespaces/team-a/status", {})
    assert (namespace.resource, namespace.subresource, namespace.namespace) == (
        "namespaces",
        "status",
        "team-a",
    )
    assert not request_info("GET", "/apis/discovery.k8s.io/v1", {}).resource_request


def test_no_or_unknown_token_is_401(rbac_sandbox: Sandbox) -> None:
    for token in (None, "nope"):
        body = _refused(_core(rbac_sandbox, token).list_namespaced_service, "default")
        assert (body["code"], body["reason"], body["message"]) == (
            401,
            "Unauthorized",
            "Unauthorized",
        )
        with pytest.raises(ApiException) as info:
            client.VersionApi(_api(rbac_sandbox, token)).get_code()
        assert info.value.status == 401
    assert [r.code for r in rbac_sandbox.request_log()[-4:]] == [401] * 4
    assert rbac_sandbox.denials() == []  # a 401 is not an RBAC denial


def test_admin_kubeconfig_is_unrestricted(rbac_sandbox: Sandbox, tmp_path: Path) -> None:
    path = rbac_sandbox.write_kubeconfig(tmp_path / "admin")
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(path)))
    core.create_node({"metadata": {"name": "n1"}})
    core.create_namespaced_config_map("kube-system", {"metadata": {"name": "anything"}})
    core.delete_namespaced_service("web", "default")
    assert {r.username for r in rbac_sandbox.request_log()} == {"system:admin"}


def test_restricted_kubeconfig_token(rbac_sandbox: Sandbox, tmp_path: Path) -> None:
    path = rbac_sandbox.write_kubeconfig(tmp_path / "ccm", "restricted", token="ccm-token")
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "ccm-token"
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(path)))
    assert core.read_namespaced_service("web", "default").metadata.name == "web"
    _refused(core.list_node)


def test_discovery_is_open_to_every_authenticated_user(rbac_sandbox: Sandbox) -> None:
    api = _api(rbac_sandbox, "alice-token")
    assert client.VersionApi(api).get_code().major == "1"
    assert "v1" in client.CoreApi(api).get_api_versions().versions
    names = [r.name for r in client.CoreV1Api(api).get_api_resources().resources]
    assert "services" in names
    assert client.ApisApi(api).get_api_versions().groups
    # Any other non-resource path needs a nonResourceURLs grant.
    request = urllib.request.Request(
        f"{rbac_sandbox.url}/metrics", headers={"Authorization": "Bearer alice-token"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 403
    body = json.load(info.value)
    assert body["message"] == 'forbidden: User "alice" cannot get path "/metrics"'


def test_group_subjects_wildcard_subresource_and_aggregation(rbac_sandbox: Sandbox) -> None:
    reader = _core(rbac_sandbox, "reader-token")
    assert reader.read_namespaced_service_status("web", "default").metadata.name == "web"
    assert reader.list_node().items == []
    _refused(reader.read_namespaced_service, "web", "default")  # `*/status` is not the object


def test_request_log_records_who_did_what(rbac_sandbox: Sandbox) -> None:
    rbac_sandbox.clear_request_log()
    core = _core(rbac_sandbox, "ccm-token", user_agent="replica-a")
    before = time.monotonic()
    core.patch_namespaced_service_status("web", "default", STATUS_PATCH)
    _refused(core.delete_namespaced_service, "web", "default")
    patch, denied = rbac_sandbox.request_log()
    assert (patch.method, patch.verb, patch.username, patch.user_agent, patch.code) == (
        "PATCH",
        "patch",
        CCM,
        "replica-a",
        200,
    )
    assert (patch.namespace, patch.resource, patch.subresource, patch.name) == (
        "default",
        "services",
        "status",
        "web",
    )
    assert before <= patch.start <= patch.end <= denied.start <= denied.end
    assert patch.start_wall <= patch.end_wall and not patch.overlaps(denied)
    assert (denied.verb, denied.code, denied.denied) == ("delete", 403, True)
    assert rbac_sandbox.denials() == [denied]

    with urllib.request.urlopen(f"{rbac_sandbox.url}/_sandbox/requests?since={denied.seq}") as r:
        served = json.load(r)
    assert [(e["seq"], e["verb"], e["code"]) for e in served] == [(denied.seq, "delete", 403)]
    with urllib.request.urlopen(f"{rbac_sandbox.url}/_sandbox/stats") as r:
        assert json.load(r)["denied"] == 1
    clear = urllib.request.Request(f"{rbac_sandbox.url}/_sandbox/requests", method="DELETE")
    with urllib.request.urlopen(clear) as r:
        assert json.load(r) == []
    # The admin routes themselves are never logged (nor subject to RBAC: no token above).
    assert rbac_sandbox.request_log() == [] and rbac_sandbox.denials() == []


def test_without_rbac_nothing_is_refused_and_callers_are_still_logged(tmp_path: Path) -> None:
    with Sandbox(tokens={"replica-b-token": "replica-b"}) as sb:
        anonymous = _core(sb, None, user_agent="ccm/replica-a")
        anonymous.create_namespaced_service(
            "default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
        )
        named = _core(sb, "replica-b-token")
        named.delete_namespaced_service("web", "default")
        _core(sb, "whatever").list_node()
        assert sb.kubeconfig()["users"][0]["user"]["token"] == "sandbox"
        log = sb.request_log()
        assert [(r.username, r.verb, r.code) for r in log] == [
            ("", "create", 201),
            ("replica-b", "delete", 200),
            ("", "list", 200),
        ]
        assert log[0].user_agent == "ccm/replica-a" and sb.denials() == []


def test_documents_from_a_rendered_stream_skip_other_kinds() -> None:
    stream = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: ccm, namespace: kube-system}}
---
apiVersion: {RBAC}
kind: ClusterRole
metadata: {{name: ccm}}
rules:
  - apiGroups: [""]
    resources: [services]
    verbs: [get, patch]
---
apiVersion: {RBAC}
kind: ClusterRoleBinding
metadata: {{name: ccm}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ccm}}
subjects: [{{kind: ServiceAccount, name: ccm, namespace: kube-system}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: ccm, namespace: kube-system}}
"""
    authz = Authorizer.from_documents(yaml.safe_load_all(stream), {"t": CCM})
    user = authz.authenticate("Bearer t")
    assert user is not None
    patch_status = request_info("PATCH", "/api/v1/namespaces/default/services/web/status", {})
    assert authz.allowed(user, request_info("PATCH", "/api/v1/namespaces/default/services/web", {}))
    assert not authz.allowed(user, patch_status)
    from ccm.sandbox.rbac import forbidden

    assert forbidden(user, patch_status).message == (
        'services "web" is forbidden: User "system:serviceaccount:kube-system:ccm" cannot '
        'patch resource "services/status" in API group "" in the namespace "default"'
    )


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (_cluster_role("x", {"resources": ["services"], "verbs": ["get"]}), "apiGroups"),
        (_cluster_role("x", {"apiGroups": [""], "resources": ["services"]}), "verbs"),
        (
            _binding(
                "ClusterRoleBinding",
                "x",
                "ClusterRole",
                "x",
                [{"kind": "ServiceAccount", "name": "ccm"}],
            ),
            "namespace",
        ),
        (_binding("ClusterRoleBinding", "x", "Role", "x", []), "roleRef.kind"),
    ],
)
def test_manifests_the_apiserver_would_reject_are_errors(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Authorizer(TOKENS, [doc])


def test_cli_sandbox_enforces_rbac_file(tmp_path: Path) -> None:
    policy = tmp_path / "rbac.yaml"
    policy.write_text(yaml.safe_dump_all(POLICY[:2]))
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccm.cli",
            "sandbox",
            "--port",
            "0",
            "--rbac",
            str(policy),
            "--token",
            f"ccm-token={CCM}",
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ", 1)[1].strip()
        kubeconfig_line = proc.stdout.readline()
        assert str(kubeconfig) in kubeconfig_line
        cfg = client.Configuration()
        cfg.host = url
        cfg.api_key = {"authorization": "Bearer ccm-token"}
        core = client.CoreV1Api(client.ApiClient(cfg))
        assert core.list_service_for_all_namespaces().items
        body = _refused(core.list_node)
        assert body["message"] == f"nodes is forbidden: {_message(CCM, 'list', 'nodes', '')}"
        admin = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
        assert admin.list_node().items == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)

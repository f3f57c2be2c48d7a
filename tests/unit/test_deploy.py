"""deploy/: every overlay renders with kustomize, every object is valid against the newest
Kubernetes OpenAPI schema kubernetes-validate ships (strict: unknown fields fail), and the
rendered manifests have what running the controller in a cluster needs. The Dockerfile and
.dockerignore are checked as text (there is no image build here)."""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ccm.cli import build_parser
from providers.pool.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ["eks", "gke", "aks", "baremetal"]
PROVIDER = {"eks": "aws", "gke": "gcp", "aks": "azure", "baremetal": "pool"}
IDENTITY_ANNOTATION = {
    "eks": ("eks.amazonaws.com/role-arn", re.compile(r"^arn:aws:iam::\d{12}:role/.+$")),
    "gke": (
        "iam.gke.io/gcp-service-account",
        re.compile(r"^[\w-]+@[\w-]+\.iam\.gserviceaccount\.com$"),
    ),
    "aks": ("azure.workload.identity/client-id", re.compile(r"^[0-9a-f-]{36}$")),
}
POD_LABELS = {"app.kubernetes.io/name": "ccm"}
METRICS_PORT = 10258
NAMESPACE = "kube-system"
RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

Obj = dict[str, Any]


# ------------------------------------------------------------------ rendering


@functools.cache
def _render(path: str) -> tuple[Obj, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the overlays")
    proc = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"kubectl kustomize deploy/{path}:\n{proc.stderr}"
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def render(path: str) -> list[Obj]:
    return list(_render(path))


def one(objs: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(objs: list[Obj]) -> Obj:
    pod = one(objs, "Deployment", "ccm")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["ccm"]
    c: Obj = pod["containers"][0]
    return c


def parse_run_args(objs: list[Obj]) -> argparse.Namespace:
    """The container's command line through ccm's own parser, as `ccm` would see it."""
    c = container(objs)
    assert c["command"] == ["ccm"]
    args = [str(a) for a in c["args"]]
    assert args[0] == "run"
    try:
        return build_parser().parse_args(args)
    except SystemExit as e:  # argparse prints the reason to stderr
        pytest.fail(f"`ccm {' '.join(args)}` does not parse with ccm.cli (exit {e.code})")


def env_of(objs: list[Obj]) -> dict[str, Obj]:
    return {e["name"]: e for e in container(objs).get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ------------------------------------------------------------------ schema


@pytest.mark.parametrize("path", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_every_object_is_valid_for_the_newest_kubernetes(path: str) -> None:
    version = kubernetes_validate.latest_version()
    objs = render(path)
    assert objs
    for obj in objs:
        where = f"deploy/{path}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            at = "/".join(map(str, e.path)) or "(top level)"
            pytest.fail(f"{where}: {e.message} at {at} (Kubernetes {version})")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{where}: {e.message}")


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The schema check above can fail: a misspelt field deep in the pod spec is caught."""
    deployment = json.loads(json.dumps(one(render("overlays/eks"), "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["perodSeconds"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_namespaced_is_in_kube_system(overlay: str) -> None:
    for obj in render(f"overlays/{overlay}"):
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


# ------------------------------------------------------------------ the Deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_runs_two_hardened_replicas(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    deployment = one(objs, "Deployment", "ccm")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    c = container(objs)

    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == POD_LABELS
    assert matches(POD_LABELS, spec["template"]["metadata"]["labels"])
    assert c["image"].startswith("ghcr.io/ccm-dev/ccm:") or "@sha256:" in c["image"]
    assert not c["image"].endswith(":latest")
    assert pod["serviceAccountName"] == "ccm"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["terminationGracePeriodSeconds"] == 30

    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    csc = c["securityContext"]
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["capabilities"]["drop"] == ["ALL"]
    assert not csc.get("privileged", False)
    assert "add" not in csc["capabilities"]

    resources = c["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]

    # The root filesystem is read-only: /tmp is an emptyDir.
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_are_spread_across_nodes(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    pod = one(objs, "Deployment")["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spread = [
        t
        for t in pod["spec"].get("topologySpreadConstraints", [])
        if t["topologyKey"] == "kubernetes.io/hostname"
        and t["whenUnsatisfiable"] == "DoNotSchedule"
        and matches(t["labelSelector"]["matchLabels"], labels)
    ]
    anti = [
        t
        for t in pod["spec"]
        .get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if t["topologyKey"] == "kubernetes.io/hostname"
        and matches(t["labelSelector"]["matchLabels"], labels)
    ]
    assert spread or anti, "no hard spreading of the replicas across nodes"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_metrics_port(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    c = container(objs)
    ports = [p for p in c["ports"] if p.get("name") == "metrics"]
    assert len(ports) == 1 and ports[0]["containerPort"] == METRICS_PORT

    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert live["httpGet"]["path"] == "/healthz"
    assert ready["httpGet"]["path"] == "/readyz"
    for probe in (live, ready):
        assert probe["httpGet"]["port"] in ("metrics", METRICS_PORT)
    # A slow cloud call must not get the controller restarted: at least 30 s of
    # consecutive liveness failures (Kubernetes defaults: period 10, threshold 3).
    assert live.get("periodSeconds", 10) * live.get("failureThreshold", 3) >= 30

    args = parse_run_args(objs)
    assert args.metrics_addr.rpartition(":")[2] == str(METRICS_PORT)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_lease_identity_comes_from_the_downward_api(overlay: str) -> None:
    env = env_of(render(f"overlays/{overlay}"))
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_args_parse_with_ccms_own_parser(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    args = parse_run_args(objs)
    assert args.command == "run"
    assert args.provider == PROVIDER[overlay]
    assert args.cluster_name and args.cluster_name != "set-by-overlay"
    assert args.leader_elect is True
    assert args.leader_elect_namespace == NAMESPACE
    assert args.leader_elect_lease_name == "ccm"
    assert args.metrics_addr == f"0.0.0.0:{METRICS_PORT}"
    assert args.log_format == "json"
    for item in args.provider_setting:
        key, sep, _ = item.partition("=")
        assert key and sep, item
    installed = {e.name for e in importlib.metadata.entry_points(group="ccm.providers")}
    assert args.provider in installed


def test_base_alone_names_no_provider() -> None:
    """The base is not deployable by itself: an overlay has to choose the provider."""
    args = parse_run_args(render("base"))
    installed = {e.name for e in importlib.metadata.entry_points(group="ccm.providers")}
    assert args.provider not in installed


# ------------------------------------------------------------------ PDB, Service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budget_keeps_one_replica(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    pdb = one(objs, "PodDisruptionBudget", "ccm")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_service_selects_the_controller_pods(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    svc = one(objs, "Service", "ccm-metrics")
    deployment = one(objs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = svc["spec"]["selector"]
    assert selector and matches(selector, pod_labels)
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == METRICS_PORT
    assert port["targetPort"] in ("metrics", METRICS_PORT)


# ------------------------------------------------------------------ RBAC

CONTROLLER_RULES = {
    ("", ("services",), ("get", "list", "patch", "watch")),
    ("", ("services/status",), ("patch",)),
    ("", ("nodes",), ("list", "watch")),
    ("", ("events",), ("create", "patch")),
}


def rule_keys(role: Obj) -> list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    keys = []
    for rule in role["rules"]:
        assert len(rule["apiGroups"]) == 1, rule  # one API group per rule
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
        keys.append(
            (
                rule["apiGroups"][0],
                tuple(sorted(rule["resources"])),
                tuple(sorted(rule["verbs"])),
                tuple(sorted(rule.get("resourceNames", []))),
            )
        )
    assert len(keys) == len(set(keys)), "duplicate rules"
    return keys


def test_cluster_role_is_exactly_what_the_controller_calls() -> None:
    role = one(render("base"), "ClusterRole", "ccm")
    keys = rule_keys(role)
    assert all(names == () for *_, names in keys)
    assert {k[:3] for k in keys} == CONTROLLER_RULES
    assert len(keys) == len(CONTROLLER_RULES)


def test_leader_election_role_is_limited_to_the_lease() -> None:
    role = one(render("base"), "Role", "ccm-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert sorted(rule_keys(role)) == sorted(
        [
            ("coordination.k8s.io", ("leases",), ("create",), ()),
            ("coordination.k8s.io", ("leases",), ("get", "update", "watch"), ("ccm",)),
        ]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_binding_grants_a_rendered_role_to_the_service_account(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    one(objs, "ServiceAccount", "ccm")
    roles = {(o["kind"], o["metadata"]["name"]) for o in objs if o["kind"] in RBAC_KINDS}
    bound = set()
    for b in (o for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        ref = b["roleRef"]
        assert (ref["kind"], ref["name"]) in roles, b["metadata"]["name"]
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "ccm", "namespace": NAMESPACE}]
        bound.add((ref["kind"], ref["name"]))
    assert bound == {r for r in roles if r[0] in ("ClusterRole", "Role")}


def test_base_rbac_lives_in_rbac_yaml_alone() -> None:
    """Other tests load deploy/base/rbac.yaml by itself to drive an RBAC-enforcing API;
    it has to hold every RBAC object of the base, with namespaces written out."""
    raw = [d for d in yaml.safe_load_all((DEPLOY / "base/rbac.yaml").read_text()) if d]
    assert all(d["kind"] in RBAC_KINDS for d in raw)
    rendered = [o for o in render("base") if o["kind"] in RBAC_KINDS]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in raw) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in rendered
    )
    for d in raw:
        if d["kind"] in ("Role", "RoleBinding"):
            assert d["metadata"]["namespace"] == NAMESPACE
        for s in d.get("subjects", []):
            assert s["namespace"] == NAMESPACE
    for other in (DEPLOY / "base").glob("*.yaml"):
        if other.name not in ("rbac.yaml", "kustomization.yaml"):
            kinds = {d["kind"] for d in yaml.safe_load_all(other.read_text()) if d}
            assert not kinds & RBAC_KINDS, other.name


def test_only_baremetal_may_read_configmaps() -> None:
    for overlay in OVERLAYS:
        objs = render(f"overlays/{overlay}")
        cm_rules = [
            r
            for o in objs
            if o["kind"] in ("Role", "ClusterRole")
            for r in o["rules"]
            if "configmaps" in r["resources"]
        ]
        if overlay != "baremetal":
            assert cm_rules == [], overlay
            assert parse_run_args(objs).provider_configmap is None


# ------------------------------------------------------------------ per overlay


@pytest.mark.parametrize("overlay", ["eks", "gke", "aks"])
def test_cloud_identity_annotation(overlay: str) -> None:
    sa = one(render(f"overlays/{overlay}"), "ServiceAccount", "ccm")
    key, shape = IDENTITY_ANNOTATION[overlay]
    value = sa["metadata"].get("annotations", {}).get(key)
    assert value and shape.match(value), f"{key}: {value!r}"
    others = {k for k, _ in IDENTITY_ANNOTATION.values()} - {key}
    assert not others & set(sa["metadata"].get("annotations", {}))


def test_eks_sets_the_region() -> None:
    env = env_of(render("overlays/eks"))
    assert re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", env["AWS_REGION"]["value"])


def test_gke_sets_project_and_region() -> None:
    args = parse_run_args(render("overlays/gke"))
    assert args.gcp_project and args.gcp_region


def test_aks_uses_workload_identity_and_the_drivers_settings() -> None:
    objs = render("overlays/aks")
    labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    # The three settings providers/azure/factory.py requires, the documented way.
    env = env_of(objs)
    for name in ("CCM_AZURE_SUBSCRIPTION_ID", "CCM_AZURE_RESOURCE_GROUP", "CCM_AZURE_LOCATION"):
        assert env[name]["value"], name
    assert "CCM_AZURE_TOKEN" not in env  # real credentials only: DefaultAzureCredential
    settings = dict(s.partition("=")[::2] for s in parse_run_args(objs).provider_setting)
    assert set(settings) <= {"vnet", "subnet", "vnet_resource_group", "security_group"}


def test_baremetal_reads_its_pools_from_the_configmap() -> None:
    objs = render("overlays/baremetal")
    args = parse_run_args(objs)
    ns, _, name = args.provider_configmap.partition("/")
    assert (ns, name) == (NAMESPACE, "ccm-config")
    cm = one(objs, "ConfigMap", name)
    assert cm["metadata"]["namespace"] == ns
    assert "pools.yaml" in cm["data"]
    pools = load_config(cm["data"])  # the pool driver's own loader accepts it
    assert pools

    role = one(objs, "Role", "ccm-provider-config")
    assert rule_keys(role) == [("", ("configmaps",), ("get",), (name,))]
    binding = one(objs, "RoleBinding", "ccm-provider-config")
    assert binding["roleRef"]["name"] == "ccm-provider-config"


# ------------------------------------------------------------------ image


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_is_pinned() -> None:
    steps = dockerfile_instructions()
    froms = [rest.split() for word, rest in steps if word == "FROM"]
    assert froms
    stages = {f[2] for f in froms if len(f) == 3 and f[1].upper() == "AS"}
    for f in froms:
        image = f[0]
        if image in stages:
            continue
        assert "$" not in image, f"{image}: an ARG-chosen base is not pinned"
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and re.fullmatch(r"\d+\.\d+\.\d+[\w.-]*", tag), f"{image}: pin a full version"
        assert image.startswith("python:3.11.11-slim-bookworm")
    assert "digest" in (ROOT / "Dockerfile").read_text()


def test_dockerfile_runs_ccm_as_non_root() -> None:
    steps = dockerfile_instructions()
    last_from = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    users = [rest for w, rest in steps[last_from:] if w == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].partition(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]
    deployment = one(render("base"), "Deployment")
    assert int(uid) == deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]

    (entrypoint,) = [rest for w, rest in steps if w == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["ccm"]
    for cmd in (rest for w, rest in steps if w == "CMD"):
        assert isinstance(json.loads(cmd), list)  # exec form: no shell


def test_dockerfile_installs_from_the_lock_without_extras() -> None:
    runs = [rest for w, rest in dockerfile_instructions() if w == "RUN"]
    installs = [r for r in runs if "uv sync" in r or "uv pip install" in r]
    assert installs
    for r in installs:
        if "uv sync" in r:
            assert "--locked" in r and "--no-editable" in r
        assert "--extra" not in r and "--all-extras" not in r
    copies = " ".join(rest for w, rest in dockerfile_instructions() if w == "COPY")
    assert "uv.lock" in copies
    assert "tests" not in copies and "bench" not in copies


def test_dockerignore_keeps_the_context_small() -> None:
    lines = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", "tests", "bench", ".venv"} <= lines
    assert {".mypy_cache", ".ruff_cache", ".pytest_cache"} <= lines
    assert any("__pycache__" in line for line in lines)
    # What the build copies must stay in the context.
    assert not lines & {"pyproject.toml", "uv.lock", "README.md", "ccm", "providers", "*"}

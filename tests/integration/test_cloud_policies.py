"""The policies in deploy/policies/ and the mapping from recorded cloud calls to the
permissions they need (tests/integration/cloud_calls.py). Fast: no cloud, one local
proxy. The end-to-end suites' worlds do the real checking at their teardown."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.integration import cloud_calls as cc

P = "/compute/v1/projects/p"
R = f"{P}/regions/us-central1"
Z = f"{P}/zones/us-central1-a"
S = "/subscriptions/00000000-0000-0000-0000-000000000000"
RG = f"{S}/resourceGroups/rg/providers/Microsoft.Network"


# --- mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "permission"),
    [
        ("elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateLoadBalancer"),
        ("elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTags"),
        ("ec2:DescribeInstances", "ec2:DescribeInstances"),
        ("tagging:GetResources", "tag:GetResources"),  # the wire's scope, IAM's prefix
        ("acm:DescribeCertificate", "acm:DescribeCertificate"),
        ("http:POST /moto-api/reset", None),  # moto's own API: no cloud call
    ],
)
def test_aws_calls_map_to_iam_actions(label: str, permission: str | None) -> None:
    assert cc.aws_permission(label) == permission


@pytest.mark.parametrize(
    "label",
    ["http:GET /", "s3:GET /bucket/key", "ec2:", "nonsense", "ec2:describe-instances"],
)
def test_aws_calls_without_an_action_are_refused(label: str) -> None:
    with pytest.raises(cc.Unmapped):
        cc.aws_permission(label)


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (f"POST {R}/forwardingRules", "compute.forwardingRules.create"),
        (f"GET {R}/forwardingRules/fr", "compute.forwardingRules.get"),
        (f"GET {R}/forwardingRules", "compute.forwardingRules.list"),
        (f"DELETE {R}/forwardingRules/fr", "compute.forwardingRules.delete"),
        (f"PATCH {R}/forwardingRules/fr", "compute.forwardingRules.update"),
        (f"POST {R}/forwardingRules/fr/setLabels", "compute.forwardingRules.setLabels"),
        (f"POST {R}/forwardingRules/fr/setTarget", "compute.forwardingRules.setTarget"),
        (f"GET {P}/global/forwardingRules/fr", "compute.globalForwardingRules.get"),
        (f"POST {R}/backendServices", "compute.regionBackendServices.create"),
        (f"PATCH {R}/backendServices/bs", "compute.regionBackendServices.update"),
        (f"POST {R}/backendServices/bs/getHealth", "compute.regionBackendServices.get"),
        (f"GET {P}/global/backendServices/bs", "compute.backendServices.get"),
        (f"POST {R}/healthChecks", "compute.regionHealthChecks.create"),
        (f"PUT {P}/global/healthChecks/hc", "compute.healthChecks.update"),
        (f"POST {R}/addresses", "compute.addresses.create"),
        (f"GET {P}/global/addresses/a", "compute.globalAddresses.get"),
        (f"POST {P}/global/firewalls", "compute.firewalls.create"),
        (f"PATCH {P}/global/firewalls/fw", "compute.firewalls.update"),
        (f"POST {Z}/instanceGroups", "compute.instanceGroups.create"),
        (f"POST {Z}/instanceGroups/g/addInstances", "compute.instanceGroups.update"),
        (f"POST {Z}/instanceGroups/g/removeInstances", "compute.instanceGroups.update"),
        (f"POST {Z}/instanceGroups/g/listInstances", "compute.instanceGroups.list"),
        (f"GET {Z}/instances/node-0", "compute.instances.get"),
        (f"POST {R}/targetPools/tp/addInstance", "compute.targetPools.addInstance"),
        (f"POST {R}/targetPools/tp/removeInstance", "compute.targetPools.removeInstance"),
        (f"GET {R}/operations/op-1", "compute.regionOperations.get"),
        (f"POST {R}/operations/op-1/wait", "compute.regionOperations.get"),
        (f"POST {P}/global/operations/op-1/wait", "compute.globalOperations.get"),
        (f"GET {Z}/operations/op-1", "compute.zoneOperations.get"),
        (f"GET {R}/operations", "compute.regionOperations.list"),
        (f"GET {P}/aggregated/forwardingRules", "compute.forwardingRules.list"),
        (f"GET {R}", "compute.regions.get"),
        (f"GET {P}/regions", "compute.regions.list"),
        (f"GET {Z}", "compute.zones.get"),
        (f"GET {P}", "compute.projects.get"),
    ],
)
def test_gcp_rest_calls_map_to_compute_permissions(call: str, permission: str) -> None:
    assert cc.gcp_permission(f"http:{call}") == permission


@pytest.mark.parametrize(
    "call",
    [
        "GET /computeMetadata/v1/instance",
        f"PUT {R}/forwardingRules",
        f"POST {R}/operations/op-1/cancel",
        f"GET {P}/elsewhere/x",
        f"DELETE {R}",
    ],
)
def test_gcp_calls_outside_compute_v1_are_refused(call: str) -> None:
    with pytest.raises(cc.Unmapped):
        cc.gcp_permission(f"http:{call}")


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (f"GET {RG}/loadBalancers/lb", "Microsoft.Network/loadBalancers/read"),
        (f"PUT {RG}/loadBalancers/lb", "Microsoft.Network/loadBalancers/write"),
        (f"DELETE {RG}/loadBalancers/lb", "Microsoft.Network/loadBalancers/delete"),
        (f"GET {RG}/loadBalancers", "Microsoft.Network/loadBalancers/read"),
        (
            f"GET {S}/providers/Microsoft.Network/publicIPAddresses",
            "Microsoft.Network/publicIPAddresses/read",
        ),
        (f"PATCH {RG}/publicIPAddresses/ip", "Microsoft.Network/publicIPAddresses/write"),
        (
            f"PUT {RG}/networkSecurityGroups/nsg/securityRules/r",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
        ),
        (
            f"GET {RG}/networkSecurityGroups/nsg/securityRules",
            "Microsoft.Network/networkSecurityGroups/securityRules/read",
        ),
        (
            f"GET {RG}/loadBalancers/lb/backendAddressPools/pool",
            "Microsoft.Network/loadBalancers/backendAddressPools/read",
        ),
        (
            f"POST {RG}/networkInterfaces/nic/effectiveNetworkSecurityGroups",
            "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
        ),
        (
            f"GET {S}/providers/Microsoft.Network/locations/eastus/operations/abc",
            "Microsoft.Network/locations/operations/read",
        ),
        (
            f"GET {S}/providers/Microsoft.Network/locations/eastus/operationResults/abc",
            "Microsoft.Network/locations/operationResults/read",
        ),
        (f"GET {S}/resourceGroups/rg", "Microsoft.Resources/subscriptions/resourceGroups/read"),
        (f"GET {S}/resourcegroups/rg", "Microsoft.Resources/subscriptions/resourceGroups/read"),
        (f"GET {S}", "Microsoft.Resources/subscriptions/read"),
    ],
)  # fmt: skip
def test_azure_arm_calls_map_to_actions(call: str, permission: str) -> None:
    assert cc.azure_permission(call) == permission


@pytest.mark.parametrize(
    "call",
    [
        "GET /metadata/identity/oauth2/token",
        f"POST {RG}/loadBalancers/lb",  # a POST that names no action
        f"GET {S}/resourceGroups/rg/somewhere",
        f"OPTIONS {RG}/loadBalancers/lb",
    ],
)
def test_azure_calls_outside_arm_are_refused(call: str) -> None:
    with pytest.raises(cc.Unmapped):
        cc.azure_permission(call)


def test_a_call_also_needs_what_its_request_refers_to() -> None:
    assert cc.permissions_of("aws", "elasticloadbalancing:CreateLoadBalancer") == (
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:AddTags",
    )
    assert cc.permissions_of("aws", "elasticloadbalancing:DescribeLoadBalancers") == (
        "elasticloadbalancing:DescribeLoadBalancers",
    )
    gcp = cc.permissions_of("gcp", f"http:POST {Z}/instanceGroups/g/addInstances")
    assert gcp == ("compute.instanceGroups.update", "compute.instances.use")
    azure = cc.permissions_of("azure", f"PUT {RG}/loadBalancers/lb")
    assert azure[0] == "Microsoft.Network/loadBalancers/write"
    assert "Microsoft.Network/publicIPAddresses/join/action" in azure
    assert cc.permissions_of("aws", "http:GET /moto-api/data.json") == ()


# --- policies and checks --------------------------------------------------------------


def _policy(cloud: str, granted: list[str], **kw: Any) -> cc.Policy:
    return cc.Policy(cloud, Path(f"/policies/{cloud}"), tuple(granted), **kw)


def test_wildcards_deny_and_case_follow_each_clouds_rules() -> None:
    aws = _policy(
        "aws", ["elasticloadbalancing:Describe*", "ec2:Describe?ubnets"], case_insensitive=True
    )
    assert aws.allows("elasticloadbalancing:DescribeTags")
    assert aws.allows("ELASTICLOADBALANCING:describetags")
    assert aws.allows("ec2:DescribeSubnets")
    assert not aws.allows("elasticloadbalancing:DeleteLoadBalancer")
    assert not aws.allows("ec2:DescribeInstances")
    denied = _policy("azure", ["Microsoft.Network/*"], denied=("*/delete",), case_insensitive=True)
    assert denied.allows("microsoft.network/loadBalancers/write")
    assert not denied.allows("Microsoft.Network/loadBalancers/delete")
    gcp = _policy("gcp", ["compute.addresses.get"])
    assert gcp.allows("compute.addresses.get") and not gcp.allows("compute.Addresses.get")
    assert aws.grants_of(["ec2:DescribeSubnets"]) == {"ec2:Describe?ubnets"}


def test_a_missing_permission_is_named_with_a_call_that_needs_it() -> None:
    pol = _policy("gcp", ["compute.forwardingRules.get"])
    calls = [
        f"http:GET {R}/forwardingRules/a",
        f"http:DELETE {R}/forwardingRules/a",
        f"http:DELETE {R}/forwardingRules/b",
        f"http:GET {P}/nowhere",
    ]
    found = cc.check("gcp", calls, pol)
    assert found == [
        f"http:GET {P}/nowhere: no permission known for this call "
        f"(gcp: 'http:GET {P}/nowhere': unknown scope)",
        "compute.forwardingRules.delete is not in /policies/gcp; needed by "
        f"http:DELETE {R}/forwardingRules/a (and 1 more calls)",
    ]
    assert cc.check("gcp", calls[:1], pol) == []


def test_coverage_fails_on_a_permission_nothing_needed_and_nothing_explains() -> None:
    usage = cc.Usage()
    usage.record("aws", ["ec2:DescribeSubnets", "tagging:GetResources"], "t1")
    policies = {
        "aws": _policy(
            "aws",
            ["ec2:Describe*", "tag:GetResources", "ec2:DeleteVpc", "iam:CreateServiceLinkedRole"],
            held={"iam:CreateServiceLinkedRole": "first ELB", "ec2:Gone": "stale"},
            case_insensitive=True,
        ),
        "gcp": _policy("gcp", []),
        "azure": _policy("azure", ["Microsoft.Network/loadBalancers/read"]),
    }
    found = cc.coverage_problems(usage, policies)
    assert [line.split(" is in ")[0] for line in found] == [
        "aws: ec2:DeleteVpc",
        "aws: a reason is documented for ec2:Gone, which is not granted",
        "azure: Microsoft.Network/loadBalancers/read",
    ]
    usage.record("azure", [f"GET {RG}/loadBalancers/lb"], "t2")
    usage.record("aws", ["ec2:DeleteVpc"], "t2")
    assert cc.coverage_problems(usage, policies) == [
        "aws: a reason is documented for ec2:Gone, which is not granted"
    ]


def test_coverage_is_judged_only_when_every_cloud_test_ran(tmp_path: Path) -> None:
    usage = cc.Usage()
    files = {str(p) for p in (cc.ROOT / "tests" / "integration").glob("test_*.py")}
    usage.collected_files = set(files)
    usage.cloud_tests = {"a", "b"}
    for cloud in cc.CLOUDS:
        usage.calls[cloud]["x"] += 1
    usage.worlds = {"a"}
    assert usage.complete() == (False, "1 cloud tests did not run to teardown")
    usage.worlds.add("b")
    assert usage.complete() == (True, "")
    usage.deselected = 3
    assert usage.complete()[0] is False
    usage.deselected = 0
    usage.collected_files.discard(next(iter(files)))
    assert usage.complete() == (False, "1 integration test files not collected")


def test_session_end_fails_a_full_run_and_writes_the_summary(tmp_path: Path) -> None:
    lines: list[str] = []
    seps: list[tuple[str, bool]] = []
    reporter = SimpleNamespace(
        write_line=lines.append, write_sep=lambda sep, title, red: seps.append((title, red))
    )
    cache = SimpleNamespace(mkdir=lambda name: tmp_path / name)
    (tmp_path / "ccm-cloud-calls").mkdir()
    session = SimpleNamespace(config=SimpleNamespace(cache=cache), exitstatus=0)
    usage = cc.Usage()
    usage.collected_files = {str(p) for p in (cc.ROOT / "tests" / "integration").glob("test_*.py")}
    usage.record("aws", ["ec2:DescribeSubnets"], "t")
    usage.record("gcp", [f"http:GET {R}"], "t")
    usage.record("azure", [f"GET {RG}/loadBalancers/lb"], "t")
    usage.cloud_tests = {"t"}
    cc.on_session_finish(session, usage)  # the shipped policies: most of it unused here
    cc.on_terminal_summary(reporter, usage)
    assert session.exitstatus == 1
    assert seps == [("cloud policies hold permissions nothing needs", True)]
    assert any("elasticloadbalancing:CreateLoadBalancer is in" in line for line in lines)
    written = json.loads((tmp_path / "ccm-cloud-calls" / "summary.json").read_text())
    assert written["aws"]["used"]["ec2:DescribeSubnets"]["calls"] == 1
    assert written["gcp"]["used"]["compute.regions.get"]["tests"] == 1
    session.exitstatus, lines[:] = 0, []
    usage.cloud_tests.add("never-ran")
    cc.on_session_finish(session, usage)
    cc.on_terminal_summary(reporter, usage)
    assert session.exitstatus == 0
    assert lines and "coverage not checked (1 cloud tests did not run" in lines[0]


def test_xdist_workers_hand_their_calls_to_the_controller(tmp_path: Path) -> None:
    """Each worker runs part of the suite; only the controller judges coverage."""
    files = {str(p) for p in (cc.ROOT / "tests" / "integration").glob("test_*.py")}
    outputs = []
    for test, label in (("t1", "ec2:DescribeSubnets"), ("t2", "ec2:DescribeVpcs")):
        worker = cc.Usage(collected_files=set(files), cloud_tests={"t1", "t2"})
        worker.record("aws", [label, label], test)
        config = SimpleNamespace(workeroutput={}, cache=None)
        cc.on_session_finish(SimpleNamespace(config=config, exitstatus=0), worker)
        assert not worker.report  # a worker judges nothing
        outputs.append(config.workeroutput)
    controller = cc.Usage()
    for out in outputs:
        cc.on_worker_done(SimpleNamespace(workeroutput=out), controller)
    assert controller.calls["aws"] == {"ec2:DescribeSubnets": 2, "ec2:DescribeVpcs": 2}
    assert controller.worlds == {"t1", "t2"} == controller.cloud_tests
    assert controller.collected_files == files
    assert controller.tests["aws"]["ec2:DescribeVpcs"] == {"t2"}
    assert controller.complete() == (False, "no calls recorded for gcp, azure")


def test_the_recording_proxy_keeps_what_tests_clear() -> None:
    with cc.RecordingProxy("http://127.0.0.1:9") as proxy:  # nothing listens: a 502
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(proxy.url + "/compute/v1/projects/p/regions/r", timeout=5)
        assert e.value.code == 502
        proxy.calls.clear()
        assert proxy.journal == ["http:GET /compute/v1/projects/p/regions/r"]


# --- the shipped files ----------------------------------------------------------------


def test_aws_policy_is_an_explicit_iam_policy() -> None:
    doc = json.loads(cc.POLICY_FILES["aws"].read_text())
    assert set(doc) == {"Version", "Statement"}
    assert doc["Version"] == "2012-10-17"
    sids = [st["Sid"] for st in doc["Statement"]]
    assert len(sids) == len(set(sids)), "Sids name statements: each once"
    known_conditions = {
        "ec2:CreateAction",
        "iam:AWSServiceName",
        "aws:ResourceTag/ccm.dev/managed-by",
    }
    for st in doc["Statement"]:
        assert set(st) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, st["Sid"]
        assert st["Effect"] == "Allow" and st["Resource"], st["Sid"]
        assert isinstance(st["Action"], list) and len(st["Action"]) == len(set(st["Action"]))
        for action in st["Action"]:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z0-9]+", action), action  # no "*"
        for operator in st.get("Condition", {}).values():
            assert set(operator) <= known_conditions, st["Sid"]
    assert "*" not in json.dumps([st["Action"] for st in doc["Statement"]])


def test_gcp_role_is_a_gcloud_role_file_at_ga() -> None:
    doc = yaml.safe_load(cc.POLICY_FILES["gcp"].read_text())
    assert set(doc) == {"title", "description", "stage", "includedPermissions"}
    assert doc["stage"] == "GA"
    assert doc["title"] and doc["description"]
    perms = doc["includedPermissions"]
    assert len(perms) == len(set(perms))
    for p in perms:
        assert re.fullmatch(r"compute\.[a-z][A-Za-z]+\.[a-z][A-Za-z]+", p), p


def test_azure_role_is_a_custom_role_definition_with_a_documented_placeholder() -> None:
    doc = json.loads(cc.POLICY_FILES["azure"].read_text())
    required = {"Name", "IsCustom", "Description", "Actions", "NotActions", "AssignableScopes"}
    assert required <= set(doc)
    assert doc["IsCustom"] is True and doc["Name"] and doc["Description"]
    assert doc["NotActions"] == [] and not doc.get("DataActions")
    actions = doc["Actions"]
    assert len(actions) == len(set(actions))
    for a in actions:
        assert re.fullmatch(r"Microsoft\.Network(/[A-Za-z]+)+/(read|write|delete|action)", a), a
    readme = cc.README.read_text()
    for scope in doc["AssignableScopes"]:
        assert re.fullmatch(r"/subscriptions/0{8}-0{4}-0{4}-0{4}-0{12}", scope), scope
        assert scope in readme, "the placeholder scope is explained in README.md"


@pytest.mark.parametrize("cloud", cc.CLOUDS)
def test_readme_tables_list_exactly_the_policys_permissions(cloud: str) -> None:
    pol = cc.policy(cloud)
    assert cc.readme_permissions(cloud) == set(pol.granted)
    for name, why in pol.held.items():
        assert pol.allows(name) and len(why) > 20, name


@pytest.mark.parametrize("cloud", cc.CLOUDS)
def test_what_calls_imply_is_granted(cloud: str) -> None:
    pol = cc.policy(cloud)
    for own, implied in cc.IMPLIED[cloud].items():
        assert pol.allows(own), own
        for p in implied:
            assert pol.allows(p), f"{own} implies {p}"

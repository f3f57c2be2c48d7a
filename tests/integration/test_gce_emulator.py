"""The GCE emulator, seen only through the real compute_v1 clients (and a FaultProxy).

What matters is that the driver, talking to this emulator with the official library,
meets what it would meet on Compute Engine: asynchronous operations whose change lands
at DONE, errors that api_core raises as the right class with GCP's `reason`, list
filters and pages, fingerprints, quotas and the dependency checks on delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from ccm.faultproxy import FaultProxy
from providers.gcp.emulator import (
    Emulator,
    SeededGcp,
    node_objects,
    seed_cluster,
    start_emulator,
    static_address,
)
from providers.gcp.emulator.seed import client

P = "ccm-test"
R = "us-central1"
ZA, ZB = "us-central1-a", "us-central1-b"
API = f"https://www.googleapis.com/compute/v1/projects/{P}"
DONE = compute_v1.Operation.Status.DONE
T = TypeVar("T")


@dataclass
class Clients:
    url: str
    rules: compute_v1.ForwardingRulesClient
    services: compute_v1.RegionBackendServicesClient
    checks: compute_v1.RegionHealthChecksClient
    global_checks: compute_v1.HealthChecksClient
    addresses: compute_v1.AddressesClient
    firewalls: compute_v1.FirewallsClient
    groups: compute_v1.InstanceGroupsClient
    instances: compute_v1.InstancesClient
    networks: compute_v1.NetworksClient
    subnetworks: compute_v1.SubnetworksClient
    regions: compute_v1.RegionsClient
    zones: compute_v1.ZonesClient
    region_ops: compute_v1.RegionOperationsClient
    global_ops: compute_v1.GlobalOperationsClient
    zone_ops: compute_v1.ZoneOperationsClient

    def wait(self, op: compute_v1.Operation) -> compute_v1.Operation:
        """The operation, waited for; the caller checks its `error`."""
        if op.zone:
            return self.zone_ops.wait(project=P, zone=op.zone.rsplit("/", 1)[-1], operation=op.name)
        if op.region:
            return self.region_ops.wait(
                project=P, region=op.region.rsplit("/", 1)[-1], operation=op.name
            )
        return self.global_ops.wait(project=P, operation=op.name)

    def done(self, op: compute_v1.Operation) -> compute_v1.Operation:
        finished = self.wait(op)
        assert finished.status == DONE
        assert not finished.error.errors, finished.error
        return finished


def make_clients(url: str) -> Clients:
    def build(cls: Callable[..., T]) -> T:
        return client(cls, url)

    return Clients(
        url,
        build(compute_v1.ForwardingRulesClient),
        build(compute_v1.RegionBackendServicesClient),
        build(compute_v1.RegionHealthChecksClient),
        build(compute_v1.HealthChecksClient),
        build(compute_v1.AddressesClient),
        build(compute_v1.FirewallsClient),
        build(compute_v1.InstanceGroupsClient),
        build(compute_v1.InstancesClient),
        build(compute_v1.NetworksClient),
        build(compute_v1.SubnetworksClient),
        build(compute_v1.RegionsClient),
        build(compute_v1.ZonesClient),
        build(compute_v1.RegionOperationsClient),
        build(compute_v1.GlobalOperationsClient),
        build(compute_v1.ZoneOperationsClient),
    )


@pytest.fixture
def em() -> Iterator[Emulator]:
    with start_emulator(project=P) as emulator:
        yield emulator


@pytest.fixture
def c(em: Emulator) -> Clients:
    return make_clients(em.url)


@pytest.fixture
def seeded(em: Emulator) -> SeededGcp:
    return seed_cluster(em.url, P)


def reason(err: pytest.ExceptionInfo[gexc.GoogleAPICallError]) -> str:
    return str(err.value.errors[0]["reason"])


def health_check(c: Clients, name: str = "hc", port: int = 10256) -> str:
    check = compute_v1.HealthCheck(
        name=name,
        type_="HTTP",
        http_health_check=compute_v1.HTTPHealthCheck(port=port, request_path="/healthz"),
    )
    c.done(c.checks.insert_unary(project=P, region=R, health_check_resource=check))
    return f"{API}/regions/{R}/healthChecks/{name}"


def instance_group(c: Clients, seeded: SeededGcp, name: str = "ig", zone: str = ZA) -> str:
    c.done(
        c.groups.insert_unary(
            project=P,
            zone=zone,
            instance_group_resource=compute_v1.InstanceGroup(name=name, network=seeded.network),
        )
    )
    return f"{API}/zones/{zone}/instanceGroups/{name}"


def add_members(c: Clients, group: str, zone: str, *names: str) -> compute_v1.Operation:
    refs = [compute_v1.InstanceReference(instance=f"zones/{zone}/instances/{n}") for n in names]
    return c.groups.add_instances_unary(
        project=P,
        zone=zone,
        instance_group=group,
        instance_groups_add_instances_request_resource=compute_v1.InstanceGroupsAddInstancesRequest(
            instances=refs
        ),
    )


def backend_service(
    c: Clients, name: str, check: str, groups: list[str], scheme: str = "EXTERNAL"
) -> str:
    service = compute_v1.BackendService(
        name=name,
        load_balancing_scheme=scheme,
        protocol="TCP",
        health_checks=[check],
        backends=[compute_v1.Backend(group=g, balancing_mode="CONNECTION") for g in groups],
    )
    c.done(c.services.insert_unary(project=P, region=R, backend_service_resource=service))
    return f"{API}/regions/{R}/backendServices/{name}"


def rule(c: Clients, name: str, **fields: Any) -> compute_v1.ForwardingRule:
    resource = compute_v1.ForwardingRule(name=name, **fields)
    c.done(c.rules.insert_unary(project=P, region=R, forwarding_rule_resource=resource))
    return c.rules.get(project=P, region=R, forwarding_rule=name)


def address(c: Clients, name: str, **fields: Any) -> compute_v1.Address:
    resource = compute_v1.Address(name=name, **fields)
    c.done(c.addresses.insert_unary(project=P, region=R, address_resource=resource))
    return c.addresses.get(project=P, region=R, address=name)


@pytest.fixture
def lb(c: Clients, seeded: SeededGcp) -> str:
    """An external backend service over a group of two nodes, checked by one health check."""
    group = instance_group(c, seeded)
    c.done(add_members(c, "ig", ZA, "test-node-0", "test-node-2"))
    return backend_service(c, "bs", health_check(c), [group])


# ---------------------------------------------------------------------- basics, operations


def test_clients_reach_the_emulator_over_plain_http(c: Clients) -> None:
    region = c.regions.get(project=P, region=R)
    assert region.status == "UP"
    assert [z.rsplit("/", 1)[-1] for z in region.zones] == [
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
        "us-central1-f",
    ]
    assert R in [r.name for r in c.regions.list(project=P)]
    zone = c.zones.get(project=P, zone=ZB)
    assert zone.region == f"{API}/regions/{R}"
    in_region = c.zones.list(request={"project": P, "filter": f'region eq ".*/{R}"'})
    assert len(list(in_region)) == 4
    with pytest.raises(gexc.NotFound) as err:
        c.regions.get(project=P, region="mars-north1")
    assert reason(err) == "notFound"


def test_operation_goes_pending_running_done_and_the_change_lands_at_done(c: Clients) -> None:
    check = compute_v1.HealthCheck(name="hc", type_="TCP")
    op = c.checks.insert_unary(project=P, region=R, health_check_resource=check)
    assert op.status == compute_v1.Operation.Status.PENDING
    assert op.operation_type == "insert"
    assert op.target_link == f"{API}/regions/{R}/healthChecks/hc"
    assert op.region == f"{API}/regions/{R}"
    assert op.self_link == f"{API}/regions/{R}/operations/{op.name}"
    assert op.target_id and op.insert_time and op.user
    with pytest.raises(gexc.NotFound):
        c.checks.get(project=P, region=R, health_check="hc")
    with pytest.raises(gexc.Conflict) as err:  # the pending insert holds the name
        c.checks.insert_unary(project=P, region=R, health_check_resource=check)
    assert reason(err) == "alreadyExists"
    running = c.region_ops.get(project=P, region=R, operation=op.name)
    assert running.status == compute_v1.Operation.Status.RUNNING
    assert 0 < running.progress < 100 and running.start_time
    with pytest.raises(gexc.NotFound):
        c.checks.get(project=P, region=R, health_check="hc")
    done = c.region_ops.get(project=P, region=R, operation=op.name)
    assert (done.status, done.progress) == (DONE, 100) and done.end_time
    made = c.checks.get(project=P, region=R, health_check="hc")
    assert made.id == op.target_id
    assert made.tcp_health_check.port == 80  # GCP's defaults, filled in
    assert (made.check_interval_sec, made.timeout_sec, made.healthy_threshold) == (5, 5, 2)
    assert made.creation_timestamp and made.kind == "compute#healthCheck"
    with pytest.raises(gexc.Conflict) as err:
        c.checks.insert_unary(project=P, region=R, health_check_resource=check)
    assert err.value.errors[0]["message"] == (
        f"The resource 'projects/{P}/regions/{R}/healthChecks/hc' already exists"
    )
    names = [o.name for o in c.region_ops.list(project=P, region=R)]
    assert op.name in names
    c.region_ops.delete(project=P, region=R, operation=op.name)
    with pytest.raises(gexc.NotFound):
        c.region_ops.get(project=P, region=R, operation=op.name)


def test_wait_completes_at_once_and_global_and_zonal_operations(c: Clients) -> None:
    op = c.networks.insert_unary(
        project=P, network_resource=compute_v1.Network(name="n", auto_create_subnetworks=False)
    )
    assert not op.region and not op.zone
    assert c.global_ops.wait(project=P, operation=op.name).status == DONE
    assert c.global_ops.get(project=P, operation=op.name).status == DONE
    subnet = compute_v1.Subnetwork(
        name="s", network="global/networks/n", ip_cidr_range="10.0.0.0/24"
    )
    c.done(c.subnetworks.insert_unary(project=P, region=R, subnetwork_resource=subnet))
    group = c.groups.insert_unary(
        project=P, zone=ZA, instance_group_resource=compute_v1.InstanceGroup(name="g")
    )
    assert group.zone == f"{API}/zones/{ZA}"
    assert c.zone_ops.wait(project=P, zone=ZA, operation=group.name).status == DONE
    assert [o.name for o in c.zone_ops.list(project=P, zone=ZA)] == [group.name]
    with pytest.raises(gexc.NotFound):
        c.zone_ops.get(project=P, zone=ZA, operation="operation-nope")


def test_a_failed_operation_ends_done_with_errors_and_changes_nothing(
    em: Emulator, c: Clients
) -> None:
    em.fail_next_operation("insert healthChecks/hc", "QUOTA_EXCEEDED", "Quota 'X' exceeded.")
    check = compute_v1.HealthCheck(name="hc", type_="TCP")
    op = c.checks.insert_unary(project=P, region=R, health_check_resource=check)
    finished = c.wait(op)  # api_core does not raise: the caller must look
    assert finished.status == DONE
    assert [(e.code, e.message) for e in finished.error.errors] == [
        ("QUOTA_EXCEEDED", "Quota 'X' exceeded.")
    ]
    assert finished.http_error_status_code == 400
    with pytest.raises(gexc.NotFound):
        c.checks.get(project=P, region=R, health_check="hc")
    # The rule was used once: the retry goes through. A failed delete leaves the resource.
    em.fail_next_operation("^delete ", "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", "in use")
    c.done(c.checks.insert_unary(project=P, region=R, health_check_resource=check))
    failed = c.wait(c.checks.delete_unary(project=P, region=R, health_check="hc"))
    assert failed.error.errors[0].code == "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"
    assert failed.http_error_message == "BAD REQUEST"
    assert c.checks.get(project=P, region=R, health_check="hc").name == "hc"


def test_settle_finishes_pending_operations_and_request_ids_replay(
    em: Emulator, c: Clients
) -> None:
    check = compute_v1.HealthCheck(name="hc", type_="TCP")
    first = c.checks.insert_unary(
        request={"project": P, "region": R, "health_check_resource": check, "request_id": "r-1"}
    )
    again = c.checks.insert_unary(
        request={"project": P, "region": R, "health_check_resource": check, "request_id": "r-1"}
    )
    assert again.name == first.name  # a retried request is not a second insert (no 409)
    assert [o["name"] for o in em.state.operations(pending=True)] == [first.name]
    assert em.resources("healthChecks") == []
    assert em.settle() == 1
    assert [h["name"] for h in em.resources("healthChecks")] == ["hc"]


def test_unknown_paths_projects_and_regions(c: Clients) -> None:
    with pytest.raises(gexc.NotFound) as err:  # setTarget is not implemented
        c.rules.set_target_unary(
            project=P,
            region=R,
            forwarding_rule="x",
            target_reference_resource=compute_v1.TargetReference(target="t"),
        )
    assert reason(err) == "notFound"
    with pytest.raises(gexc.NotFound) as err:
        c.checks.get(project="someone-else", region=R, health_check="hc")
    assert reason(err) == "notFound"
    with pytest.raises(gexc.BadRequest) as bad:
        c.checks.list(project=P, region="mars-north1")
    assert reason(bad) == "invalid"
    with pytest.raises(gexc.NotFound) as err:
        c.rules.get(project=P, region=R, forwarding_rule="x")
    assert err.value.errors[0]["message"] == (
        f"The resource 'projects/{P}/regions/{R}/forwardingRules/x' was not found"
    )


# ---------------------------------------------------------------------- load balancer


def test_forwarding_rules_external_and_internal(c: Clients, seeded: SeededGcp, lb: str) -> None:
    ext = rule(
        c,
        "web",
        I_p_protocol="TCP",
        ports=["80", "443"],
        backend_service=lb,
        load_balancing_scheme="EXTERNAL",
        labels={"owner": "ccm"},
        description="web",
    )
    assert ext.I_p_address.startswith("34.")  # an ephemeral external IP
    assert ext.network_tier == "PREMIUM"
    assert ext.self_link == f"{API}/regions/{R}/forwardingRules/web"
    assert ext.region == f"{API}/regions/{R}"
    assert ext.backend_service == lb and list(ext.ports) == ["80", "443"]
    assert ext.labels == {"owner": "ccm"} and ext.label_fingerprint and ext.fingerprint
    assert ext.id.isdigit() if isinstance(ext.id, str) else ext.id > 0
    check = f"regions/{R}/healthChecks/hc"  # a partial URL is accepted and echoed in full
    internal_service = backend_service(c, "bs-int", check, [], scheme="INTERNAL")
    internal = rule(
        c,
        "int",
        load_balancing_scheme="INTERNAL",
        backend_service=internal_service,
        all_ports=True,
        I_p_protocol="L3_DEFAULT",
        subnetwork=seeded.subnetwork,
        allow_global_access=True,
    )
    assert internal.I_p_address == "10.128.0.5"  # after the three nodes' .2, .3, .4
    assert internal.network == seeded.network and internal.allow_global_access
    names = [r.name for r in c.rules.list(project=P, region=R)]
    assert names == ["int", "web"]
    c.done(c.rules.delete_unary(project=P, region=R, forwarding_rule="web"))
    with pytest.raises(gexc.NotFound):
        c.rules.delete_unary(project=P, region=R, forwarding_rule="web")


def test_forwarding_rule_refusals(c: Clients, seeded: SeededGcp, lb: str) -> None:
    def refused(**fields: Any) -> pytest.ExceptionInfo[gexc.GoogleAPICallError]:
        resource = compute_v1.ForwardingRule(**{"name": "fr", **fields})
        with pytest.raises(gexc.GoogleAPICallError) as err:
            c.rules.insert_unary(project=P, region=R, forwarding_rule_resource=resource)
        return err

    err = refused(ports=[str(p) for p in range(80, 86)], backend_service=lb)
    assert (err.value.code, reason(err)) == (400, "invalid")
    assert "At most 5 ports" in err.value.errors[0]["message"]
    err = refused(name="Bad_Name")
    assert (err.value.code, reason(err)) == (400, "invalid")
    err = refused(backend_service=f"regions/{R}/backendServices/missing")
    assert (err.value.code, reason(err)) == (404, "notFound")
    assert f"projects/{P}/regions/{R}/backendServices/missing" in err.value.message
    assert reason(refused(ports=["80"], all_ports=True)) == "invalid"
    assert reason(refused(I_p_protocol="L3_DEFAULT", ports=["80"])) == "invalid"
    assert reason(refused(allow_global_access=True, backend_service=lb)) == "invalid"
    assert reason(refused(load_balancing_scheme="INTERNAL", backend_service=lb)) == "invalid"
    assert reason(refused(backend_service="not a url")) == "invalid"
    assert reason(refused(I_p_address="34.118.200.1")) == "invalid"  # not reserved
    # A backend service whose insert is still pending cannot be pointed at yet.
    pending = c.services.insert_unary(
        project=P,
        region=R,
        backend_service_resource=compute_v1.BackendService(name="later", protocol="TCP"),
    )
    err = refused(backend_service=f"regions/{R}/backendServices/later")
    assert (err.value.code, reason(err)) == (400, "resourceNotReady")
    c.done(pending)
    assert rule(c, "fr", backend_service=f"regions/{R}/backendServices/later").name == "fr"


def test_forwarding_rule_patch_labels_and_fingerprints(c: Clients, seeded: SeededGcp) -> None:
    service = backend_service(c, "bs", health_check(c), [], scheme="INTERNAL")
    made = rule(
        c,
        "fr",
        load_balancing_scheme="INTERNAL",
        backend_service=service,
        ports=["80"],
        subnetwork=seeded.subnetwork,
    )
    patch = compute_v1.ForwardingRule(allow_global_access=True)
    c.done(
        c.rules.patch_unary(
            project=P, region=R, forwarding_rule="fr", forwarding_rule_resource=patch
        )
    )
    patched = c.rules.get(project=P, region=R, forwarding_rule="fr")
    assert patched.allow_global_access and patched.fingerprint != made.fingerprint
    stale = compute_v1.ForwardingRule(allow_global_access=False, fingerprint=made.fingerprint)
    with pytest.raises(gexc.PreconditionFailed) as err:
        c.rules.patch_unary(
            project=P, region=R, forwarding_rule="fr", forwarding_rule_resource=stale
        )
    assert reason(err) == "conditionNotMet"
    with pytest.raises(gexc.BadRequest) as bad:  # ports are immutable: re-create instead
        c.rules.patch_unary(
            project=P,
            region=R,
            forwarding_rule="fr",
            forwarding_rule_resource=compute_v1.ForwardingRule(ports=["81"]),
        )
    assert reason(bad) == "invalid"

    def set_labels(labels: dict[str, str], fingerprint: str | None) -> compute_v1.Operation:
        body = compute_v1.RegionSetLabelsRequest(labels=labels)
        if fingerprint is not None:
            body.label_fingerprint = fingerprint
        return c.rules.set_labels_unary(
            project=P, region=R, resource="fr", region_set_labels_request_resource=body
        )

    c.done(set_labels({"a": "1"}, patched.label_fingerprint))
    labelled = c.rules.get(project=P, region=R, forwarding_rule="fr")
    assert labelled.labels == {"a": "1"}
    for fingerprint in (patched.label_fingerprint, None):
        with pytest.raises(gexc.PreconditionFailed) as err:
            set_labels({"a": "2"}, fingerprint)
        assert reason(err) == "conditionNotMet"
    # A resource with an operation in flight is not ready for another change.
    set_labels({}, labelled.label_fingerprint)
    with pytest.raises(gexc.BadRequest) as bad:
        c.rules.delete_unary(project=P, region=R, forwarding_rule="fr")
    assert reason(bad) == "resourceNotReady"


def test_deletes_in_dependency_order(c: Clients, seeded: SeededGcp, lb: str) -> None:
    rule(c, "fr", backend_service=lb, ports=["80"])

    def in_use(fn: Callable[..., Any], **kwargs: Any) -> str:
        with pytest.raises(gexc.BadRequest) as err:
            fn(project=P, **kwargs)
        assert reason(err) == "resourceInUseByAnotherResource"
        return str(err.value.errors[0]["message"])

    message = in_use(c.services.delete_unary, region=R, backend_service="bs")
    assert message == (
        f"The backend_service resource 'projects/{P}/regions/{R}/backendServices/bs' is already "
        f"being used by 'projects/{P}/regions/{R}/forwardingRules/fr'"
    )
    assert "backendServices/bs" in in_use(c.checks.delete_unary, region=R, health_check="hc")
    assert "backendServices/bs" in in_use(c.groups.delete_unary, zone=ZA, instance_group="ig")
    assert "subnetworks/test-subnet" in in_use(c.networks.delete_unary, network="test-network")
    c.done(c.rules.delete_unary(project=P, region=R, forwarding_rule="fr"))
    c.done(c.services.delete_unary(project=P, region=R, backend_service="bs"))
    c.done(c.checks.delete_unary(project=P, region=R, health_check="hc"))
    c.done(c.groups.delete_unary(project=P, zone=ZA, instance_group="ig"))


def test_backend_services_patch_update_fingerprint_and_health(
    em: Emulator, c: Clients, seeded: SeededGcp, lb: str
) -> None:
    have = c.services.get(project=P, region=R, backend_service="bs")
    assert have.session_affinity == "NONE" and have.backends[0].balancing_mode == "CONNECTION"
    assert have.health_checks == [f"{API}/regions/{R}/healthChecks/hc"]
    assert have.fingerprint
    patch = compute_v1.BackendService(session_affinity="CLIENT_IP", fingerprint=have.fingerprint)
    c.done(
        c.services.patch_unary(
            project=P, region=R, backend_service="bs", backend_service_resource=patch
        )
    )
    patched = c.services.get(project=P, region=R, backend_service="bs")
    assert patched.session_affinity == "CLIENT_IP" and len(patched.backends) == 1
    with pytest.raises(gexc.PreconditionFailed) as err:
        c.services.patch_unary(
            project=P, region=R, backend_service="bs", backend_service_resource=patch
        )
    assert reason(err) == "conditionNotMet"
    # update replaces the whole resource: the backends not sent are gone
    full = compute_v1.BackendService(
        name="bs",
        protocol="TCP",
        health_checks=list(patched.health_checks),
        fingerprint=patched.fingerprint,
    )
    c.done(
        c.services.update_unary(
            project=P, region=R, backend_service="bs", backend_service_resource=full
        )
    )
    updated = c.services.get(project=P, region=R, backend_service="bs")
    assert list(updated.backends) == [] and updated.session_affinity == "NONE"
    with pytest.raises(gexc.BadRequest) as bad:
        c.services.patch_unary(
            project=P,
            region=R,
            backend_service="bs",
            backend_service_resource=compute_v1.BackendService(load_balancing_scheme="INTERNAL"),
        )
    assert reason(bad) == "invalid"
    group = f"zones/{ZA}/instanceGroups/ig"
    back = compute_v1.BackendService(backends=[compute_v1.Backend(group=group)])
    c.done(
        c.services.patch_unary(
            project=P, region=R, backend_service="bs", backend_service_resource=back
        )
    )
    em.state.set_health("test-node-2", "UNHEALTHY")
    health = c.services.get_health(
        project=P,
        region=R,
        backend_service="bs",
        resource_group_reference_resource=compute_v1.ResourceGroupReference(group=group),
    )
    assert [
        (h.instance.rsplit("/", 1)[-1], h.ip_address, h.health_state) for h in health.health_status
    ] == [
        ("test-node-0", "10.128.0.2", "HEALTHY"),
        ("test-node-2", "10.128.0.4", "UNHEALTHY"),
    ]


def test_health_checks_patch_update_and_validation(c: Clients) -> None:
    health_check(c)
    patch = compute_v1.HealthCheck(check_interval_sec=10, healthy_threshold=3)
    c.done(
        c.checks.patch_unary(project=P, region=R, health_check="hc", health_check_resource=patch)
    )
    got = c.checks.get(project=P, region=R, health_check="hc")
    assert (got.check_interval_sec, got.healthy_threshold) == (10, 3)
    assert (got.http_health_check.port, got.http_health_check.request_path) == (10256, "/healthz")
    switch = compute_v1.HealthCheck(
        type_="TCP", tcp_health_check=compute_v1.TCPHealthCheck(port=22)
    )
    c.done(
        c.checks.patch_unary(project=P, region=R, health_check="hc", health_check_resource=switch)
    )
    got = c.checks.get(project=P, region=R, health_check="hc")
    assert got.type_ == "TCP" and got.tcp_health_check.port == 22 and not got.http_health_check
    replace = compute_v1.HealthCheck(name="hc", type_="HTTP")
    c.done(
        c.checks.update_unary(project=P, region=R, health_check="hc", health_check_resource=replace)
    )
    got = c.checks.get(project=P, region=R, health_check="hc")
    assert (got.http_health_check.port, got.check_interval_sec) == (80, 5)
    bad = compute_v1.HealthCheck(name="slow", type_="TCP", check_interval_sec=2, timeout_sec=5)
    with pytest.raises(gexc.BadRequest) as err:
        c.checks.insert_unary(project=P, region=R, health_check_resource=bad)
    assert reason(err) == "invalid"
    glob = compute_v1.HealthCheck(name="global-hc", type_="TCP")
    c.done(c.global_checks.insert_unary(project=P, health_check_resource=glob))
    assert [h.name for h in c.global_checks.list(project=P)] == ["global-hc"]
    assert [h.name for h in c.checks.list(project=P, region=R)] == ["hc"]


# ---------------------------------------------------------------------- addresses


def test_addresses_allocate_and_track_their_users(c: Clients, seeded: SeededGcp, lb: str) -> None:
    ext = address(c, "ext", description="mine")
    assert ext.address == "34.118.0.2" and ext.status == "RESERVED"
    assert ext.address_type == "EXTERNAL" and ext.network_tier == "PREMIUM"
    internal = address(c, "int", address_type="INTERNAL", subnetwork=seeded.subnetwork)
    assert internal.address == "10.128.0.5" and internal.subnetwork == seeded.subnetwork
    chosen = address(
        c, "chosen", address_type="INTERNAL", subnetwork=seeded.subnetwork, address="10.128.0.9"
    )
    assert chosen.address == "10.128.0.9"
    with pytest.raises(gexc.BadRequest):  # a node has this one
        c.addresses.insert_unary(
            project=P,
            region=R,
            address_resource=compute_v1.Address(
                name="taken",
                address_type="INTERNAL",
                subnetwork=seeded.subnetwork,
                address="10.128.0.2",
            ),
        )
    tcp = rule(c, "tcp", backend_service=lb, ports=["80"], I_p_address=ext.address)
    assert tcp.I_p_address == ext.address
    used = c.addresses.get(project=P, region=R, address="ext")
    assert used.status == "IN_USE" and list(used.users) == [tcp.self_link]
    with pytest.raises(gexc.BadRequest) as err:  # same IP, protocol and port
        c.rules.insert_unary(
            project=P,
            region=R,
            forwarding_rule_resource=compute_v1.ForwardingRule(
                name="clash", backend_service=lb, ports=["80"], I_p_address=ext.address
            ),
        )
    assert "in-use and would result in a conflict" in err.value.message
    udp_service = compute_v1.BackendService(name="bs-udp", protocol="UDP")
    c.done(c.services.insert_unary(project=P, region=R, backend_service_resource=udp_service))
    by_url = f"regions/{R}/addresses/ext"  # an address URL works as IPAddress, too
    udp = rule(
        c,
        "udp",
        backend_service=f"regions/{R}/backendServices/bs-udp",
        I_p_protocol="UDP",
        ports=["80"],
        I_p_address=by_url,
    )
    assert udp.I_p_address == ext.address
    assert len(c.addresses.get(project=P, region=R, address="ext").users) == 2
    with pytest.raises(gexc.BadRequest) as err:
        c.addresses.delete_unary(project=P, region=R, address="ext")
    assert reason(err) == "resourceInUseByAnotherResource"
    assert f"projects/{P}/regions/{R}/forwardingRules/tcp" in err.value.message
    c.done(c.rules.delete_unary(project=P, region=R, forwarding_rule="tcp"))
    c.done(c.rules.delete_unary(project=P, region=R, forwarding_rule="udp"))
    assert c.addresses.get(project=P, region=R, address="ext").status == "RESERVED"
    body = compute_v1.RegionSetLabelsRequest(
        labels={"k": "v"}, label_fingerprint=ext.label_fingerprint
    )
    c.done(
        c.addresses.set_labels_unary(
            project=P, region=R, resource="ext", region_set_labels_request_resource=body
        )
    )
    assert c.addresses.get(project=P, region=R, address="ext").labels == {"k": "v"}
    c.done(c.addresses.delete_unary(project=P, region=R, address="ext"))
    # an ephemeral IP can be promoted to a static address in place
    ephemeral = rule(c, "eph", backend_service=lb, ports=["80"])
    promoted = address(c, "promoted", address=ephemeral.I_p_address)
    assert promoted.status == "IN_USE" and list(promoted.users) == [ephemeral.self_link]


# ---------------------------------------------------------------------- firewalls


def test_firewalls(c: Clients, seeded: SeededGcp) -> None:
    fw = compute_v1.Firewall(
        name="fw",
        network=seeded.network,
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "30000-32767"])],
        target_tags=["test-node"],
        description="k8s",
    )
    c.done(c.firewalls.insert_unary(project=P, firewall_resource=fw))
    got = c.firewalls.get(project=P, firewall="fw")
    assert (got.direction, got.priority, list(got.source_ranges)) == (
        "INGRESS",
        1000,
        ["0.0.0.0/0"],
    )
    assert got.network == seeded.network and list(got.target_tags) == ["test-node"]
    patch = compute_v1.Firewall(source_ranges=["10.0.0.0/8"])
    c.done(c.firewalls.patch_unary(project=P, firewall="fw", firewall_resource=patch))
    got = c.firewalls.get(project=P, firewall="fw")
    assert list(got.source_ranges) == ["10.0.0.0/8"] and got.allowed[0].ports == [
        "80",
        "30000-32767",
    ]
    replace = compute_v1.Firewall(
        name="fw", network=seeded.network, allowed=[compute_v1.Allowed(I_p_protocol="udp")]
    )
    c.done(c.firewalls.update_unary(project=P, firewall="fw", firewall_resource=replace))
    got = c.firewalls.get(project=P, firewall="fw")
    assert got.allowed[0].I_p_protocol == "udp" and list(got.target_tags) == []
    with pytest.raises(gexc.BadRequest) as err:
        c.firewalls.patch_unary(
            project=P, firewall="fw", firewall_resource=compute_v1.Firewall(direction="EGRESS")
        )
    assert reason(err) == "invalid"
    with pytest.raises(gexc.NotFound):  # no "default" network here
        c.firewalls.insert_unary(
            project=P,
            firewall_resource=compute_v1.Firewall(
                name="fw2", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
            ),
        )
    with pytest.raises(gexc.BadRequest):
        c.firewalls.insert_unary(
            project=P, firewall_resource=compute_v1.Firewall(name="fw3", network=seeded.network)
        )
    assert [f.name for f in c.firewalls.list(project=P)] == ["fw"]
    c.done(c.firewalls.delete_unary(project=P, firewall="fw"))
    assert list(c.firewalls.list(project=P)) == []


# ---------------------------------------------------------------------- instance groups


def members(c: Clients, group: str, zone: str = ZA, **request: Any) -> list[str]:
    found = c.groups.list_instances(
        request={
            "project": P,
            "zone": zone,
            "instance_group": group,
            "instance_groups_list_instances_request_resource": {"instance_state": "ALL"},
            **request,
        }
    )
    return [i.instance.rsplit("/", 1)[-1] for i in found]


def test_instance_groups_membership(c: Clients, seeded: SeededGcp) -> None:
    instance_group(c, seeded)
    assert members(c, "ig") == []
    c.done(add_members(c, "ig", ZA, "test-node-0", "test-node-2"))
    assert members(c, "ig") == ["test-node-0", "test-node-2"]
    assert members(c, "ig", max_results=1) == ["test-node-0", "test-node-2"]  # two pages
    page = next(
        iter(
            c.groups.list_instances(
                request={
                    "project": P,
                    "zone": ZA,
                    "instance_group": "ig",
                    "instance_groups_list_instances_request_resource": {},
                }
            ).pages
        )
    )
    assert page.items[0].status == "RUNNING"
    assert c.groups.get(project=P, zone=ZA, instance_group="ig").size == 2
    with pytest.raises(gexc.BadRequest) as err:
        add_members(c, "ig", ZA, "test-node-0")
    assert reason(err) == "memberAlreadyExists"
    elsewhere = compute_v1.InstanceGroupsAddInstancesRequest(
        instances=[compute_v1.InstanceReference(instance=f"zones/{ZB}/instances/test-node-1")]
    )
    with pytest.raises(gexc.BadRequest):  # another zone's instance
        c.groups.add_instances_unary(
            project=P,
            zone=ZA,
            instance_group="ig",
            instance_groups_add_instances_request_resource=elsewhere,
        )
    with pytest.raises(gexc.NotFound):
        add_members(c, "ig", ZA, "no-such-node")
    remove = compute_v1.InstanceGroupsRemoveInstancesRequest(
        instances=[compute_v1.InstanceReference(instance=f"{API}/zones/{ZA}/instances/test-node-0")]
    )
    c.done(
        c.groups.remove_instances_unary(
            project=P,
            zone=ZA,
            instance_group="ig",
            instance_groups_remove_instances_request_resource=remove,
        )
    )
    assert members(c, "ig") == ["test-node-2"]
    ports = compute_v1.InstanceGroupsSetNamedPortsRequest(
        named_ports=[compute_v1.NamedPort(name="http", port=30080)]
    )
    c.done(
        c.groups.set_named_ports_unary(
            project=P,
            zone=ZA,
            instance_group="ig",
            instance_groups_set_named_ports_request_resource=ports,
        )
    )
    got = c.groups.get(project=P, zone=ZA, instance_group="ig")
    assert [(n.name, n.port) for n in got.named_ports] == [("http", 30080)]
    assert got.network == seeded.network and got.zone == f"{API}/zones/{ZA}"
    # Deleting a member VM takes it out of its groups, as on GCP.
    c.done(c.instances.delete_unary(project=P, zone=ZA, instance="test-node-2"))
    assert members(c, "ig") == []
    assert [g.name for g in c.groups.list(project=P, zone=ZA)] == ["ig"]


# ---------------------------------------------------------------------- instances, networks


def test_instances_networks_and_subnetworks(c: Clients, seeded: SeededGcp) -> None:
    node = c.instances.get(project=P, zone=ZA, instance="test-node-0")
    nic = node.network_interfaces[0]
    assert (nic.network_i_p, nic.network, nic.subnetwork) == (
        "10.128.0.2",
        seeded.network,
        seeded.subnetwork,
    )
    assert node.status == "RUNNING" and list(node.tags.items) == ["test-node"]
    assert node.machine_type == f"{API}/zones/{ZA}/machineTypes/e2-standard-2"
    assert [i.name for i in c.instances.list(project=P, zone=ZA)] == ["test-node-0", "test-node-2"]
    taken = compute_v1.Instance(
        name="dup",
        machine_type="e2-small",
        network_interfaces=[
            compute_v1.NetworkInterface(subnetwork=seeded.subnetwork, network_i_p="10.128.0.3")
        ],
    )
    with pytest.raises(gexc.BadRequest):
        c.instances.insert_unary(project=P, zone=ZA, instance_resource=taken)
    net = c.networks.get(project=P, network="test-network")
    assert list(net.subnetworks) == [seeded.subnetwork] and not net.auto_create_subnetworks
    subnet = c.subnetworks.get(project=P, region=R, subnetwork="test-subnet")
    assert (subnet.ip_cidr_range, subnet.gateway_address) == ("10.128.0.0/20", "10.128.0.1")
    overlapping = compute_v1.Subnetwork(
        name="other", network=seeded.network, ip_cidr_range="10.128.8.0/24"
    )
    with pytest.raises(gexc.BadRequest) as err:
        c.subnetworks.insert_unary(project=P, region=R, subnetwork_resource=overlapping)
    assert "conflicts with existing subnetwork" in err.value.message
    auto = compute_v1.Network(name="default", auto_create_subnetworks=True)
    c.done(c.networks.insert_unary(project=P, network_resource=auto))
    assert [n.name for n in c.networks.list(project=P)] == ["default", "test-network"]
    defaults = c.subnetworks.get(project=P, region=R, subnetwork="default")
    assert defaults.ip_cidr_range == "10.128.0.0/20"  # another network: no overlap
    c.done(c.instances.delete_unary(project=P, zone=ZB, instance="test-node-1"))
    assert [i.name for i in c.instances.list(project=P, zone=ZB)] == []


# ---------------------------------------------------------------------- lists


def test_pagination(c: Clients) -> None:
    for i in range(5):
        c.addresses.insert_unary(
            project=P, region=R, address_resource=compute_v1.Address(name=f"a{i}")
        )
    request = {"project": P, "region": R, "max_results": 2}
    assert list(c.addresses.list(request=request)) == []  # all five inserts still pending
    for op in c.region_ops.list(project=P, region=R):
        c.region_ops.wait(project=P, region=R, operation=op.name)
    pages = list(c.addresses.list(request=request).pages)
    assert [[a.name for a in p.items] for p in pages] == [["a0", "a1"], ["a2", "a3"], ["a4"]]
    assert pages[0].next_page_token and not pages[-1].next_page_token
    assert pages[0].kind == "compute#addressList"
    assert len(list(c.addresses.list(project=P, region=R))) == 5
    empty = next(iter(c.rules.list(project=P, region=R).pages))
    assert list(empty.items) == []
    with pytest.raises(gexc.BadRequest):
        list(c.addresses.list(request={**request, "page_token": "!!not a token"}))
    with pytest.raises(gexc.BadRequest):
        list(c.addresses.list(request={**request, "max_results": 501}))


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('name = "web-1"', ["web-1"]),
        ("name = web-1", ["web-1"]),
        ('name != "web-1"', ["db", "web-2"]),
        ('name eq "web-.*"', ["web-1", "web-2"]),
        ("name eq web-.*", ["web-1", "web-2"]),
        ("name eq 'web'", []),  # the regex must match the whole field
        ('name ne "web-.*"', ["db"]),
        ('labels.tier = "front"', ["web-1", "web-2"]),
        ("labels.tier:*", ["db", "web-1", "web-2"]),
        ('labels.owner = "ccm"', ["web-1"]),
        ('description eq ".*primary.*"', ["db"]),
        ('(labels.tier = "front") (labels.owner = "ccm")', ["web-1"]),
        ('labels.tier = "front" AND labels.owner != "ccm"', ["web-2"]),
        ('(name eq "web-.*") (description ne ".*primary.*")', ["web-1", "web-2"]),
        ('(name = "web-*")', ["web-1", "web-2"]),
        ('address = "34.118.0.2"', ["db"]),
        ('status = "RESERVED"', ["db", "web-1", "web-2"]),
    ],
)
def test_filters(c: Clients, expression: str, names: list[str]) -> None:
    for name, labels, description in (
        ("db", {"tier": "back"}, "the primary db"),
        ("web-1", {"tier": "front", "owner": "ccm"}, "web"),
        ("web-2", {"tier": "front"}, "web two"),
    ):
        address(c, name, labels=labels, description=description)
    found = c.addresses.list(request={"project": P, "region": R, "filter": expression})
    assert sorted(a.name for a in found) == names


@pytest.mark.parametrize(
    "expression",
    [
        'name = "a" OR name = "b"',
        '(name = "a") (name eq "b")',  # the two dialects cannot be mixed
        "name > a",
        'name = "unterminated',
        "(name = a",
        'name eq "("',
    ],
)
def test_unsupported_filters_are_400(c: Clients, expression: str) -> None:
    with pytest.raises(gexc.BadRequest) as err:
        list(c.addresses.list(request={"project": P, "region": R, "filter": expression}))
    assert reason(err) == "invalid"


# ---------------------------------------------------------------------- quotas


def test_quotas(em: Emulator, c: Clients, seeded: SeededGcp, lb: str) -> None:
    em.set_quota("FORWARDING_RULES", R, 1)
    rule(c, "one", backend_service=lb, ports=["80"])
    with pytest.raises(gexc.Forbidden) as err:
        c.rules.insert_unary(
            project=P,
            region=R,
            forwarding_rule_resource=compute_v1.ForwardingRule(name="two", backend_service=lb),
        )
    assert reason(err) == "quotaExceeded"
    assert err.value.errors[0]["message"] == (
        f"Quota 'FORWARDING_RULES' exceeded.  Limit: 1.0 in region {R}."
    )
    em.set_quota("STATIC_ADDRESSES", R, 0)
    with pytest.raises(gexc.Forbidden) as err:
        c.addresses.insert_unary(project=P, region=R, address_resource=compute_v1.Address(name="a"))
    assert "STATIC_ADDRESSES" in err.value.message
    em.set_quota("INSTANCE_GROUPS", ZB, 0)  # a zone's limit: other zones unaffected
    with pytest.raises(gexc.Forbidden) as err:
        instance_group(c, seeded, "ig-b", ZB)
    assert err.value.errors[0]["message"].endswith(f"Limit: 0.0 in zone {ZB}.")
    instance_group(c, seeded, "ig-c", "us-central1-c")
    em.set_quota("FIREWALLS", "global", 0)
    with pytest.raises(gexc.Forbidden) as err:
        c.firewalls.insert_unary(
            project=P,
            firewall_resource=compute_v1.Firewall(
                name="fw", network=seeded.network, allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
            ),
        )
    assert err.value.errors[0]["message"].endswith("Limit: 0.0 globally.")
    with pytest.raises(ValueError):
        em.set_quota("FIREWALLS", R, 1)


def test_quotas_given_at_start_count_pending_inserts() -> None:
    with start_emulator(project=P, quotas={("IN_USE_ADDRESSES", R): 1}) as emulator:
        c = make_clients(emulator.url)
        service = compute_v1.BackendService(name="bs", protocol="TCP")
        c.done(c.services.insert_unary(project=P, region=R, backend_service_resource=service))
        bs = f"regions/{R}/backendServices/bs"
        first = compute_v1.ForwardingRule(name="one", backend_service=bs)
        c.rules.insert_unary(project=P, region=R, forwarding_rule_resource=first)  # pending
        with pytest.raises(gexc.Forbidden) as err:
            c.rules.insert_unary(
                project=P,
                region=R,
                forwarding_rule_resource=compute_v1.ForwardingRule(name="two", backend_service=bs),
            )
        assert "IN_USE_ADDRESSES" in err.value.message


# ---------------------------------------------------------------------- seeding, faults


def test_seed_cluster_and_node_objects(em: Emulator, seeded: SeededGcp, c: Clients) -> None:
    assert [(n, z) for n, z, _ in seeded.instances] == [
        ("test-node-0", ZA),
        ("test-node-1", ZB),
        ("test-node-2", ZA),
    ]
    assert [ip for *_, ip in seeded.instances] == ["10.128.0.2", "10.128.0.3", "10.128.0.4"]
    assert seeded.network == f"{API}/global/networks/test-network"
    nodes = node_objects(seeded)
    first = nodes[0]
    assert first["metadata"]["name"] == "test-node-0"
    assert first["metadata"]["labels"]["topology.kubernetes.io/zone"] == ZA
    assert first["metadata"]["labels"]["topology.kubernetes.io/region"] == R
    assert first["spec"]["providerID"] == f"gce://{P}/{ZA}/test-node-0"
    assert {"type": "InternalIP", "address": "10.128.0.2"} in first["status"]["addresses"]
    assert {"type": "Hostname", "address": "test-node-0"} in first["status"]["addresses"]
    assert first["status"]["conditions"][0]["status"] == "True"
    tagged = c.instances.list(
        request={"project": P, "zone": ZA, "filter": 'labels.cluster = "test"'}
    )
    assert len(list(tagged)) == 2
    assert static_address(em.url, P, R, "user-ip") == "34.118.0.2"
    assert static_address(em.url, P, R, "user-int", internal=True) == "10.128.0.5"
    assert [a["status"] for a in em.resources("addresses")] == ["RESERVED", "RESERVED"]


def test_faultproxy_errors_surface_as_google_exceptions(em: Emulator) -> None:
    with FaultProxy(em.url) as proxy:
        c = make_clients(proxy.url)
        proxy.add(match=r"^http:GET /compute/v1/projects/.*/forwardingRules$", status=429)
        with pytest.raises(gexc.TooManyRequests) as err:
            list(c.rules.list(project=P, region=R))
        assert reason(err) == "rateLimitExceeded"
        assert err.value.errors[0]["domain"] == "global"
        assert proxy.counts()[f"http:GET /compute/v1/projects/{P}/regions/{R}/forwardingRules"] == 1
        proxy.clear()
        # A 503 on a read is retried by the client's default retry; on a write it is not.
        proxy.add(match=r"healthChecks/hc$", status=503, times=1)
        with pytest.raises(gexc.NotFound):
            c.checks.get(project=P, region=R, health_check="hc")
        proxy.add(match=r"^http:POST .*/healthChecks$", status=503, times=1)
        with pytest.raises(gexc.ServiceUnavailable) as unavailable:
            c.checks.insert_unary(
                project=P,
                region=R,
                health_check_resource=compute_v1.HealthCheck(name="hc", type_="TCP"),
            )
        assert unavailable.value.errors[0]["reason"] == "backendError"
        assert em.resources("healthChecks") == []

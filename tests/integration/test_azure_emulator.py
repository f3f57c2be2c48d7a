"""The Azure emulator, seen only through the real azure-mgmt-network client.

What matters is that the driver, talking to this emulator with the official library,
meets what it would meet on Azure: pollers that follow Azure-AsyncOperation and finish
when the change lands, ARM error codes on the exceptions azure-core raises, etags and
If-Match, "another operation is in progress", in-use refusals, paging, a bearer token
and TLS verified against a CA, and azure-core's retries against throttling.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as m

from providers.azure.emulator import (
    Emulator,
    SeededAzure,
    StaticToken,
    network_client,
    node_objects,
    seed_cluster,
    start_emulator,
    user_public_ip,
)

RG = "ccm-rg"
LOC = "eastus"
STATIC: dict[str, Any] = {
    "location": LOC,
    "sku": {"name": "Standard", "tier": "Regional"},
    "properties": {"publicIPAllocationMethod": "Static"},
}


@pytest.fixture
def em() -> Iterator[Emulator]:
    with start_emulator() as emulator:
        yield emulator


@pytest.fixture
def client(em: Emulator) -> NetworkManagementClient:
    return network_client(em, polling_interval=0.01)


@pytest.fixture
def seeded(em: Emulator) -> SeededAzure:
    return seed_cluster(em, RG, LOC)


def lb_id(em: Emulator, name: str = "kubernetes") -> str:
    return (
        f"/subscriptions/{em.subscription}/resourceGroups/{RG}"
        f"/providers/Microsoft.Network/loadBalancers/{name}"
    )


def public_ip(client: NetworkManagementClient, name: str, **props: Any) -> m.PublicIPAddress:
    body = {**STATIC, "properties": {**STATIC["properties"], **props}}
    return client.public_ip_addresses.begin_create_or_update(
        RG, name, m.PublicIPAddress(body)
    ).result()


def rule(
    lb: str,
    name: str,
    port: int,
    *,
    frontend: str = "fe",
    backend: int | None = None,
    floating: bool = True,
    probe: str = "probe",
) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "frontendIPConfiguration": {"id": f"{lb}/frontendIPConfigurations/{frontend}"},
            "backendAddressPool": {"id": f"{lb}/backendAddressPools/pool"},
            "probe": {"id": f"{lb}/probes/{probe}"},
            "protocol": "Tcp",
            "frontendPort": port,
            "backendPort": port if backend is None else backend,
            "enableFloatingIP": floating,
        },
    }


def lb_body(
    em: Emulator,
    seeded: SeededAzure,
    frontend: dict[str, Any],
    rules: list[dict[str, Any]] | None = None,
    name: str = "kubernetes",
) -> m.LoadBalancer:
    lb = lb_id(em, name)
    return m.LoadBalancer(
        {
            "location": LOC,
            "sku": {"name": "Standard"},
            "tags": {"kubernetes-cluster-name": "test"},
            "properties": {
                "frontendIPConfigurations": [{"name": "fe", "properties": frontend}],
                "backendAddressPools": [
                    {
                        "name": "pool",
                        "properties": {
                            "loadBalancerBackendAddresses": [
                                {
                                    "name": node,
                                    "properties": {
                                        "ipAddress": ip,
                                        "virtualNetwork": {"id": seeded.vnet_id},
                                    },
                                }
                                for node, ip in zip(seeded.node_names, seeded.node_ips, strict=True)
                            ]
                        },
                    }
                ],
                "probes": [{"name": "probe", "properties": {"protocol": "Tcp", "port": 30080}}],
                "loadBalancingRules": rules if rules is not None else [rule(lb, "r80", 80)],
            },
        }
    )


def code(exc: pytest.ExceptionInfo[HttpResponseError]) -> str:
    assert exc.value.error is not None
    return str(exc.value.error.code)


# ---------------------------------------------------------------- transport, auth, TLS


def test_tls_is_verified_against_the_emulators_ca(
    em: Emulator, client: NetworkManagementClient
) -> None:
    assert em.url.startswith("https://127.0.0.1:")
    assert list(client.public_ip_addresses.list(RG)) == []
    untrusting = NetworkManagementClient(
        StaticToken(em.token),
        em.subscription,
        base_url=em.url,
        credential_scopes=[em.url + "/.default"],
    )
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.public_ip_addresses.get(RG, "x", retry_total=0)


def test_requests_need_the_bearer_token(em: Emulator) -> None:
    wrong = NetworkManagementClient(
        StaticToken("not-the-token"),
        em.subscription,
        base_url=em.url,
        credential_scopes=[em.url + "/.default"],
        connection_verify=em.ca_file,
    )
    with pytest.raises(ClientAuthenticationError) as exc:
        wrong.public_ip_addresses.get(RG, "x")
    assert exc.value.status_code == 401
    assert exc.value.error is not None and exc.value.error.code == "InvalidAuthenticationToken"
    anonymous = NetworkManagementClient(
        StaticToken(em.token),
        em.subscription,
        base_url=em.url,
        connection_verify=em.ca_file,
        authentication_policy=SansIOHTTPPolicy(),
    )
    with pytest.raises(ClientAuthenticationError) as exc:
        anonymous.public_ip_addresses.get(RG, "x")
    assert exc.value.error is not None and exc.value.error.code == "AuthenticationFailed"


def test_unknown_paths_bad_json_and_missing_api_version(
    em: Emulator, client: NetworkManagementClient
) -> None:
    base = f"/subscriptions/{em.subscription}"
    unknown = client.send_request(
        HttpRequest("GET", f"{base}/providers/Microsoft.Network/bogus/a/b?api-version=2024-05-01")
    )
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"code", "message", "details"}
    other_sub = client.send_request(
        HttpRequest(
            "GET",
            "/subscriptions/other/resourceGroups/rg/providers/Microsoft.Network/"
            "loadBalancers?api-version=1",
        )
    )
    assert other_sub.json()["error"]["code"] == "SubscriptionNotFound"
    pips = f"{base}/resourceGroups/{RG}/providers/Microsoft.Network/publicIPAddresses"
    bad = client.send_request(
        HttpRequest(
            "PUT",
            f"{pips}/x?api-version=2024-05-01",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "InvalidRequestContent")
    bare = client.send_request(HttpRequest("GET", pips))
    assert bare.json()["error"]["code"] == "MissingApiVersionParameter"


# ---------------------------------------------------------------- public IPs


def test_public_ip_lifecycle(em: Emulator, client: NetworkManagementClient) -> None:
    first = public_ip(client, "first", dnsSettings={"domainNameLabel": "web-1"})
    assert first.ip_address == "20.62.0.1"
    assert first.dns_settings is not None
    assert first.dns_settings.fqdn == "web-1.eastus.cloudapp.azure.com"
    assert first.provisioning_state == "Succeeded"
    assert first.etag is not None and first.etag.startswith('W/"')
    assert first.type == "Microsoft.Network/publicIPAddresses"
    second = client.public_ip_addresses.begin_create_or_update(
        RG, "second", m.PublicIPAddress({**STATIC, "tags": {"owner": "ccm"}})
    ).result()
    assert (second.ip_address, second.tags) == ("20.62.0.2", {"owner": "ccm"})
    # An update keeps the address and changes the etag.
    second.tags = {"owner": "someone-else"}
    updated = client.public_ip_addresses.begin_create_or_update(RG, "second", second).result()
    assert updated.ip_address == "20.62.0.2" and updated.etag != second.etag
    assert [p.name for p in client.public_ip_addresses.list(RG)] == ["first", "second"]
    client.public_ip_addresses.begin_delete(RG, "first").result()
    with pytest.raises(ResourceNotFoundError) as exc:
        client.public_ip_addresses.get(RG, "first")
    assert exc.value.error is not None and exc.value.error.code == "ResourceNotFound"
    assert client.public_ip_addresses.begin_delete(RG, "first").result() is None  # 204
    # The freed address is the lowest free one again.
    assert public_ip(client, "third").ip_address == "20.62.0.1"


def test_dns_labels_are_unique_and_valid(client: NetworkManagementClient) -> None:
    public_ip(client, "a", dnsSettings={"domainNameLabel": "shop"})
    with pytest.raises(HttpResponseError) as exc:
        public_ip(client, "b", dnsSettings={"domainNameLabel": "shop"})
    assert (exc.value.status_code, code(exc)) == (400, "DnsRecordInUse")
    with pytest.raises(HttpResponseError) as exc:
        public_ip(client, "c", dnsSettings={"domainNameLabel": "Not_Valid"})
    assert code(exc) == "InvalidDomainNameLabel"
    with pytest.raises(HttpResponseError) as exc:
        public_ip(client, "d", publicIPAllocationMethod="Dynamic")
    assert code(exc) == "StandardSkuPublicIPAddressesMustBeStatic"


# ---------------------------------------------------------------- load balancers


def test_public_load_balancer_lifecycle(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    pip = public_ip(client, "svc-ip")
    lb = client.load_balancers.begin_create_or_update(
        RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}})
    ).result()
    base = lb_id(em)
    assert lb.id == base and lb.provisioning_state == "Succeeded"
    assert lb.sku is not None and lb.sku.name == "Standard"
    fe = lb.frontend_ip_configurations[0]
    assert fe.id == f"{base}/frontendIPConfigurations/fe" and fe.etag == lb.etag
    assert [r.id for r in fe.load_balancing_rules] == [f"{base}/loadBalancingRules/r80"]
    assert [r.id for r in lb.probes[0].load_balancing_rules] == [f"{base}/loadBalancingRules/r80"]
    members = lb.backend_address_pools[0].load_balancer_backend_addresses
    assert [a.ip_address for a in members] == list(seeded.node_ips)
    got = client.public_ip_addresses.get(RG, "svc-ip")
    assert got.ip_configuration is not None and got.ip_configuration.id == fe.id
    # Round trip: GET, change, PUT (as a driver does); defaults were filled in.
    rule_props = lb.load_balancing_rules[0]
    assert (rule_props.idle_timeout_in_minutes, rule_props.load_distribution) == (4, "Default")
    lb.load_balancing_rules.append(m.LoadBalancingRule(rule(base, "r443", 443)))
    again = client.load_balancers.begin_create_or_update(RG, "kubernetes", lb).result()
    assert [r.name for r in again.load_balancing_rules] == ["r80", "r443"]
    assert again.etag != lb.etag
    assert [lb.name for lb in client.load_balancers.list_all()] == ["kubernetes"]
    client.load_balancers.begin_delete(RG, "kubernetes").result()
    assert client.public_ip_addresses.get(RG, "svc-ip").ip_configuration is None
    assert em.resources("loadBalancers") == []


def test_internal_frontends_take_addresses_from_their_subnet(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    subnet = {"id": seeded.subnet_id}
    lb = client.load_balancers.begin_create_or_update(
        RG,
        "kubernetes-internal",
        lb_body(em, seeded, {"subnet": subnet}, rules=[], name="kubernetes-internal"),
    ).result()
    fe = lb.frontend_ip_configurations[0]
    # The nodes hold .4-.6, so the lowest free address is .7; it is kept across updates.
    assert (fe.private_ip_address, fe.private_ip_allocation_method) == ("10.224.0.7", "Dynamic")
    lb.tags = {"changed": "yes"}
    again = client.load_balancers.begin_create_or_update(RG, "kubernetes-internal", lb).result()
    assert again.frontend_ip_configurations[0].private_ip_address == "10.224.0.7"
    users = client.subnets.get(RG, seeded.vnet_name, seeded.subnet_name).ip_configurations
    assert fe.id in [u.id for u in users]
    static = {
        "subnet": subnet,
        "privateIPAllocationMethod": "Static",
        "privateIPAddress": "10.224.0.5",
    }
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "other", lb_body(em, seeded, static, rules=[], name="other")
        )
    assert code(exc) == "PrivateIPAddressInUse"
    static["privateIPAddress"] = "10.9.9.9"
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "other", lb_body(em, seeded, static, rules=[], name="other")
        )
    assert code(exc) == "PrivateIPAddressNotInSubnet"
    static["privateIPAddress"] = "10.224.1.10"
    other = client.load_balancers.begin_create_or_update(
        RG, "other", lb_body(em, seeded, static, rules=[], name="other")
    ).result()
    assert other.frontend_ip_configurations[0].private_ip_address == "10.224.1.10"


def test_invalid_references_are_refused(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    missing_ip = lb_id(em).replace("loadBalancers/kubernetes", "publicIPAddresses/nope")
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": missing_ip}})
        )
    assert (exc.value.status_code, code(exc)) == (400, "InvalidResourceReference")
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, {"subnet": {"id": seeded.subnet_id + "x"}})
        )
    assert code(exc) == "InvalidResourceReference"
    pip = public_ip(client, "ip")
    dangling = [rule(lb_id(em), "r80", 80, probe="gone")]
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}}, dangling)
        )
    assert code(exc) == "InvalidResourceReference"
    assert em.resources("loadBalancers") == []


def test_rules_that_clash_are_refused(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    pip = public_ip(client, "ip")
    base, frontend = lb_id(em), {"publicIPAddress": {"id": pip.id}}
    same_port = [rule(base, "a", 80), rule(base, "b", 80, backend=8080)]
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, frontend, same_port)
        )
    assert code(exc) == "RulesUseSameFrontendPortProtocolAndIPConfig"
    same_backend = [
        rule(base, "a", 80, backend=30080, floating=False),
        rule(base, "b", 81, backend=30080, floating=False),
    ]
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, frontend, same_backend)
        )
    assert code(exc) == "RulesUseSameBackendPortProtocolAndPool"


def test_a_public_ip_in_use_cannot_be_deleted_or_shared(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    pip = public_ip(client, "ip")
    client.load_balancers.begin_create_or_update(
        RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}})
    ).result()
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.begin_delete(RG, "ip")
    assert (exc.value.status_code, code(exc)) == (400, "PublicIPAddressCannotBeDeleted")
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "second", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}}, [], "second")
        )
    assert code(exc) == "PublicIPAddressInUse"
    client.load_balancers.begin_delete(RG, "kubernetes").result()
    client.public_ip_addresses.begin_delete(RG, "ip").result()


# ---------------------------------------------------------------- operations, etags, conflicts


def test_changes_land_when_the_operation_succeeds(
    em: Emulator, client: NetworkManagementClient
) -> None:
    em.state.operation_steps = 3
    poller = client.public_ip_addresses.begin_create_or_update(
        RG, "slow", m.PublicIPAddress(STATIC), polling=False
    )
    initial = poller.result()  # NoPolling: the 201 body
    assert initial.provisioning_state == "Updating"
    with pytest.raises(ResourceNotFoundError):
        client.public_ip_addresses.get(RG, "slow")
    assert len(em.pending_operations()) == 1
    assert em.settle() == 1
    done = client.public_ip_addresses.get(RG, "slow")
    assert done.provisioning_state == "Succeeded" and done.ip_address == initial.ip_address
    # While an update runs, GET shows the old body, Updating.
    done.tags = {"v": "2"}
    client.public_ip_addresses.begin_create_or_update(RG, "slow", done, polling=False).result()
    during = client.public_ip_addresses.get(RG, "slow")
    assert (during.provisioning_state, during.tags) == ("Updating", None)
    em.settle()
    assert client.public_ip_addresses.get(RG, "slow").tags == {"v": "2"}
    ops = [c for c in em.calls if "/locations/eastus/operations/" in c]
    assert ops == []  # nothing polled: settle() finished them


def test_pollers_follow_async_operation_and_location(em: Emulator) -> None:
    em.state.operation_steps = 3
    client = network_client(em, polling_interval=0.01)
    start = time.monotonic()
    client.public_ip_addresses.begin_create_or_update(RG, "ip", m.PublicIPAddress(STATIC)).result()
    client.public_ip_addresses.begin_delete(RG, "ip").result()
    assert time.monotonic() - start < 2
    polls = [
        c for c in em.calls if "/providers/Microsoft.Network/locations/eastus/operations/" in c
    ]
    assert len(polls) == 6  # three polls per operation
    assert em.calls[-1].startswith("GET /subscriptions/") and "operations" in em.calls[-1]


def test_failed_operations_surface_from_the_poller(
    em: Emulator, client: NetworkManagementClient
) -> None:
    em.fail_next_operation(r"PUT .*/publicIPAddresses/ip$", "InternalServerError", "it broke")
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.begin_create_or_update(
            RG, "ip", m.PublicIPAddress(STATIC)
        ).result()
    assert code(exc) == "InternalServerError"
    assert exc.value.error is not None and exc.value.error.message == "it broke"
    with pytest.raises(ResourceNotFoundError):
        client.public_ip_addresses.get(RG, "ip")
    made = public_ip(client, "ip")
    em.fail_next_operation(r"PUT .*/publicIPAddresses/ip$", "Canceled", "no")
    made.tags = {"x": "y"}
    with pytest.raises(HttpResponseError):
        client.public_ip_addresses.begin_create_or_update(RG, "ip", made).result()
    after = client.public_ip_addresses.get(RG, "ip")
    assert (after.provisioning_state, after.tags) == ("Failed", None)


def test_if_match_and_if_none_match(em: Emulator, client: NetworkManagementClient) -> None:
    made = public_ip(client, "ip")
    stale = made.etag
    made.tags = {"v": "1"}
    fresh = client.public_ip_addresses.begin_create_or_update(
        RG, "ip", made, headers={"If-Match": stale}
    ).result()
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.begin_create_or_update(
            RG, "ip", made, headers={"If-Match": stale}
        )
    assert (exc.value.status_code, code(exc)) == (412, "PreconditionFailed")
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.begin_create_or_update(
            RG, "ip", made, headers={"If-None-Match": "*"}
        )
    assert exc.value.status_code == 412
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.begin_delete(RG, "ip", headers={"If-Match": stale})
    assert exc.value.status_code == 412
    client.public_ip_addresses.begin_delete(RG, "ip", headers={"If-Match": fresh.etag}).result()


def test_a_second_write_while_one_runs_is_a_conflict(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    pip = public_ip(client, "ip")
    em.state.operation_steps = 40
    poller = client.load_balancers.begin_create_or_update(
        RG,
        "kubernetes",
        lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}}),
        polling_interval=0.02,
    )
    with pytest.raises(ResourceExistsError) as exc:
        client.load_balancers.begin_create_or_update(
            RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}})
        )
    assert (exc.value.status_code, code(exc)) == (409, "AnotherOperationInProgress")
    assert "PutLoadBalancerOperation" in str(exc.value)
    assert poller.result().provisioning_state == "Succeeded"
    # The same for an NSG, when a rule is written while the NSG is.
    nsg = client.network_security_groups.get(RG, seeded.nsg_name)
    nsg_poller = client.network_security_groups.begin_create_or_update(
        RG, seeded.nsg_name, nsg, polling_interval=0.02
    )
    with pytest.raises(ResourceExistsError) as exc:
        client.security_rules.begin_create_or_update(
            RG, seeded.nsg_name, "allow-80", m.SecurityRule(security_rule(100))
        )
    assert code(exc) == "AnotherOperationInProgress"
    nsg_poller.result()


# ---------------------------------------------------------------- NSGs and virtual networks


def security_rule(priority: int, direction: str = "Inbound", port: str = "80") -> dict[str, Any]:
    return {
        "properties": {
            "priority": priority,
            "direction": direction,
            "access": "Allow",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": port,
            "sourceAddressPrefix": "Internet",
            "destinationAddressPrefixes": ["20.62.0.1"],
        }
    }


def test_security_rules(client: NetworkManagementClient, seeded: SeededAzure) -> None:
    nsg = seeded.nsg_name
    made = client.security_rules.begin_create_or_update(
        RG, nsg, "allow-80", m.SecurityRule(security_rule(500))
    ).result()
    assert made.id == f"{seeded.nsg_id}/securityRules/allow-80"
    assert made.type == "Microsoft.Network/networkSecurityGroups/securityRules"
    group = client.network_security_groups.get(RG, nsg)
    assert [r.name for r in group.security_rules] == ["allow-80"]
    assert len(group.default_security_rules) == 6
    assert [s.id for s in group.subnets] == [seeded.subnet_id]
    with pytest.raises(HttpResponseError) as exc:
        client.security_rules.begin_create_or_update(
            RG, nsg, "allow-443", m.SecurityRule(security_rule(500, port="443"))
        )
    assert code(exc) == "SecurityRuleConflict"
    # The same priority in the other direction is fine.
    client.security_rules.begin_create_or_update(
        RG, nsg, "out-500", m.SecurityRule(security_rule(500, direction="Outbound"))
    ).result()
    for bad in (99, 4097):
        with pytest.raises(HttpResponseError) as exc:
            client.security_rules.begin_create_or_update(
                RG, nsg, "bad", m.SecurityRule(security_rule(bad))
            )
        assert code(exc) == "SecurityRuleInvalidPriority"
    assert sorted(str(r.name) for r in client.security_rules.list(RG, nsg)) == [
        "allow-80",
        "out-500",
    ]
    # Inline rules in an NSG PUT are checked the same way.
    group = client.network_security_groups.get(RG, nsg)
    group.security_rules.append(m.SecurityRule({"name": "dup", **security_rule(500)}))
    with pytest.raises(HttpResponseError) as exc:
        client.network_security_groups.begin_create_or_update(RG, nsg, group)
    assert code(exc) == "SecurityRuleConflict"
    client.security_rules.begin_delete(RG, nsg, "allow-80").result()
    with pytest.raises(ResourceNotFoundError):
        client.security_rules.get(RG, nsg, "allow-80")
    with pytest.raises(HttpResponseError) as exc:
        client.network_security_groups.begin_delete(RG, nsg)
    assert code(exc) == "InUseNetworkSecurityGroupCannotBeDeleted"


def test_virtual_networks_and_subnets(client: NetworkManagementClient, seeded: SeededAzure) -> None:
    vnet = client.virtual_networks.get(RG, seeded.vnet_name)
    assert vnet.address_space is not None
    assert vnet.address_space.address_prefixes == ["10.224.0.0/12"]
    made = client.subnets.begin_create_or_update(
        RG, seeded.vnet_name, "ilb", m.Subnet({"properties": {"addressPrefix": "10.225.0.0/24"}})
    ).result()
    assert made.id == f"{seeded.vnet_id}/subnets/ilb"
    assert sorted(str(s.name) for s in client.subnets.list(RG, seeded.vnet_name)) == [
        "aks-subnet",
        "ilb",
    ]
    with pytest.raises(HttpResponseError) as exc:
        client.subnets.begin_create_or_update(
            RG,
            seeded.vnet_name,
            "out",
            m.Subnet({"properties": {"addressPrefix": "192.168.0.0/24"}}),
        )
    assert code(exc) == "NetcfgSubnetRangeOutsideVnet"
    with pytest.raises(HttpResponseError) as exc:
        client.subnets.begin_create_or_update(
            RG,
            seeded.vnet_name,
            "overlap",
            m.Subnet({"properties": {"addressPrefix": "10.224.1.0/24"}}),
        )
    assert code(exc) == "NetcfgSubnetRangesOverlap"
    # The node NICs use aks-subnet, so a vnet PUT dropping it is refused.
    vnet.subnets = [s for s in vnet.subnets if s.name != "aks-subnet"]
    with pytest.raises(HttpResponseError) as exc:
        client.virtual_networks.begin_create_or_update(RG, seeded.vnet_name, vnet)
    assert code(exc) == "InUseSubnetCannotBeDeleted"
    assert [v.name for v in client.virtual_networks.list(RG)] == [seeded.vnet_name]


def test_lists_are_paged_with_next_link(em: Emulator, client: NetworkManagementClient) -> None:
    em.state.operation_steps = 0
    em.page_size = 2
    for i in range(5):
        client.public_ip_addresses.begin_create_or_update(
            RG, f"ip-{i}", m.PublicIPAddress(STATIC)
        ).result()
    before = len(em.calls)
    assert [p.name for p in client.public_ip_addresses.list(RG)] == [f"ip-{i}" for i in range(5)]
    pages = em.calls[before:]
    assert len(pages) == 3 and all(c.endswith("/publicIPAddresses") for c in pages)
    assert len(list(client.public_ip_addresses.list_all())) == 5


# ---------------------------------------------------------------- faults


def test_throttling_and_server_errors_meet_azure_cores_retries(
    em: Emulator, client: NetworkManagementClient
) -> None:
    public_ip(client, "ip")
    get = r"GET .*/publicIPAddresses/ip$"
    em.add_fault(get, 429, retry_after=1)
    start, before = time.monotonic(), len(em.calls)
    assert client.public_ip_addresses.get(RG, "ip").name == "ip"
    assert time.monotonic() - start >= 1.0  # Retry-After honoured
    assert len(em.calls) - before == 2  # the faulted call is recorded
    em.add_fault(r"PUT .*/publicIPAddresses/ip$", 500)
    assert public_ip(client, "ip").name == "ip"  # PUT 500 retried at once
    em.add_fault(get, 503, times=10)
    before = len(em.calls)
    with pytest.raises(HttpResponseError) as exc:
        client.public_ip_addresses.get(RG, "ip", retry_backoff_factor=0)
    assert (exc.value.status_code, code(exc)) == (503, "ServiceUnavailable")
    assert len(em.calls) - before == 4  # retry_status=3 by default
    before = len(em.calls)
    with pytest.raises(HttpResponseError):
        client.public_ip_addresses.get(RG, "ip", retry_total=0)
    assert len(em.calls) - before == 1
    em.clear_faults()
    em.add_fault(get, 0, latency=0.3)
    start = time.monotonic()
    client.public_ip_addresses.get(RG, "ip")
    assert time.monotonic() - start >= 0.3


# ---------------------------------------------------------------- seeding


def test_seed_cluster_nodes_and_user_ip(em: Emulator, seeded: SeededAzure) -> None:
    assert seeded.nsg_name == "test-nsg"
    assert seeded.node_ips == ("10.224.0.4", "10.224.0.5", "10.224.0.6")
    assert seeded.subnet_id == f"{seeded.vnet_id}/subnets/aks-subnet"
    assert [n["name"] for n in em.resources("networkInterfaces")] == [
        "aks-nodepool1-0-nic",
        "aks-nodepool1-1-nic",
        "aks-nodepool1-2-nic",
    ]
    assert em.resources("networkSecurityGroups")[0]["properties"]["securityRules"] == []
    nodes = node_objects(seeded)
    assert [n["metadata"]["name"] for n in nodes] == list(seeded.node_names)
    first = nodes[0]
    assert first["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eastus-1"
    assert nodes[1]["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eastus-2"
    assert first["spec"]["providerID"] == (
        f"azure:///subscriptions/{em.subscription}/resourceGroups/{RG}"
        "/providers/Microsoft.Compute/virtualMachines/aks-nodepool1-0"
    )
    assert {"type": "InternalIP", "address": "10.224.0.4"} in first["status"]["addresses"]
    ip = user_public_ip(em, RG, "mine", tags={"owner": "user"})
    stored = em.resources("publicIPAddresses")[0]
    assert (stored["properties"]["ipAddress"], stored["tags"]) == (ip, {"owner": "user"})


def test_load_balancer_children_have_their_own_operations(
    em: Emulator, client: NetworkManagementClient, seeded: SeededAzure
) -> None:
    pip = public_ip(client, "ip")
    lb = client.load_balancers.begin_create_or_update(
        RG, "kubernetes", lb_body(em, seeded, {"publicIPAddress": {"id": pip.id}})
    ).result()
    fe = client.load_balancer_frontend_ip_configurations.get(RG, "kubernetes", "fe")
    assert fe.public_ip_address is not None and fe.public_ip_address.id == pip.id
    assert [p.name for p in client.load_balancer_probes.list(RG, "kubernetes")] == ["probe"]
    # A backend pool is written on its own (a write of the load balancer).
    pool = m.BackendAddressPool(
        {
            "properties": {
                "loadBalancerBackendAddresses": [
                    {
                        "name": "only",
                        "properties": {
                            "ipAddress": seeded.node_ips[0],
                            "virtualNetwork": {"id": seeded.vnet_id},
                        },
                    }
                ]
            }
        }
    )
    written = client.load_balancer_backend_address_pools.begin_create_or_update(
        RG, "kubernetes", "pool", pool, headers={"If-Match": str(lb.etag)}
    ).result()
    assert [a.name for a in written.load_balancer_backend_addresses] == ["only"]
    after = client.load_balancers.get(RG, "kubernetes")
    assert after.etag != lb.etag and after.backend_address_pools[0].etag == after.etag
    # Removing a pool that a rule uses makes the rule's reference dangle.
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancer_backend_address_pools.begin_delete(RG, "kubernetes", "pool")
    assert code(exc) == "InvalidResourceReference"
    with pytest.raises(HttpResponseError) as exc:
        client.load_balancer_frontend_ip_configurations.get(RG, "kubernetes", "nope")
    assert exc.value.status_code == 404


def test_location_polling_and_time_passing(em: Emulator, client: NetworkManagementClient) -> None:
    public_ip(client, "ip")
    path = lb_id(em).replace("loadBalancers/kubernetes", "publicIPAddresses/ip")
    accepted = client.send_request(HttpRequest("DELETE", f"{path}?api-version=2024-05-01"))
    assert accepted.status_code == 202
    assert accepted.headers["Retry-After"] == "0"
    assert "/operations/" in accepted.headers["Azure-AsyncOperation"]
    location = accepted.headers["Location"]
    assert "/operationResults/" in location
    assert client.send_request(HttpRequest("GET", location)).status_code == 202
    assert client.send_request(HttpRequest("GET", location)).status_code == 204
    assert em.resources("publicIPAddresses") == []
    # With operation_seconds, an operation nobody polls ends anyway.
    em.state.operation_seconds = 0.05
    client.public_ip_addresses.begin_create_or_update(
        RG, "ip", m.PublicIPAddress(STATIC), polling=False
    )
    time.sleep(0.1)
    assert client.public_ip_addresses.get(RG, "ip").provisioning_state == "Succeeded"

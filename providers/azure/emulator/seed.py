"""Build the Azure world a cluster lives in, through the real NetworkManagementClient.

The driver needs what an AKS-style cluster has around it before it can expose a
Service: a virtual network and subnet (for internal frontends and IP-based backend
pools), the cluster's network security group, and nodes with addresses in the subnet.
Tests and the demo build that world with the same API calls a deployment would make,
so seeding also exercises the emulator the way the driver will.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as m

from providers.azure.emulator.credentials import StaticToken
from providers.azure.emulator.runner import Emulator

KUBELET_VERSION = "v1.32.0"
VM_SIZE = "Standard_D2s_v5"
VNET_RANGE = "10.224.0.0/12"
SUBNET_RANGE = "10.224.0.0/16"
SUBNET = "aks-subnet"
POOL = "nodepool1"


def network_client(
    em: Emulator, *, polling_interval: float = 0.05, **kwargs: Any
) -> NetworkManagementClient:
    """A client for the emulator: bearer-token policy on, TLS verified against its CA.

    The emulator sends ``Retry-After: 0`` and ARMPolling treats 0 as "use
    polling_interval" (the SDK default is 30 s), hence the short default here."""
    return NetworkManagementClient(
        StaticToken(em.token),
        em.subscription,
        base_url=em.url,
        credential_scopes=[em.url + "/.default"],
        connection_verify=em.ca_file,
        polling_interval=polling_interval,
        **kwargs,
    )


@dataclass(frozen=True)
class SeededAzure:
    subscription: str
    resource_group: str
    location: str
    cluster: str
    vnet_name: str
    vnet_id: str
    subnet_name: str
    subnet_id: str
    nsg_name: str
    nsg_id: str
    node_names: tuple[str, ...]
    node_ips: tuple[str, ...]  # in node order, from the subnet (10.224.0.4 upwards)


def seed_cluster(
    em: Emulator,
    resource_group: str = "ccm-rg",
    location: str = "eastus",
    cluster: str = "test",
    nodes: int = 3,
) -> SeededAzure:
    """The cluster NSG ``<cluster>-nsg`` (no rules), a virtual network ``<cluster>-vnet``
    (10.224.0.0/12) whose subnet ``aks-subnet`` (10.224.0.0/16) the NSG guards, and one
    NIC per node ``aks-nodepool1-<i>`` holding the node's address."""
    client = network_client(em)
    nsg_name = f"{cluster}-nsg"
    nsg = client.network_security_groups.begin_create_or_update(
        resource_group,
        nsg_name,
        m.NetworkSecurityGroup({"location": location, "properties": {"securityRules": []}}),
    ).result()
    vnet_name = f"{cluster}-vnet"
    vnet = client.virtual_networks.begin_create_or_update(
        resource_group,
        vnet_name,
        m.VirtualNetwork(
            {
                "location": location,
                "properties": {
                    "addressSpace": {"addressPrefixes": [VNET_RANGE]},
                    "subnets": [
                        {
                            "name": SUBNET,
                            "properties": {
                                "addressPrefix": SUBNET_RANGE,
                                "networkSecurityGroup": {"id": nsg.id},
                            },
                        }
                    ],
                },
            }
        ),
    ).result()
    subnet_id = f"{vnet.id}/subnets/{SUBNET}"
    names = tuple(f"aks-{POOL}-{i}" for i in range(nodes))
    ips: list[str] = []
    for name in names:
        nic = client.network_interfaces.begin_create_or_update(
            resource_group,
            f"{name}-nic",
            m.NetworkInterface(
                {
                    "location": location,
                    "tags": {"aks-managed-cluster": cluster},
                    "properties": {
                        "ipConfigurations": [
                            {"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}
                        ]
                    },
                }
            ),
        ).result()
        ips.append(nic.ip_configurations[0].private_ip_address)
    return SeededAzure(
        em.subscription,
        resource_group,
        location,
        cluster,
        vnet_name,
        str(vnet.id),
        SUBNET,
        subnet_id,
        nsg_name,
        str(nsg.id),
        names,
        tuple(ips),
    )


def provider_id(seeded: SeededAzure, node: str) -> str:
    return (
        f"azure:///subscriptions/{seeded.subscription}/resourceGroups/{seeded.resource_group}"
        f"/providers/Microsoft.Compute/virtualMachines/{node}"
    )


def node_objects(
    seeded: SeededAzure, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The Kubernetes Nodes a kubelet on each VM would register, as JSON; `labels` are
    added to (and override) the well-known ones."""
    out: list[dict[str, Any]] = []
    for i, (name, ip) in enumerate(zip(seeded.node_names, seeded.node_ips, strict=True)):
        node_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": seeded.location,
            "topology.kubernetes.io/zone": f"{seeded.location}-{1 + i % 3}",
            "node.kubernetes.io/instance-type": VM_SIZE,
            "kubernetes.azure.com/agentpool": POOL,
            **(labels or {}),
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": node_labels},
                "spec": {"providerID": provider_id(seeded, name)},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": ip},
                        {"type": "Hostname", "address": name},
                    ],
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                        }
                    ],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "bootID": "",
                        "containerRuntimeVersion": "containerd://1.7.22",
                        "kernelVersion": "5.15.0",
                        "kubeProxyVersion": KUBELET_VERSION,
                        "kubeletVersion": KUBELET_VERSION,
                        "machineID": "",
                        "operatingSystem": "linux",
                        "osImage": "Ubuntu 22.04.5 LTS",
                        "systemUUID": name,
                    },
                },
            }
        )
    return out


def user_public_ip(
    em: Emulator,
    resource_group: str,
    name: str,
    location: str = "eastus",
    tags: Mapping[str, str] | None = None,
) -> str:
    """A Standard static public IP made the way a user would before naming it in
    ``loadBalancerIP``; its address."""
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
    }
    if tags:
        body["tags"] = dict(tags)
    made = (
        network_client(em)
        .public_ip_addresses.begin_create_or_update(resource_group, name, m.PublicIPAddress(body))
        .result()
    )
    return str(made.ip_address)

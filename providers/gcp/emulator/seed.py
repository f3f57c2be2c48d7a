"""Build the GCP world a cluster lives in, through the real compute_v1 clients.

The GCP driver needs what a real GKE-less cluster on Compute Engine has around it before
it can make a load balancer: a VPC network and subnetwork to take internal IPs from, and
instances (the nodes) whose names and zones the Nodes' providerIDs name. Tests and the
demo build that world here with the same API calls a user would make, against whatever
endpoint they are given (the emulator, or a FaultProxy in front of it), so the seeding
also exercises the emulator the way the driver will.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

KUBELET_VERSION = "v1.32.0"
MACHINE_TYPE = "e2-standard-2"
SUBNET_RANGE = "10.128.0.0/20"

C = TypeVar("C")


def client(cls: Callable[..., C], url: str) -> C:
    """A compute_v1 client for `url` ("http://host:port": the REST transport keeps the
    scheme of api_endpoint, so plain HTTP works), with no credentials to look up."""
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth: untyped
    return cls(credentials=anonymous, client_options=ClientOptions(api_endpoint=url))


@dataclass(frozen=True)
class SeededGcp:
    project: str
    region: str
    zones: tuple[str, ...]
    network: str  # selfLink
    subnetwork: str  # selfLink
    instances: list[tuple[str, str, str]]  # (name, zone, internal IP), in creation order
    cluster: str = "test"


def wait(url: str, project: str, op: compute_v1.Operation) -> compute_v1.Operation:
    """Block until the operation is DONE; raise if it ended with errors, which api_core
    does not do for operations."""
    done = op
    while done.status != compute_v1.Operation.Status.DONE:
        if done.zone:
            done = client(compute_v1.ZoneOperationsClient, url).wait(
                project=project, zone=done.zone.rsplit("/", 1)[-1], operation=done.name
            )
        elif done.region:
            done = client(compute_v1.RegionOperationsClient, url).wait(
                project=project, region=done.region.rsplit("/", 1)[-1], operation=done.name
            )
        else:
            done = client(compute_v1.GlobalOperationsClient, url).wait(
                project=project, operation=done.name
            )
    if done.error.errors:
        text = "; ".join(f"{e.code}: {e.message}" for e in done.error.errors)
        raise RuntimeError(f"operation {done.name} on {done.target_link} failed: {text}")
    return done


def seed_cluster(
    url: str,
    project: str,
    region: str = "us-central1",
    zones: Sequence[str] = ("us-central1-a", "us-central1-b"),
    nodes: int = 3,
    cluster: str = "test",
) -> SeededGcp:
    """A custom-mode network, one subnetwork (10.128.0.0/20) and `nodes` instances spread
    over `zones` round-robin, tagged ``<cluster>-node`` as firewall rules target them."""
    networks = client(compute_v1.NetworksClient, url)
    network_name = f"{cluster}-network"
    wait(
        url,
        project,
        networks.insert_unary(
            project=project,
            network_resource=compute_v1.Network(name=network_name, auto_create_subnetworks=False),
        ),
    )
    network = networks.get(project=project, network=network_name).self_link
    subnetworks = client(compute_v1.SubnetworksClient, url)
    subnet_name = f"{cluster}-subnet"
    wait(
        url,
        project,
        subnetworks.insert_unary(
            project=project,
            region=region,
            subnetwork_resource=compute_v1.Subnetwork(
                name=subnet_name, network=network, ip_cidr_range=SUBNET_RANGE
            ),
        ),
    )
    subnetwork = subnetworks.get(project=project, region=region, subnetwork=subnet_name).self_link
    instances = client(compute_v1.InstancesClient, url)
    placed = [(f"{cluster}-node-{i}", zones[i % len(zones)]) for i in range(nodes)]
    ops = [
        instances.insert_unary(
            project=project,
            zone=zone,
            instance_resource=compute_v1.Instance(
                name=name,
                machine_type=f"zones/{zone}/machineTypes/{MACHINE_TYPE}",
                network_interfaces=[
                    compute_v1.NetworkInterface(network=network, subnetwork=subnetwork)
                ],
                tags=compute_v1.Tags(items=[f"{cluster}-node"]),
                labels={"cluster": cluster},
            ),
        )
        for name, zone in placed
    ]
    for op in ops:
        wait(url, project, op)
    made = []
    for name, zone in placed:
        got = instances.get(project=project, zone=zone, instance=name)
        made.append((name, zone, got.network_interfaces[0].network_i_p))
    return SeededGcp(project, region, tuple(zones), network, subnetwork, made, cluster)


def node_objects(
    seeded: SeededGcp, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The Kubernetes Nodes a kubelet on each instance would register, as JSON; `labels`
    are added to (and override) the well-known ones."""
    out: list[dict[str, Any]] = []
    for name, zone, ip in seeded.instances:
        node_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": seeded.region,
            "topology.kubernetes.io/zone": zone,
            "node.kubernetes.io/instance-type": MACHINE_TYPE,
            **(labels or {}),
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": node_labels},
                "spec": {"providerID": f"gce://{seeded.project}/{zone}/{name}"},
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
                        "kernelVersion": "6.1.0",
                        "kubeProxyVersion": KUBELET_VERSION,
                        "kubeletVersion": KUBELET_VERSION,
                        "machineID": "",
                        "operatingSystem": "linux",
                        "osImage": "Container-Optimized OS",
                        "systemUUID": name,
                    },
                },
            }
        )
    return out


def static_address(url: str, project: str, region: str, name: str, internal: bool = False) -> str:
    """Reserve a static IP the way a user would before naming it in loadBalancerIP; an
    internal one comes from the region's first subnetwork (by name)."""
    resource = compute_v1.Address(name=name, address_type="INTERNAL" if internal else "EXTERNAL")
    if internal:
        subnets = client(compute_v1.SubnetworksClient, url).list(project=project, region=region)
        found = sorted(subnets, key=lambda s: s.name)
        if not found:
            raise RuntimeError(f"no subnetwork in {region} to reserve an internal address in")
        resource.subnetwork = found[0].self_link
    addresses = client(compute_v1.AddressesClient, url)
    wait(
        url,
        project,
        addresses.insert_unary(project=project, region=region, address_resource=resource),
    )
    return addresses.get(project=project, region=region, address=name).address

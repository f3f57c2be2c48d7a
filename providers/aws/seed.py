"""Build the AWS world a cluster lives in: VPC, subnets, gateway, node security group, nodes.

The AWS driver needs what a real EKS or kops cluster has around it before it can create a
single load balancer: subnets tagged for ELB discovery, a node security group it may
open NodePorts in, and instances whose IDs the Nodes' providerIDs name. Tests and
`ccm demo` build that world here, through boto3 against whatever endpoint they are given
(moto server, LocalStack, or a FaultProxy in front of either), so the world is made with the
same API calls and tags a real cluster's would be, and the Kubernetes Node objects that
go with it come from the same data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.credentials
import botocore.session
from botocore.client import BaseClient

DEFAULT_AMI = "ami-12c6146b"  # moto's long-standing default image; used when discovery fails
DEFAULT_INSTANCE_TYPE = "m5.large"
KUBELET_VERSION = "v1.32.0"
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"
CLIENT_NAMES = ("ec2", "elbv2", "elb", "resourcegroupstaggingapi")


@dataclass(frozen=True)
class SeededInstance:
    """One node's instance, with what its Kubernetes Node object must say about it."""

    instance_id: str
    az: str
    private_ip: str
    node_name: str  # the private DNS name, as the kubelet registers on EC2
    provider_id: str  # "aws:///us-east-1a/i-..."
    instance_type: str = DEFAULT_INSTANCE_TYPE


@dataclass(frozen=True)
class SeededCluster:
    region: str
    vpc_id: str
    public_subnets: tuple[str, ...]  # one per AZ, in the order of the AZs given
    private_subnets: tuple[str, ...]
    node_security_group: str
    instances: tuple[SeededInstance, ...]
    internet_gateway: str = ""


def cluster_tag(cluster: str) -> str:
    return f"{CLUSTER_TAG_PREFIX}{cluster}"


def _tags(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """TagSpecifications, so every resource is tagged by the call that creates it."""
    return [
        {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    ]


def _discover_image(ec2: BaseClient) -> str:
    """An AMI the endpoint knows, so emulators that validate ImageId accept the instances.

    The name filter keeps moto from serialising its whole catalogue (seconds per call).
    """
    try:
        images = ec2.describe_images(
            Owners=["amazon"],
            Filters=[
                {"Name": "name", "Values": ["amzn2-ami-*"]},
                {"Name": "architecture", "Values": ["x86_64"]},
            ],
        )["Images"]
        if not images:
            images = ec2.describe_images(Owners=["amazon"])["Images"]
    except Exception:  # an emulator without the image catalogue: the default works on moto
        return DEFAULT_AMI
    return str(images[0]["ImageId"]) if images else DEFAULT_AMI


def _dns_name(ip: str, region: str) -> str:
    """EC2's private DNS name for an address: ip-10-0-1-5.ec2.internal in us-east-1."""
    host = "ip-" + ip.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"


def instance_of(inst: Mapping[str, Any], region: str, az: str = "") -> SeededInstance:
    """An EC2 DescribeInstances/RunInstances entry as the node it backs."""
    instance_id = str(inst["InstanceId"])
    ip = str(inst["PrivateIpAddress"])
    zone = az or str(inst["Placement"]["AvailabilityZone"])
    return SeededInstance(
        instance_id=instance_id,
        az=zone,
        private_ip=ip,
        node_name=str(inst.get("PrivateDnsName") or _dns_name(ip, region)),
        provider_id=f"aws:///{zone}/{instance_id}",
        instance_type=str(inst.get("InstanceType") or DEFAULT_INSTANCE_TYPE),
    )


def start_moto() -> tuple[Any, str]:
    """An in-process moto server on a free port, reset (its backends are process-wide)."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    url = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"))
    return server, url


def seed_cluster(
    ec2_client: BaseClient,
    cluster: str,
    azs: Sequence[str] = ("us-east-1a", "us-east-1b"),
    nodes: int = 3,
    *,
    image_id: str | None = None,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
) -> SeededCluster:
    """Create the VPC, subnets, gateway, node security group and `nodes` instances.

    Subnets: per AZ (index i) a public 10.0.(101+i).0/24 with `kubernetes.io/role/elb`, a
    route to the internet gateway and a public-IP-on-launch default, and a private
    10.0.(1+i).0/24 with `kubernetes.io/role/internal-elb`; both carry the cluster tag
    `shared`, as subnets that other clusters may use do. The VPC, security group and
    instances are `owned`. Instances are spread round-robin over the AZs' private subnets.
    Not idempotent: every call builds a new VPC.
    """
    if not azs:
        raise ValueError("azs: at least one availability zone is needed")
    if len(azs) > 99:
        raise ValueError("azs: at most 99 availability zones fit the subnet plan")
    ec2 = ec2_client
    region = str(ec2.meta.region_name)
    tag = cluster_tag(cluster)

    vpc_id = str(
        ec2.create_vpc(
            CidrBlock="10.0.0.0/16",
            TagSpecifications=_tags("vpc", {tag: "owned", "Name": f"{cluster}-vpc"}),
        )["Vpc"]["VpcId"]
    )
    igw_id = str(
        ec2.create_internet_gateway(
            TagSpecifications=_tags("internet-gateway", {tag: "owned", "Name": f"{cluster}-igw"})
        )["InternetGateway"]["InternetGatewayId"]
    )
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    public_rt = str(
        ec2.create_route_table(
            VpcId=vpc_id,
            TagSpecifications=_tags("route-table", {tag: "owned", "Name": f"{cluster}-public"}),
        )["RouteTable"]["RouteTableId"]
    )
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)

    public: list[str] = []
    private: list[str] = []
    for i, az in enumerate(azs):
        pub = str(
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=f"10.0.{101 + i}.0/24",
                AvailabilityZone=az,
                TagSpecifications=_tags(
                    "subnet", {tag: "shared", ELB_ROLE_TAG: "1", "Name": f"{cluster}-public-{az}"}
                ),
            )["Subnet"]["SubnetId"]
        )
        ec2.modify_subnet_attribute(SubnetId=pub, MapPublicIpOnLaunch={"Value": True})
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=pub)
        public.append(pub)
        private.append(
            str(
                ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=f"10.0.{1 + i}.0/24",
                    AvailabilityZone=az,
                    TagSpecifications=_tags(
                        "subnet",
                        {
                            tag: "shared",
                            INTERNAL_ELB_ROLE_TAG: "1",
                            "Name": f"{cluster}-private-{az}",
                        },
                    ),
                )["Subnet"]["SubnetId"]
            )
        )

    sg_id = str(
        ec2.create_security_group(
            GroupName=f"{cluster}-nodes",
            Description=f"nodes of cluster {cluster}",
            VpcId=vpc_id,
            TagSpecifications=_tags("security-group", {tag: "owned", "Name": f"{cluster}-nodes"}),
        )["GroupId"]
    )

    image = image_id or _discover_image(ec2)
    instances: list[SeededInstance] = []
    for n in range(nodes):
        az = azs[n % len(azs)]
        reservation = ec2.run_instances(
            ImageId=image,
            InstanceType=instance_type,
            MinCount=1,
            MaxCount=1,
            SubnetId=private[n % len(azs)],
            SecurityGroupIds=[sg_id],
            TagSpecifications=_tags("instance", {tag: "owned", "Name": f"{cluster}-node-{n}"}),
        )
        instances.append(instance_of(reservation["Instances"][0], region, az))
    return SeededCluster(
        region=region,
        vpc_id=vpc_id,
        public_subnets=tuple(public),
        private_subnets=tuple(private),
        node_security_group=sg_id,
        instances=tuple(instances),
        internet_gateway=igw_id,
    )


def node_objects(
    seeded: SeededCluster, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The Kubernetes Nodes a kubelet on each instance would register, as JSON.

    Every field the official client's models require is filled, so the objects also read
    back through its typed API; `labels` are added to (and override) the well-known ones.
    """
    out: list[dict[str, Any]] = []
    for inst in seeded.instances:
        node_labels = {
            "kubernetes.io/hostname": inst.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": seeded.region,
            "topology.kubernetes.io/zone": inst.az,
            "node.kubernetes.io/instance-type": inst.instance_type,
            **(labels or {}),
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": inst.node_name, "labels": node_labels},
                "spec": {"providerID": inst.provider_id},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": inst.private_ip},
                        {"type": "InternalDNS", "address": inst.node_name},
                        {"type": "Hostname", "address": inst.node_name},
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
                        "osImage": "Amazon Linux 2023",
                        "systemUUID": inst.instance_id,
                    },
                },
            }
        )
    return out


def _has_credentials() -> bool:
    """Credentials from env, shared files or config, without asking instance metadata
    (which, off EC2, costs seconds of timeouts before it answers "none")."""
    resolver = botocore.credentials.create_credential_resolver(botocore.session.Session())
    for method in ("container-role", "iam-role"):
        resolver.remove(method)  # a no-op when absent
    try:
        return resolver.load_credentials() is not None
    except Exception:  # a broken profile is still "credentials the user meant to use"
        return True


def aws_clients(
    endpoint_url: str | None, region: str, *, config: Any = None
) -> dict[str, BaseClient]:
    """The clients the driver uses, keyed "ec2", "elbv2", "elb", "resourcegroupstaggingapi".

    With an endpoint (an emulator) and no credentials configured, dummy ones are used,
    since emulators accept any; against real AWS the usual credential chain applies.
    """
    kwargs: dict[str, Any] = {"region_name": region}
    if config is not None:
        kwargs["config"] = config
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if not _has_credentials():
            kwargs.update(aws_access_key_id="test", aws_secret_access_key="test")
    session = boto3.session.Session()
    return {name: session.client(name, **kwargs) for name in CLIENT_NAMES}


# ---------------------------------------------------------------- leak-detector fixtures


def seed_legacy_clb(
    clients: Mapping[str, Any], seeded: SeededCluster, cluster: str, namespace: str, name: str
) -> str:
    """A Classic ELB as the in-tree controller makes it: named "a" + the Service UID
    without dashes (32 characters), tagged with the cluster tag and the Service's name."""
    import hashlib

    lb_name = "a" + hashlib.sha256(f"{cluster}/{namespace}/{name}".encode()).hexdigest()[:31]
    clients["elb"].create_load_balancer(
        LoadBalancerName=lb_name,
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=list(seeded.public_subnets),
        Tags=[
            {"Key": cluster_tag(cluster), "Value": "owned"},
            {"Key": "kubernetes.io/service-name", "Value": f"{namespace}/{name}"},
        ],
    )
    return lb_name


def _nlb(clients: Mapping[str, Any], seeded: SeededCluster, name: str, tags: dict[str, str]) -> str:
    extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    lb = clients["elbv2"].create_load_balancer(
        Name=name, Type="network", Subnets=list(seeded.public_subnets), **extra
    )
    return str(lb["LoadBalancers"][0]["LoadBalancerArn"])


def seed_decoys(clients: Mapping[str, Any], seeded: SeededCluster, cluster: str) -> dict[str, str]:
    """Resources the leak detector must never delete, by role: an untagged NLB, another
    cluster's fully tagged NLB, one of ours for a Service that does not exist but tagged
    ccm.dev/keep=true, and a security group and an EIP that carry our cluster's tags (as
    a user copying tags might) and that a Service names in its annotations."""
    ours = {
        cluster_tag(cluster): "owned",
        "ccm.dev/cluster": cluster,
        "ccm.dev/managed-by": "ccm",
    }
    gone_owner = {
        "ccm.dev/service-uid": "00000000-dead-4000-8000-000000000000",
        "kubernetes.io/service-name": "default/long-gone",
        "ccm.dev/identity": "abcdef",
        "ccm.dev/resource": "load-balancer",
    }
    other = "other-cluster"
    made = {
        "untagged_lb": _nlb(clients, seeded, "decoy-untagged", {}),
        "other_cluster_lb": _nlb(
            clients,
            seeded,
            "decoy-other-cluster",
            {cluster_tag(other): "owned", "ccm.dev/cluster": other, **gone_owner},
        ),
        "kept_lb": _nlb(
            clients, seeded, "decoy-kept", {**ours, **gone_owner, "ccm.dev/keep": "true"}
        ),
    }
    ec2 = clients["ec2"]
    made["user_sg"] = str(
        ec2.create_security_group(
            GroupName="decoy-user-sg",
            Description="a user's group that looks like ours",
            VpcId=seeded.vpc_id,
            TagSpecifications=_tags("security-group", ours),
        )["GroupId"]
    )
    made["user_eip"] = str(
        ec2.allocate_address(Domain="vpc", TagSpecifications=_tags("elastic-ip", ours))[
            "AllocationId"
        ]
    )
    return made

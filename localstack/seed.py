"""Seed (or read back) a cluster's AWS world on an emulator, and write its Kubernetes Nodes.

Run from the repository root, against LocalStack (or moto server):

    uv run python localstack/seed.py --existing --nodes-out demo-nodes.json   # the hook's cluster
    uv run python localstack/seed.py --cluster-name other --nodes-out other-nodes.json  # a new one

Without --existing it calls providers.aws.seed.seed_cluster, which builds a new VPC, tagged
subnets, an internet gateway, a node security group and instances. With --existing it finds
what init/ready.d/10-seed-cluster.sh (or an earlier run) built for the cluster, by its tags.
Either way it prints the ids and writes the Nodes, from providers.aws.seed.node_objects, one
JSON object a line, which `kubectl create -f FILE` registers in `ccm sandbox`. (Not a `v1 List`:
kubectl validates a List against the server's OpenAPI, which the sandbox does not serve fully.)

The endpoint is --endpoint-url or $AWS_ENDPOINT_URL, and there is no default: this tool never
talks to real AWS. With no credentials configured, dummy ones are used (account 000000000000 on
LocalStack, the account the init hook seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from providers.aws.seed import (
    ELB_ROLE_TAG,
    INTERNAL_ELB_ROLE_TAG,
    SeededCluster,
    SeededInstance,
    aws_clients,
    cluster_tag,
    instance_of,
    node_objects,
    seed_cluster,
)

DEFAULT_AZS = ("us-east-1a", "us-east-1b")


class SeedError(Exception):
    """A problem to report in one line, without a traceback."""


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def _vpcs(ec2: BaseClient, cluster: str) -> list[str]:
    vpcs = ec2.describe_vpcs(
        Filters=[{"Name": f"tag:{cluster_tag(cluster)}", "Values": ["owned"]}]
    )["Vpcs"]
    return sorted(str(v["VpcId"]) for v in vpcs)


def read_existing(ec2: BaseClient, cluster: str, azs: Sequence[str] | None) -> SeededCluster:
    """The SeededCluster already built for `cluster`, found by the tags seed_cluster gives."""
    tag = cluster_tag(cluster)
    vpcs = _vpcs(ec2, cluster)
    if not vpcs:
        raise SeedError(
            f"no VPC tagged {tag}=owned: the cluster {cluster!r} is not seeded "
            "(is the init hook done? drop --existing to seed it here)"
        )
    if len(vpcs) > 1:
        raise SeedError(f"{len(vpcs)} VPCs are tagged {tag}=owned ({', '.join(vpcs)}): keep one")
    vpc = vpcs[0]
    in_vpc = {"Name": "vpc-id", "Values": [vpc]}
    subnets = ec2.describe_subnets(
        Filters=[in_vpc, {"Name": f"tag:{tag}", "Values": ["owned", "shared"]}]
    )["Subnets"]
    order = list(azs) if azs else sorted({str(s["AvailabilityZone"]) for s in subnets})

    def by_role(role: str) -> tuple[str, ...]:
        found = {
            str(s["AvailabilityZone"]): str(s["SubnetId"]) for s in subnets if role in _tags(s)
        }
        return tuple(found[az] for az in order if az in found)

    groups = ec2.describe_security_groups(
        Filters=[in_vpc, {"Name": "group-name", "Values": [f"{cluster}-nodes"]}]
    )["SecurityGroups"]
    if not groups:
        raise SeedError(f"no security group {cluster}-nodes in {vpc}")
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}]
    )["InternetGateways"]
    region = str(ec2.meta.region_name)
    instances: list[SeededInstance] = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            in_vpc,
            {"Name": f"tag:{tag}", "Values": ["owned"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    # in the order the nodes were made: by their Name tag's index, then by id
    for inst in sorted(
        found, key=lambda i: (_node_index(_tags(i).get("Name", "")), i["InstanceId"])
    ):
        instances.append(instance_of(inst, region))
    return SeededCluster(
        region=region,
        vpc_id=vpc,
        public_subnets=by_role(ELB_ROLE_TAG),
        private_subnets=by_role(INTERNAL_ELB_ROLE_TAG),
        node_security_group=str(groups[0]["GroupId"]),
        instances=tuple(instances),
        internet_gateway=str(gateways[0]["InternetGatewayId"]) if gateways else "",
    )


def _node_index(name: str) -> int:
    _, _, tail = name.rpartition("-node-")
    return int(tail) if tail.isdigit() else sys.maxsize


def summary(cluster: str, seeded: SeededCluster) -> str:
    rows = [
        ("cluster", cluster),
        ("region", seeded.region),
        ("vpc", seeded.vpc_id),
        ("internet-gateway", seeded.internet_gateway or "-"),
        ("public-subnets", " ".join(seeded.public_subnets) or "-"),
        ("private-subnets", " ".join(seeded.private_subnets) or "-"),
        ("node-security-group", seeded.node_security_group),
    ]
    rows += [
        ("instance", f"{i.instance_id} {i.az} {i.private_ip} {i.node_name}")
        for i in seeded.instances
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="localstack/seed.py",
        description="Seed a cluster's VPC, subnets, gateway, node security group and instances "
        "on an AWS emulator (or read back an existing one), print the ids and write its Nodes.",
    )
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="emulator endpoint, e.g. http://localhost:4566 (default $AWS_ENDPOINT_URL; required)",
    )
    p.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="region (default $AWS_REGION, $AWS_DEFAULT_REGION, then us-east-1)",
    )
    p.add_argument(
        "--cluster-name",
        default=os.environ.get("CCM_CLUSTER_NAME") or "demo",
        help="cluster id in the kubernetes.io/cluster/<name> tags "
        "(default $CCM_CLUSTER_NAME, then demo)",
    )
    p.add_argument(
        "--azs",
        default=os.environ.get("CCM_SEED_AZS") or None,
        help="availability zones, comma-separated (default $CCM_SEED_AZS, then "
        "us-east-1a,us-east-1b; with --existing, every zone the cluster's subnets are in)",
    )
    p.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ.get("CCM_SEED_NODES") or 3),
        help="instances to launch (default $CCM_SEED_NODES, 3)",
    )
    p.add_argument(
        "--image-id",
        default=os.environ.get("CCM_SEED_IMAGE_ID") or None,
        help="AMI for the instances (default: one the endpoint lists)",
    )
    p.add_argument(
        "--existing",
        action="store_true",
        help="seed nothing: read back the cluster already seeded (by the init hook)",
    )
    p.add_argument(
        "--nodes-out",
        default=None,
        metavar="FILE",
        help="where to write the Nodes, one JSON object a line "
        "(default ./<cluster>-nodes.json; - for stdout)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prog = "localstack/seed.py"
    if not args.endpoint_url:
        print(
            f"{prog}: set --endpoint-url or $AWS_ENDPOINT_URL (e.g. http://localhost:4566); "
            "this tool does not talk to real AWS",
            file=sys.stderr,
        )
        return 2
    azs = [a.strip() for a in (args.azs or "").split(",") if a.strip()]
    ec2 = aws_clients(args.endpoint_url, args.region)["ec2"]
    try:
        if args.existing:
            seeded = read_existing(ec2, args.cluster_name, azs)
        else:
            if args.nodes < 0:
                raise SeedError("--nodes: must be 0 or more")
            vpcs = _vpcs(ec2, args.cluster_name)
            if vpcs:
                raise SeedError(
                    f"cluster {args.cluster_name!r} is seeded already ({', '.join(vpcs)}): "
                    "a second VPC with its tags would make the driver's subnet discovery fail; use "
                    "--existing, or another --cluster-name"
                )
            seeded = seed_cluster(
                ec2,
                args.cluster_name,
                azs or DEFAULT_AZS,
                args.nodes,
                image_id=args.image_id,
            )
    except SeedError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # seed_cluster's own checks (zones)
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    text = "".join(json.dumps(node, sort_keys=True) + "\n" for node in node_objects(seeded))
    out = args.nodes_out or f"{args.cluster_name}-nodes.json"
    if out == "-":
        sys.stdout.write(text)
        print(summary(args.cluster_name, seeded), file=sys.stderr)
        return 0
    Path(out).write_text(text)
    print(summary(args.cluster_name, seeded))
    print(f"{len(seeded.instances)} Nodes written to {out}: kubectl create -f {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

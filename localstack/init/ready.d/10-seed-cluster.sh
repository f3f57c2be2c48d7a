#!/bin/bash
# LocalStack READY hook: build the AWS world ccm's AWS driver expects around a cluster, the same
# world providers/aws/seed.py's seed_cluster() builds (same CIDRs, tags and names), with awslocal,
# because the LocalStack image has the AWS CLI but not this project's Python dependencies.
#
#   VPC 10.0.0.0/16, an internet gateway and a public route table;
#   per AZ (index i): public subnet 10.0.(101+i).0/24 tagged kubernetes.io/role/elb=1 and
#   private subnet 10.0.(1+i).0/24 tagged kubernetes.io/role/internal-elb=1, both tagged
#   kubernetes.io/cluster/<cluster>=shared;
#   security group <cluster>-nodes and CCM_SEED_NODES instances spread over the private subnets,
#   all tagged kubernetes.io/cluster/<cluster>=owned.
#
# Settings (from the container's environment, see ../../docker-compose.yml):
#   CCM_CLUSTER_NAME (demo), CCM_SEED_REGION (us-east-1), CCM_SEED_AZS (us-east-1a,us-east-1b),
#   CCM_SEED_NODES (3), CCM_SEED_IMAGE_ID (discovered), CCM_SEED_INSTANCE_TYPE (m5.large).
#
# Idempotent: if a VPC tagged for the cluster exists already (persisted state), nothing is made,
# since a second VPC with the same cluster tags would make the driver's subnet discovery fail.
# A non-zero exit marks the hook ERROR in /_localstack/init/ready, which the healthcheck reports.
set -euo pipefail

# Since LocalStack 4, init hooks get no default credentials. "test" maps to account
# 000000000000, the account boto3 with dummy credentials (ccm, seed.py) lands in too.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${CCM_SEED_REGION:-us-east-1}"

cluster="${CCM_CLUSTER_NAME:-demo}"
azs_csv="${CCM_SEED_AZS:-us-east-1a,us-east-1b}"
nodes="${CCM_SEED_NODES:-3}"
image="${CCM_SEED_IMAGE_ID:-}"
instance_type="${CCM_SEED_INSTANCE_TYPE:-m5.large}"
tag="kubernetes.io/cluster/${cluster}"

log() { printf 'ccm-seed: %s\n' "$*"; }
fail() { log "error: $*" >&2; exit 1; }

[[ "$cluster" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
    fail "CCM_CLUSTER_NAME=${cluster@Q}: use letters, digits, '.', '_' and '-'"
[[ "$nodes" =~ ^[0-9]+$ ]] || fail "CCM_SEED_NODES=${nodes@Q} is not a number"
IFS=',' read -r -a azs <<<"$azs_csv"
((${#azs[@]} >= 1)) || fail "CCM_SEED_AZS: at least one availability zone is needed"
((${#azs[@]} <= 99)) || fail "CCM_SEED_AZS: at most 99 availability zones fit the subnet plan"
for az in "${azs[@]}"; do
    [[ "$az" =~ ^[a-z0-9-]+$ ]] || fail "CCM_SEED_AZS: ${az@Q} is not an availability zone name"
done

aws_() { awslocal --output text "$@"; }

# TagSpecifications as JSON (tag keys hold '/' and '.'): tagspec TYPE KEY=VALUE...
tagspec() {
    local type="$1" kv out=""
    shift
    for kv in "$@"; do
        out+="${out:+,}{\"Key\":\"${kv%%=*}\",\"Value\":\"${kv#*=}\"}"
    done
    printf '[{"ResourceType":"%s","Tags":[%s]}]' "$type" "$out"
}

# Filters as JSON: filters NAME=VALUE...
filters() {
    local kv out=""
    for kv in "$@"; do
        out+="${out:+,}{\"Name\":\"${kv%%=*}\",\"Values\":[\"${kv#*=}\"]}"
    done
    printf '[%s]' "$out"
}

existing="$(aws_ ec2 describe-vpcs --filters "$(filters "tag:${tag}=owned")" --query 'Vpcs[0].VpcId')"
if [[ -n "$existing" && "$existing" != "None" ]]; then
    log "cluster ${cluster} already seeded (vpc ${existing}); nothing to do"
    exit 0
fi

vpc="$(aws_ ec2 create-vpc --cidr-block 10.0.0.0/16 \
    --tag-specifications "$(tagspec vpc "${tag}=owned" "Name=${cluster}-vpc")" \
    --query Vpc.VpcId)"
igw="$(aws_ ec2 create-internet-gateway \
    --tag-specifications "$(tagspec internet-gateway "${tag}=owned" "Name=${cluster}-igw")" \
    --query InternetGateway.InternetGatewayId)"
aws_ ec2 attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$vpc" >/dev/null
rt="$(aws_ ec2 create-route-table --vpc-id "$vpc" \
    --tag-specifications "$(tagspec route-table "${tag}=owned" "Name=${cluster}-public")" \
    --query RouteTable.RouteTableId)"
aws_ ec2 create-route --route-table-id "$rt" --destination-cidr-block 0.0.0.0/0 \
    --gateway-id "$igw" >/dev/null

public=()
private=()
for i in "${!azs[@]}"; do
    az="${azs[$i]}"
    pub="$(aws_ ec2 create-subnet --vpc-id "$vpc" --cidr-block "10.0.$((101 + i)).0/24" \
        --availability-zone "$az" \
        --tag-specifications "$(tagspec subnet "${tag}=shared" "kubernetes.io/role/elb=1" \
            "Name=${cluster}-public-${az}")" \
        --query Subnet.SubnetId)"
    aws_ ec2 modify-subnet-attribute --subnet-id "$pub" --map-public-ip-on-launch >/dev/null
    aws_ ec2 associate-route-table --route-table-id "$rt" --subnet-id "$pub" >/dev/null
    public+=("$pub")
    priv="$(aws_ ec2 create-subnet --vpc-id "$vpc" --cidr-block "10.0.$((1 + i)).0/24" \
        --availability-zone "$az" \
        --tag-specifications "$(tagspec subnet "${tag}=shared" "kubernetes.io/role/internal-elb=1" \
            "Name=${cluster}-private-${az}")" \
        --query Subnet.SubnetId)"
    private+=("$priv")
done

sg="$(aws_ ec2 create-security-group --group-name "${cluster}-nodes" \
    --description "nodes of cluster ${cluster}" --vpc-id "$vpc" \
    --tag-specifications "$(tagspec security-group "${tag}=owned" "Name=${cluster}-nodes")" \
    --query GroupId)"

# An AMI the endpoint knows (as seed.py's discovery does); the name filter keeps the answer small.
if [[ -z "$image" ]]; then
    image="$(aws_ ec2 describe-images --owners amazon \
        --filters "$(filters "name=amzn2-ami-*" "architecture=x86_64")" \
        --query 'Images[0].ImageId' 2>/dev/null || true)"
fi
if [[ -z "$image" || "$image" == "None" ]]; then
    image="$(aws_ ec2 describe-images --owners amazon --query 'Images[0].ImageId' \
        2>/dev/null || true)"
fi
if [[ -z "$image" || "$image" == "None" ]]; then
    image="ami-12c6146b"
fi

instances=()
for ((n = 0; n < nodes; n++)); do
    k=$((n % ${#azs[@]}))
    out="$(aws_ ec2 run-instances --image-id "$image" --instance-type "$instance_type" \
        --count 1 --subnet-id "${private[$k]}" --security-group-ids "$sg" \
        --tag-specifications "$(tagspec instance "${tag}=owned" "Name=${cluster}-node-${n}")" \
        --query 'Instances[0].[InstanceId,PrivateIpAddress,PrivateDnsName]')"
    read -r id ip dns <<<"$out"
    instances+=("${id} ${azs[$k]} ${ip} ${dns}")
done

log "seeded cluster ${cluster} in ${AWS_DEFAULT_REGION}"
log "vpc ${vpc}"
log "internet-gateway ${igw}"
log "public-subnets ${public[*]}"
log "private-subnets ${private[*]}"
log "node-security-group ${sg}"
for line in "${instances[@]}"; do
    log "instance ${line}"
done

"""Seed the local stand-in with a demo EKS account shaped like the one in the seed documents:
cluster ``demo`` in ap-northeast-2 with its cluster, control-plane, node, bastion and
load-balancer security groups. Resource ids are deterministic (the stand-in's random generator
is seeded first), so the files in ``events/`` name real ids of this account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

DEMO_REGION = "ap-northeast-2"
DEMO_CLUSTER = "demo"
OFFICE_CIDR = "203.0.113.0/24"
RANDOM_SEED = 20261122


@dataclass(frozen=True)
class DemoAccount:
    vpc_id: str
    cluster_sg: str
    control_plane_sg: str
    node_sg: str
    bastion_sg: str
    lb_sg: str
    ci_runner_sg: str
    legacy_sg: str
    batch_sg: str
    launch_template_id: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def seed_demo(session: boto3.session.Session) -> DemoAccount:
    ec2 = session.client("ec2", region_name=DEMO_REGION)
    eks = session.client("eks", region_name=DEMO_REGION)
    iam = session.client("iam", region_name=DEMO_REGION)
    account = session.client("sts", region_name=DEMO_REGION).get_caller_identity()["Account"]

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{DEMO_REGION}{az}")["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.1.0/24", "a"), ("10.0.2.0/24", "c"))
    ]

    def group(name: str, description: str, tags: dict[str, str] | None = None, vpc_id: str | None = vpc) -> str:
        spec: dict[str, Any] = {"GroupName": name, "Description": description}
        if vpc_id:
            spec["VpcId"] = vpc_id
        if tags:
            spec["TagSpecifications"] = [{"ResourceType": "security-group",
                                          "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        return str(ec2.create_security_group(**spec)["GroupId"])

    cluster_sg = group("eks-cluster-sg-demo-1234567890", "EKS created security group applied to ENI that is "
                       "attached to EKS Control Plane master nodes, as well as any managed workloads.",
                       {"aws:eks:cluster-name": DEMO_CLUSTER, f"kubernetes.io/cluster/{DEMO_CLUSTER}": "owned"})
    control_plane = group("demo-control-plane", "Cluster communication with worker nodes")
    nodes = group("demo-nodes", "Security group for all nodes in the cluster")
    bastion = group("demo-bastion", "SSH bastion for kubectl")
    lb = group("k8s-demo-web-3f2a1b", "[k8s] Managed SecurityGroup for LoadBalancer",
               {"elbv2.k8s.aws/cluster": DEMO_CLUSTER, "elbv2.k8s.aws/resource": "ManagedLBSecurityGroup"})
    ci_runner = group("demo-ci-runner", "CI runner with a temporary exemption",
                      {"eksguard:exempt": "true"})
    legacy = group("legacy-web", "Default-VPC group outside any cluster network", vpc_id=None)
    batch = group("demo-batch", "Batch workers; their exemption ran out", {"eksguard:exempt": "2025-06-30"})

    def ingress(group_id: str, port: int | None, source: str, protocol: str = "tcp",
                description: str = "") -> None:
        perm: dict[str, Any] = {"IpProtocol": protocol}
        if port is not None:
            perm.update(FromPort=port, ToPort=port)
        if source.startswith("sg-"):
            perm["UserIdGroupPairs"] = [{"GroupId": source, "Description": description}]
        else:
            perm["IpRanges"] = [{"CidrIp": source, "Description": description}]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[perm])

    ingress(cluster_sg, None, cluster_sg, protocol="-1", description="self: control plane <-> nodes")
    ingress(control_plane, 443, bastion, description="kubectl from the bastion")
    ingress(control_plane, 443, nodes, description="nodes to the API server")
    ingress(nodes, 10250, control_plane, description="kubelet from the control plane")
    ingress(nodes, None, nodes, protocol="-1", description="node to node")
    ingress(bastion, 22, OFFICE_CIDR, description="office SSH")
    ingress(lb, 443, "0.0.0.0/0", description="HTTPS listener")
    ingress(lb, 80, "0.0.0.0/0", description="HTTP listener (redirects to HTTPS)")

    role = iam.create_role(RoleName="demo-cluster-role", AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},'
        '"Action":"sts:AssumeRole"}]}'))["Role"]["Arn"]
    eks.create_cluster(name=DEMO_CLUSTER, roleArn=role, version="1.31",
                       resourcesVpcConfig={"subnetIds": subnets, "securityGroupIds": [control_plane],
                                           "endpointPublicAccess": True, "endpointPrivateAccess": False})
    lt = ec2.create_launch_template(
        LaunchTemplateName="demo-nodes",
        LaunchTemplateData={"SecurityGroupIds": [nodes], "InstanceType": "t3.large",
                            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    eks.create_nodegroup(clusterName=DEMO_CLUSTER, nodegroupName="demo-ng", subnets=subnets,
                         nodeRole=f"arn:aws:iam::{account}:role/demo-node-role",
                         launchTemplate={"id": lt, "version": "1"},
                         scalingConfig={"minSize": 2, "maxSize": 4, "desiredSize": 2})
    return DemoAccount(vpc, cluster_sg, control_plane, nodes, bastion, lb, ci_runner, legacy, batch, lt)

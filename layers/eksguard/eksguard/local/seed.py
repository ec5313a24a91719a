"""Seed the local stand-in with a demo EKS account shaped like the one in the seed documents:
cluster ``demo`` in ap-northeast-2 with its cluster, control-plane, node, bastion and
load-balancer security groups. Resource ids are deterministic (the stand-in's random generator
is seeded first), so the files in ``events/`` name real ids of this account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3

from eksguard import clock

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
    expired = (clock.today() - timedelta(days=30)).isoformat()
    batch = group("demo-batch", "Batch workers; their exemption ran out", {"eksguard:exempt": expired})

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


# -- Cluster posture (the cluster chapter of the demo, the cluster guard's events) ------------------------
# Seeded right after seed_demo on a fresh stand-in, so these ids are deterministic too.
LEGACY_CLUSTER = "legacy"
LEGACY_NODEGROUP = "legacy-ng"
CONTRACTOR_ROLE = "contractor-admin"
NODE_AMI = "ami-03cf127a"  # one of the stand-in's built-in images


@dataclass(frozen=True)
class PostureAccount:
    cluster: str
    nodegroup: str
    launch_template_id: str
    node_instance_id: str
    contractor_role_arn: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def seed_cluster_posture(session: boto3.session.Session, acct: DemoAccount) -> PostureAccount:
    """A second cluster made the quick way: public endpoint open to the world, control-plane logging off,
    secrets unencrypted, nodes launched from a template that allows IMDSv1 with hop limit 2."""
    ec2 = session.client("ec2", region_name=DEMO_REGION)
    eks = session.client("eks", region_name=DEMO_REGION)
    iam = session.client("iam", region_name=DEMO_REGION)
    account = session.client("sts", region_name=DEMO_REGION).get_caller_identity()["Account"]
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [acct.vpc_id]}])["Subnets"])
    role = f"arn:aws:iam::{account}:role/demo-cluster-role"
    eks.create_cluster(name=LEGACY_CLUSTER, roleArn=role, version="1.29",
                       resourcesVpcConfig={"subnetIds": subnets, "securityGroupIds": [acct.control_plane_sg],
                                           "endpointPublicAccess": True, "endpointPrivateAccess": False},
                       logging={"clusterLogging": [{"types": ["api", "audit", "authenticator", "controllerManager",
                                                              "scheduler"], "enabled": False}]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    lt = ec2.create_launch_template(
        LaunchTemplateName="legacy-nodes",
        LaunchTemplateData={"SecurityGroupIds": [acct.node_sg], "InstanceType": "m5.large",
                            "MetadataOptions": {"HttpTokens": "optional", "HttpPutResponseHopLimit": 2,
                                                "HttpEndpoint": "enabled"}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    eks.create_nodegroup(clusterName=LEGACY_CLUSTER, nodegroupName=LEGACY_NODEGROUP, subnets=subnets,
                         nodeRole=f"arn:aws:iam::{account}:role/demo-node-role",
                         launchTemplate={"id": lt, "version": "$Default"},
                         scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 1})
    node = ec2.run_instances(
        ImageId=NODE_AMI, MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=subnets[0],
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "eks:cluster-name", "Value": LEGACY_CLUSTER},
            {"Key": "eks:nodegroup-name", "Value": LEGACY_NODEGROUP},
            {"Key": f"kubernetes.io/cluster/{LEGACY_CLUSTER}", "Value": "owned"}]}],
    )["Instances"][0]["InstanceId"]
    contractor = iam.create_role(RoleName=CONTRACTOR_ROLE, AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::'
        f'{account}:root"}},"Action":"sts:AssumeRole"}}]}}'))["Role"]["Arn"]
    return PostureAccount(LEGACY_CLUSTER, LEGACY_NODEGROUP, lt, node, contractor)


# -- IRSA (the IRSA chapter of the demo, the IRSA guard's events) -----------------------------------------
# Seeded after seed_demo, right after the id generator is re-seeded with IRSA_RANDOM_SEED, so the issuer
# ids and role ids the iam-*.json events name hold whatever ran in between.
IAM_REGION = "us-east-1"  # where IAM events are delivered
IRSA_RANDOM_SEED = 20261123
PAYMENTS_CLUSTER = "payments"
EKS_CA_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"  # the root CA of the EKS OIDC endpoints
HMJ_POLICY = "HMJ-EKS-USER-POLICY"
HMJ_USER = "hmj-eks-user"


@dataclass(frozen=True)
class IrsaAccount:
    account: str
    demo_issuer: str  # oidc.eks.<region>.amazonaws.com/id/<ID> of cluster demo
    payments_old_issuer: str  # cluster payments before it was recreated
    payments_issuer: str  # cluster payments now (no IAM OIDC provider yet)
    aws_node_role: str  # the seed document's aws-node role: aud typo sts.amazon.com
    wildcard_role: str  # sub system:serviceaccount:*:*, tagged eksguard:service-account=app/api
    unknown_sa_role: str  # no sub, no tag: alert only
    stale_role: str  # still on payments' old issuer, tagged eksguard:cluster=payments
    node_role: str
    ci_role: str
    hmj_policy_arn: str
    hmj_user: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def irsa_trust(account: str, issuer: str, aud: str | None, sub: str | None, sub_op: str = "StringEquals"
               ) -> str:
    """A trust policy as the EKS docs (and the seed documents) write it, JSON text."""
    import json  # here, not at the top: this part of the module is appended to a shared file
    conditions: dict[str, dict[str, str]] = {}
    if aud is not None:
        conditions.setdefault("StringEquals", {})[f"{issuer}:aud"] = aud
    if sub is not None:
        conditions.setdefault(sub_op, {})[f"{issuer}:sub"] = sub
    statement: dict[str, Any] = {"Effect": "Allow",
                                 "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{issuer}"},
                                 "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


def seed_irsa(session: boto3.session.Session) -> IrsaAccount:
    """IRSA roles of the demo account, each with one of the classic mistakes, plus a cluster that was
    recreated (its roles left on the old issuer) and the IAM posture EK-005 / EK-007 look at."""
    import json
    eks = session.client("eks", region_name=DEMO_REGION)
    iam = session.client("iam", region_name=IAM_REGION)
    account = session.client("sts", region_name=DEMO_REGION).get_caller_identity()["Account"]
    demo = eks.describe_cluster(name=DEMO_CLUSTER)["cluster"]

    def issuer_of(cluster: dict[str, Any]) -> str:
        return str(cluster["identity"]["oidc"]["issuer"]).removeprefix("https://")

    def provider(issuer: str) -> None:
        iam.create_open_id_connect_provider(Url=f"https://{issuer}", ClientIDList=["sts.amazonaws.com"],
                                           ThumbprintList=[EKS_CA_THUMBPRINT])

    def role(name: str, trust: str, tags: dict[str, str] | None = None, policies: tuple[str, ...] = ()) -> str:
        spec: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust}
        if tags:
            spec["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        iam.create_role(**spec)
        for arn in policies:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        return name

    demo_issuer = issuer_of(demo)
    provider(demo_issuer)
    vpc = {"subnetIds": demo["resourcesVpcConfig"]["subnetIds"], "endpointPublicAccess": True,
           "endpointPrivateAccess": True}
    old = issuer_of(eks.create_cluster(name=PAYMENTS_CLUSTER, roleArn=demo["roleArn"], version="1.30",
                                       resourcesVpcConfig=vpc)["cluster"])
    provider(old)
    stale = role("payments-api", irsa_trust(account, old, "sts.amazonaws.com", "system:serviceaccount:payments:api"),
                 {"eksguard:cluster": PAYMENTS_CLUSTER})
    eks.delete_cluster(name=PAYMENTS_CLUSTER)  # recreated: same name, new OIDC issuer, no provider for it yet
    new = issuer_of(eks.create_cluster(name=PAYMENTS_CLUSTER, roleArn=demo["roleArn"], version="1.31",
                                       resourcesVpcConfig=vpc)["cluster"])

    cni = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    aws_node = role("demo-aws-node", irsa_trust(account, demo_issuer, "sts.amazon.com",
                                                "system:serviceaccount:kube-system:aws-node"), policies=(cni,))
    wildcard = role("demo-app-api", irsa_trust(account, demo_issuer, "sts.amazonaws.com",
                                               "system:serviceaccount:*:*", "StringLike"),
                    {"eksguard:service-account": "app/api"})
    unknown = role("demo-reports", irsa_trust(account, demo_issuer, "sts.amazonaws.com", None))
    node = role("demo-node-role", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        policies=("arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",))
    ci = role("demo-ci-deployer", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.create_user(UserName=HMJ_USER)
    hmj = iam.create_policy(PolicyName=HMJ_POLICY, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:ListClusters"], "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=HMJ_USER, PolicyArn=hmj)
    return IrsaAccount(account, demo_issuer, old, new, aws_node, wildcard, unknown, stale, node, ci, hmj, HMJ_USER)
# Seed the stand-in's random generator with this right before seed_cluster_posture: its ids then do not
# depend on what earlier chapters created.
POSTURE_RANDOM_SEED = 20261123

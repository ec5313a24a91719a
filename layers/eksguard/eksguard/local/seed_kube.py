"""The inside of the demo account's clusters, as kubectl would have left them, for the Kubernetes API stand-in
(``local/kube_standin.py``), and the few AWS resources the K8 cases need beside what ``seed.py`` makes.

Cluster ``demo`` carries every K8 case and its near miss:
- aws-auth maps the node role ``demo-node-role`` as nodes normally are (bootstrappers, nodes), the Karpenter node
  role ``KarpenterNodeRole-demo`` the same way plus ``system:masters`` (K8-001; the demo's audit-log chapter makes
  that edit), the human user ``alice`` into ``system:masters`` (K8-001), and a role that was deleted from IAM,
  ``platform-oncall`` (K8-002);
- the EKS Best Practices Calico policies: deny egress to 169.254.169.254/32 (order 0.5) for every namespace but
  kube-system, amazon-cloudwatch and external-dns, then allow all egress (order 1) - with ``ci-runners`` added to
  the deny policy's exceptions, so its pods reach IMDS through node group ``demo-gpu``, whose launch template keeps
  hop limit 2 (K8-003 for ci-runners only: kube-system is reachable but allowed, app and default are denied);
- ServiceAccounts: ``kube-system/aws-node`` annotated with ``demo-app-api``, the IRSA role with a wildcard sub
  (IR-003: the annotation is what a wildcard can be tightened to), ``app/worker`` annotated with ``demo-aws-node``,
  whose trust allows only ``kube-system:aws-node`` (K8-004), and ``app/api``, the service account
  ``demo-app-api``'s tag names.
Cluster ``payments`` (recreated, seed.py's IRSA part) has ``payments/api`` annotated with ``payments-api``, a role
left on the old issuer (K8-004 until IR-005 refreshes it); cluster ``legacy`` (the cluster chapter's) is a bare
cluster without network policies whose node still answers IMDSv1 (EK-004), so the pods of each of its namespaces
but kube-system reach the node role (K8-003 for default, kube-node-lease and kube-public).

Everything is deterministic: object names and ARNs from the account id, AWS ids from the stand-in's seeded
generator."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3

from eksguard.local.kube_standin import KubeStandin
from eksguard.local.seed import (
    DEMO_CLUSTER,
    DEMO_REGION,
    IAM_REGION,
    IRSA_RANDOM_SEED,
    LEGACY_CLUSTER,
    PAYMENTS_CLUSTER,
    RANDOM_SEED,
    DemoAccount,
    seed_demo,
    seed_irsa,
)
from eksguard.local.standin import seed_random

KARPENTER_ROLE = "KarpenterNodeRole-demo"
HUMAN_USER = "alice"
DELETED_ROLE = "platform-oncall"  # mapped in aws-auth, deleted from IAM long ago
NODE_ROLE = "demo-node-role"
WILDCARD_ROLE = "demo-app-api"  # seed.py: sub system:serviceaccount:*:*
AWS_NODE_ROLE = "demo-aws-node"  # seed.py: sub system:serviceaccount:kube-system:aws-node
PAYMENTS_ROLE = "payments-api"  # seed.py: trust left on payments' old issuer
REACHABLE_NAMESPACE = "ci-runners"
IMDS_NODEGROUP = "demo-gpu"
# Seed the stand-in's random generator with this right before seed_imds_node_group.
KUBE_RANDOM_SEED = 20261124
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
IMDS = "169.254.169.254/32"


@dataclass(frozen=True)
class KubeAccount:
    karpenter_role_arn: str
    user_arn: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def seed_kube_principals(session: boto3.session.Session) -> KubeAccount:
    """The IAM principals aws-auth maps that no other seed makes. IAM only, no cluster needed: the demo and
    `eksguard local up` make them before seeding the account, so the ids events/ name do not move."""
    iam = session.client("iam", region_name=IAM_REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=KARPENTER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=KARPENTER_ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy")
    user = iam.create_user(UserName=HUMAN_USER)["User"]["Arn"]
    return KubeAccount(str(role), str(user))


def seed_imds_node_group(session: boto3.session.Session, acct: DemoAccount) -> str:
    """Node group demo-gpu: IMDSv2 required but hop limit 2, "because its pods need IMDS" (EK-004), which is what
    lets ci-runners' pods reach the node role (K8-003)."""
    ec2 = session.client("ec2", region_name=DEMO_REGION)
    eks = session.client("eks", region_name=DEMO_REGION)
    account = session.client("sts", region_name=DEMO_REGION).get_caller_identity()["Account"]
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [acct.vpc_id]}])["Subnets"])
    template = ec2.create_launch_template(
        LaunchTemplateName="demo-gpu-nodes",
        LaunchTemplateData={"SecurityGroupIds": [acct.node_sg], "InstanceType": "g5.xlarge",
                            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                                                "HttpEndpoint": "enabled"}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    eks.create_nodegroup(clusterName=DEMO_CLUSTER, nodegroupName=IMDS_NODEGROUP, subnets=subnets,
                         nodeRole=f"arn:aws:iam::{account}:role/{NODE_ROLE}",
                         launchTemplate={"id": template, "version": "1"},
                         scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 1})
    return str(template)


# -- the objects ------------------------------------------------------------------------------------------


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def _service_account(namespace: str, name: str, role_arn: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if role_arn:
        meta["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def _mapping_yaml(entries: Iterable[tuple[str, str, str, list[str]]]) -> str:
    """mapRoles / mapUsers as eksctl writes them: (key, arn, username, groups) entries, YAML text."""
    lines: list[str] = []
    for key, arn, username, groups in entries:
        lines += ["- groups:", *(f"  - {g}" for g in groups), f"  {key}: {arn}", f"  username: {username}"]
    return "\n".join(lines) + "\n"


def aws_auth(account: str, karpenter_masters: bool = True) -> dict[str, Any]:
    """kube-system/aws-auth of cluster demo; ``karpenter_masters`` False is the state before the edit the audit-log
    chapter of the demo makes (events/k8s-audit-aws-auth-patch.json)."""
    role = f"arn:aws:iam::{account}:role/"
    nodes = ["system:bootstrappers", "system:nodes"]
    roles = _mapping_yaml([
        ("rolearn", role + NODE_ROLE, NODE_USERNAME, nodes),
        ("rolearn", role + KARPENTER_ROLE, NODE_USERNAME, nodes + (["system:masters"] if karpenter_masters else [])),
        ("rolearn", role + DELETED_ROLE, DELETED_ROLE, ["platform:operators"]),
    ])
    users = _mapping_yaml([("userarn", f"arn:aws:iam::{account}:user/{HUMAN_USER}", HUMAN_USER,
                            ["system:masters"])])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": roles, "mapUsers": users}}


def _basics(namespaces: Iterable[str]) -> list[dict[str, Any]]:
    """Namespaces with their default ServiceAccount, as every namespace has one."""
    names = ["default", "kube-system", "kube-public", "kube-node-lease", *namespaces]
    return [*(_namespace(n) for n in names), *(_service_account(n, "default") for n in names)]


def _gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": spec}


def demo_objects(account: str, karpenter_masters: bool = True) -> list[dict[str, Any]]:
    role = f"arn:aws:iam::{account}:role/"
    allowed = ("kube-system", "amazon-cloudwatch", "external-dns", REACHABLE_NAMESPACE)
    return [
        *_basics(("amazon-cloudwatch", "external-dns", "app", REACHABLE_NAMESPACE)),
        aws_auth(account, karpenter_masters),
        _service_account("kube-system", "aws-node", role + WILDCARD_ROLE),
        _service_account("kube-system", "coredns"),
        _service_account("amazon-cloudwatch", "cloudwatch-agent"),
        _service_account("external-dns", "external-dns"),
        _service_account("app", "api"),
        _service_account("app", "worker", role + AWS_NODE_ROLE),
        _service_account(REACHABLE_NAMESPACE, "runner"),
        # The practice's pair, with ci-runners added to the exceptions of the deny policy.
        _gnp("deny-instance-metadata", {
            "order": 0.5, "types": ["Egress"],
            "selector": "projectcalico.org/namespace not in {" + ", ".join(f"'{n}'" for n in allowed) + "}",
            "egress": [{"action": "Deny", "destination": {"nets": [IMDS]}}]}),
        _gnp("allow-all-egress", {"order": 1, "selector": "all()", "types": ["Egress"],
                                  "egress": [{"action": "Allow"}]}),
    ]


def payments_objects(account: str) -> list[dict[str, Any]]:
    """A cluster without node groups yet: no aws-auth (EKS writes it when the first managed nodes join)."""
    return [*_basics(("payments",)), _service_account("kube-system", "aws-node"),
            _service_account("payments", "api", f"arn:aws:iam::{account}:role/{PAYMENTS_ROLE}")]


def legacy_objects(account: str) -> list[dict[str, Any]]:
    """Made the quick way: the node role mapped, no network policy engine, no policies."""
    mapping = _mapping_yaml([("rolearn", f"arn:aws:iam::{account}:role/{NODE_ROLE}", NODE_USERNAME,
                              ["system:bootstrappers", "system:nodes"])])
    return [*_basics(()), _service_account("kube-system", "aws-node"),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
             "data": {"mapRoles": mapping}}]


def serve_clusters(standin: KubeStandin, account: str, clusters: Iterable[str], karpenter_masters: bool = True
                   ) -> None:
    """Serve each named cluster of the demo account with its objects (its API is up before the cluster exists in
    EKS, which is harmless: nothing asks for it until then)."""
    objects = {DEMO_CLUSTER: lambda: demo_objects(account, karpenter_masters),
               PAYMENTS_CLUSTER: lambda: payments_objects(account), LEGACY_CLUSTER: lambda: legacy_objects(account)}
    for name in clusters:
        state = standin.cluster(name, DEMO_REGION)
        state.calico = name == DEMO_CLUSTER
        state.add(*objects[name]())


def seed_local_account(session: boto3.session.Session, endpoint: str, standin: KubeStandin) -> dict[str, Any]:
    """What `eksguard local up --seed demo` seeds, in the demo's order and with its random seeds, so that the ids
    events/ names are real: the security-group account, its IRSA roles (and cluster payments), the K8 cases, and
    the Kubernetes APIs of clusters demo and payments on ``standin``."""
    kube = seed_kube_principals(session)
    seed_random(endpoint, RANDOM_SEED)
    acct = seed_demo(session)
    seed_random(endpoint, IRSA_RANDOM_SEED)
    irsa = seed_irsa(session)
    seed_random(endpoint, KUBE_RANDOM_SEED)
    template = seed_imds_node_group(session, acct)
    serve_clusters(standin, irsa.account, (DEMO_CLUSTER, PAYMENTS_CLUSTER))
    return {**acct.as_dict(), **irsa.as_dict(), **kube.as_dict(), "gpu_launch_template_id": template}

"""The labelled corpus of `make detect`: one EKS account, described as data, and what a scanner should say
about each of its resources.

The account (``ACCOUNT``) lists VPCs, security groups, clusters, launch templates and IAM; ``seed.py`` makes
it for real on the local AWS stand-in. ``CASES`` labels resources:

- a **bad** case is one resource with one problem. ``rules``: the eksguard rule ids of which any one
  means "found"; ``also``: rules that may legitimately fire on the same resource as well (not false
  positives); ``prowler``: the Prowler checks that report that problem (empty: Prowler has no equivalent).
- a **near miss** is a resource that looks like a problem and is not one: nothing may be reported on it.
  ``rules`` / ``prowler`` name what it tempts (documentation; the Prowler run includes those checks).

Every resource is the subject of at most one case, so a tool's report on a resource is judged against one
label. A report on a resource with no case at all is a false positive too (``seed.py`` lists them as
background resources). Resource keys: ``sg:<name>`` (``sg:default@<vpc>`` for a VPC's default group),
``cluster:<name>``, ``lt:<name>``, ``role:<name>``, ``policy:<name>``, ``user:<name>``.

Public addresses are real public space (``ipaddress.is_global``), not documentation ranges, so that both
tools see them as the internet: 81.2.69.0/24 is "the office", 52.0.0.0/10 "a partner's cloud range".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAIN = "ap-northeast-2"
EU = "eu-west-1"
REGIONS = (MAIN, EU)
IAM_REGION = "us-east-1"
RANDOM_SEED = 20261204  # the stand-in's id generator is seeded with this before seeding: ids are stable
OFFICE = "81.2.69.0/24"
WORLD, WORLD6 = "0.0.0.0/0", "::/0"
ALL_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
STS = "sts.amazonaws.com"

# -- Prowler checks that map to eksguard's families (the run uses exactly the ones the cases name) --------
P_ALL_PORTS = "ec2_securitygroup_allow_ingress_from_internet_to_all_ports"
P_ANY_PORT = "ec2_securitygroup_allow_ingress_from_internet_to_any_port"
P_SSH = "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"
P_RDP = "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389"
P_HIGH_RISK = "ec2_securitygroup_allow_ingress_from_internet_to_high_risk_tcp_ports"
P_WIDE_IPV4 = "ec2_securitygroup_allow_wide_open_public_ipv4"
P_FROM_IP = "ec2_securitygroup_allow_ingress_from_internet_to_any_port_from_ip"
P_DEFAULT_SG = "ec2_securitygroup_default_restrict_traffic"
P_EKS_PUBLIC = "eks_cluster_not_publicly_accessible"
P_EKS_PRIVATE = "eks_cluster_private_nodes_enabled"
P_EKS_LOGGING = "eks_control_plane_logging_all_types_enabled"
P_EKS_KMS = "eks_cluster_kms_cmk_encryption_in_secrets_enabled"
P_LT_IMDSV2 = "ec2_launch_template_imdsv2_required"
P_IAM_ADMIN = "iam_customer_attached_policy_no_administrative_privileges"
P_IAM_INLINE_ADMIN = "iam_inline_policy_no_administrative_privileges"

Family = Literal["SG", "IR", "EK", "K8"]
FAMILIES: tuple[Family, ...] = ("SG", "IR", "EK", "K8")
FAMILY_NAMES = {"SG": "Security groups (SG-001 … SG-007)", "IR": "IRSA trust policies (IR-001 … IR-007)",
                "EK": "Cluster posture (EK-001 … EK-007)", "K8": "Inside the cluster (K8-000 … K8-004)"}


# -- The account ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Perm:
    """One security-group rule. ``source``: a CIDR, ``self``, ``sg:<group name>`` or ``pl:<prefix list>``;
    ``ports``: one port, an inclusive range, or None (protocol -1)."""

    protocol: str
    ports: int | tuple[int, int] | None
    source: str


def tcp(ports: int | tuple[int, int], source: str) -> Perm:
    return Perm("tcp", ports, source)


def all_traffic(source: str) -> Perm:
    return Perm("-1", None, source)


@dataclass(frozen=True)
class Vpc:
    name: str
    region: str
    cidr: str
    # AWS gives every VPC a default group with "all from itself" in and "all to 0.0.0.0/0" out;
    # "empty" revokes both. ``default_used``: a network interface sits in the default group.
    default_group: Literal["aws-default", "empty"] = "aws-default"
    default_used: bool = False


# Where a group's network interfaces come from: the EKS control plane ("Amazon EKS <cluster>"), nodes,
# an internet-facing ALB (created for real: its interfaces belong to amazon-elb), an EC2 host; None: unused.
Attach = Literal["eks", "node", "elb", "host"] | None


@dataclass(frozen=True)
class Group:
    name: str
    vpc: str
    description: str
    ingress: tuple[Perm, ...] = ()
    egress: tuple[Perm, ...] | None = None  # None: AWS's default (all to 0.0.0.0/0); (): none at all
    tags: tuple[tuple[str, str], ...] = ()
    attach: Attach = None


@dataclass(frozen=True)
class AccessEntry:
    role: str
    policy: str  # an EKS access policy name, e.g. AmazonEKSClusterAdminPolicy
    namespaces: tuple[str, ...] = ()  # empty: cluster scope


@dataclass(frozen=True)
class Cluster:
    name: str
    vpc: str
    public: bool = False
    private: bool = True
    public_cidrs: tuple[str, ...] | None = None  # None: not given (AWS then answers 0.0.0.0/0)
    logging: tuple[str, ...] = ALL_LOGS
    kms: bool = True
    auth_mode: str = "API"
    cluster_group: str | None = None  # the EKS-made cluster security group (moto makes none: seeded)
    control_plane_groups: tuple[str, ...] = ()
    oidc_provider: bool = True  # the IAM OIDC provider for its issuer exists
    access_entries: tuple[AccessEntry, ...] = ()
    deleted: bool = False  # made, its provider (and roles) made, then deleted: a stale issuer


@dataclass(frozen=True)
class Metadata:
    tokens: str | None = "required"
    hop_limit: int | None = 1
    endpoint: str | None = "enabled"


@dataclass(frozen=True)
class NodeGroup:
    cluster: str
    name: str
    version: str = "$Default"


@dataclass(frozen=True)
class LaunchTemplate:
    name: str
    region: str
    groups: tuple[str, ...]
    versions: tuple[Metadata, ...]
    default_version: int = 1
    node_group: NodeGroup | None = None


@dataclass(frozen=True)
class Irsa:
    """An IRSA trust on a cluster's OIDC issuer. ``sub``: one value or several; None: no sub condition;
    ``aud`` None: no aud condition; ``no_condition``: no Condition block at all."""

    cluster: str
    sub: str | tuple[str, ...] | None
    aud: str | None = STS
    sub_operator: str = "StringEquals"
    no_condition: bool = False


@dataclass(frozen=True)
class Service:
    principal: str  # e.g. ec2.amazonaws.com, pods.eks.amazonaws.com
    actions: tuple[str, ...] = ("sts:AssumeRole",)


@dataclass(frozen=True)
class Account:
    """An AWS principal: ``this`` (the account's root) or another account id; ``anyone``: Principal "*"."""

    who: str = "this"
    external_id: str | None = None
    anyone: bool = False


Trust = Irsa | Service | Account


@dataclass(frozen=True)
class Role:
    name: str
    trust: Trust
    managed: tuple[str, ...] = ()  # AWS managed policy names (customer policies: Policy.attached_to)
    inline: tuple[tuple[str, str], ...] = ()  # (policy name, key of DOCUMENTS)


@dataclass(frozen=True)
class Policy:
    name: str
    document: str  # key of DOCUMENTS
    attached_to: tuple[str, ...] = ()  # role:<name> / user:<name>


@dataclass(frozen=True)
class User:
    name: str


def statement(actions: str | tuple[str, ...], resource: str = "*") -> dict[str, object]:
    action: object = actions if isinstance(actions, str) else list(actions)
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}


# ``{account}`` is replaced with the account id when seeded.
DOCUMENTS: dict[str, dict[str, object]] = {
    "admin": statement("*"),
    "eks-star": statement("eks:*"),
    "eks-star-prod": statement("eks:*", f"arn:aws:eks:{MAIN}:{{account}}:cluster/prod"),
    "eks-read": statement(("eks:Describe*", "eks:List*")),
}


@dataclass(frozen=True)
class AccountSpec:
    vpcs: tuple[Vpc, ...]
    prefix_lists: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, region, CIDRs)
    groups: tuple[Group, ...]
    clusters: tuple[Cluster, ...]
    launch_templates: tuple[LaunchTemplate, ...]
    roles: tuple[Role, ...]
    policies: tuple[Policy, ...]
    users: tuple[User, ...]

    def vpc(self, name: str) -> Vpc:
        return next(v for v in self.vpcs if v.name == name)

    def region_of_group(self, name: str) -> str:
        vpc = name.split("@", 1)[1] if name.startswith("default@") else next(
            g.vpc for g in self.groups if g.name == name)
        return self.vpc(vpc).region


def _cluster_group(cluster: str, suffix: str, ingress: tuple[Perm, ...] = (all_traffic("self"),),
                   egress: tuple[Perm, ...] | None = None, vpc: str = "shop") -> Group:
    return Group(f"eks-cluster-sg-{cluster}-{suffix}", vpc, "EKS created security group applied to ENI that is "
                 "attached to EKS Control Plane master nodes, as well as any managed workloads.", ingress, egress,
                 (("aws:eks:cluster-name", cluster), (f"kubernetes.io/cluster/{cluster}", "owned")), "eks")


def _node_group(name: str, cluster: str, ingress: tuple[Perm, ...], vpc: str = "shop") -> Group:
    return Group(name, vpc, f"nodes of cluster {cluster}", ingress,
                 tags=((f"kubernetes.io/cluster/{cluster}", "owned"),), attach="node")


def _lb_group(name: str, ingress: tuple[Perm, ...]) -> Group:
    return Group(name, "shop", "[k8s] Managed SecurityGroup for LoadBalancer", ingress,
                 tags=(("elbv2.k8s.aws/cluster", "prod"), ("elbv2.k8s.aws/resource", "ManagedLBSecurityGroup")),
                 attach="elb")


def _host_group(name: str, description: str, ingress: tuple[Perm, ...], egress: tuple[Perm, ...] | None = None
                ) -> Group:
    return Group(name, "shop", description, ingress, egress, attach="host")


ACCOUNT = AccountSpec(
    vpcs=(
        Vpc("shop", MAIN, "10.0.0.0/16", default_used=True),
        Vpc("partner", MAIN, "10.1.0.0/16", default_group="empty", default_used=True),
        Vpc("eu", EU, "10.2.0.0/16"),
    ),
    prefix_lists=(("cdn-edges", MAIN, ("13.32.0.0/15", "52.84.0.0/15")),),
    groups=(
        _cluster_group("prod", "1a2b3c"),
        _cluster_group("quickstart", "4d5e6f", (all_traffic("self"), tcp(443, WORLD))),
        _cluster_group("nolog", "7a8b9c", ()),
        _cluster_group("nokms", "0d1e2f", egress=(tcp(443, WORLD),)),
        _cluster_group("eu-prod", "3a4b5c", vpc="eu"),
        Group("prod-cp", "shop", "Cluster communication with worker nodes",
              (tcp(443, "sg:prod-nodes"), tcp(443, "sg:internal-ssh")), attach="eks"),
        _node_group("prod-nodes", "prod", (all_traffic("self"), tcp(10250, "sg:eks-cluster-sg-prod-1a2b3c"),
                                           tcp(443, "sg:prod-cp"))),
        _node_group("quick-nodes", "quickstart", (tcp((30000, 32767), WORLD),)),
        _node_group("gpu-nodes", "prod", (tcp(10250, WORLD),)),
        _node_group("win-nodes", "prod", (tcp(3389, WORLD),)),
        _node_group("office-nodes", "prod", (tcp(443, OFFICE),)),
        _node_group("eu-nodes", "eu-prod", (tcp(22, WORLD),), vpc="eu"),
        _lb_group("k8s-shop-web-1f2e3d", (tcp(80, WORLD), tcp(443, WORLD), tcp(443, WORLD6))),
        _lb_group("k8s-admin-ui-4c5b6a", (tcp(443, WORLD), tcp(8080, WORLD))),
        _host_group("ops-bastion", "SSH bastion for kubectl (egress already removed)", (tcp(22, WORLD),), ()),
        _host_group("jump-host", "SSH jump host, office only", (tcp(22, OFFICE),)),
        _host_group("internal-ssh", "SSH from inside the network", (tcp(22, "10.0.0.0/8"),)),
        _host_group("debug-all", "left open while debugging", (all_traffic(WORLD6),)),
        _host_group("dns-forwarder", "DNS forwarder", (Perm("udp", 53, WORLD),)),
        _host_group("partner-feed", "partner webhook receiver", (tcp(443, "52.0.0.0/10"),)),
        _host_group("vpn-clients", "VPN and carrier-grade NAT clients",
                    (tcp(443, "172.16.0.0/12"), tcp(443, "100.64.0.0/10"))),
        _host_group("cdn-origin", "origin behind the CDN", (tcp(443, "pl:cdn-edges"),)),
    ),
    clusters=(
        Cluster("prod", "shop", cluster_group="eks-cluster-sg-prod-1a2b3c", control_plane_groups=("prod-cp",)),
        Cluster("quickstart", "shop", public=True, private=False, oidc_provider=False,
                cluster_group="eks-cluster-sg-quickstart-4d5e6f"),
        Cluster("nolog", "shop", logging=(), cluster_group="eks-cluster-sg-nolog-7a8b9c"),
        Cluster("audit-only", "shop", logging=("api", "audit")),
        Cluster("nokms", "shop", kms=False, cluster_group="eks-cluster-sg-nokms-0d1e2f"),
        Cluster("legacy-auth", "shop", auth_mode="CONFIG_MAP"),
        Cluster("shared", "shop", access_entries=(AccessEntry("contractor-admin", "AmazonEKSClusterAdminPolicy"),)),
        Cluster("partner-api", "partner", public=True, public_cidrs=(OFFICE,),
                access_entries=(AccessEntry("readonly", "AmazonEKSViewPolicy"),)),
        Cluster("old-analytics", "shop", deleted=True),
        Cluster("eu-prod", "eu", cluster_group="eks-cluster-sg-eu-prod-3a4b5c"),
        Cluster("eu-batch", "eu", public=True),
        Cluster("eu-old", "eu", deleted=True),
    ),
    launch_templates=(
        LaunchTemplate("prod-nodes-lt", MAIN, ("prod-nodes",), (Metadata(),), node_group=NodeGroup("prod", "prod-ng")),
        LaunchTemplate("legacy-nodes", MAIN, ("prod-nodes",), (Metadata("optional", 2),),
                       node_group=NodeGroup("prod", "legacy-ng")),
        LaunchTemplate("gpu-nodes-lt", MAIN, ("gpu-nodes",), (Metadata("required", 2),),
                       node_group=NodeGroup("prod", "gpu-ng", "1")),
        LaunchTemplate("api-nodes", MAIN, ("prod-nodes",), (Metadata(), Metadata("optional", 1)), default_version=2,
                       node_group=NodeGroup("prod", "api-ng")),
        LaunchTemplate("isolated-nodes", MAIN, ("prod-nodes",), (Metadata(None, None, "disabled"),),
                       node_group=NodeGroup("prod", "isolated-ng")),
        LaunchTemplate("batch-nodes", MAIN, ("prod-nodes",), (Metadata("optional", 2),)),
        LaunchTemplate("eu-nodes-lt", EU, ("eu-nodes",), (Metadata(),), node_group=NodeGroup("eu-prod", "eu-ng")),
    ),
    roles=(
        Role("eks-cluster-role", Service("eks.amazonaws.com"), ("AmazonEKSClusterPolicy",)),
        Role("prod-node-role", Service("ec2.amazonaws.com"),
             ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")),
        Role("aws-node", Irsa("prod", "system:serviceaccount:kube-system:aws-node"), ("AmazonEKS_CNI_Policy",)),
        Role("contractor-admin", Account()),
        Role("readonly", Account()),
        Role("ci-deployer", Account()),
        Role("ci-runner", Account(), inline=(("deploy-everything", "admin"),)),
        Role("platform-team", Account()),
        Role("auditor", Account("111122223333", external_id="c0ffee-audit")),
        Role("vendor-access", Account(anyone=True)),
        # IRSA
        Role("orders-api", Irsa("prod", "system:serviceaccount:orders:api", aud="sts.amazon.com")),
        Role("reports", Irsa("prod", "system:serviceaccount:reports:generator", aud=None)),
        Role("analytics", Irsa("prod", None)),
        Role("shared-app", Irsa("prod", "system:serviceaccount:*:*", sub_operator="StringLike")),
        Role("payments-workers", Irsa("prod", "system:serviceaccount:payments:*", sub_operator="StringLike")),
        Role("billing", Irsa("prod", "system:serviceaccount:billing:*")),
        Role("old-etl", Irsa("old-analytics", "system:serviceaccount:etl:loader")),
        Role("eu-reporting", Irsa("eu-old", "system:serviceaccount:reporting:export")),
        Role("quick-app", Irsa("quickstart", "system:serviceaccount:default:app")),
        Role("legacy-irsa", Irsa("prod", None, aud=None, no_condition=True)),
        Role("orders-worker", Irsa("prod", "system:serviceaccount:orders:worker")),
        Role("metrics", Irsa("prod", "system:serviceaccount:monitoring:metrics", sub_operator="StringLike")),
        Role("ingest", Irsa("prod", ("system:serviceaccount:ingest:reader", "system:serviceaccount:ingest:writer"))),
        Role("eu-api", Irsa("eu-prod", "system:serviceaccount:api:server")),
        Role("s3-reader-pod-identity", Service("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession"))),
    ),
    policies=(
        Policy("ci-eks-admin", "eks-star", ("role:ci-deployer",)),
        Policy("break-glass-admin", "admin", ("user:breakglass",)),
        Policy("eks-prod-admin", "eks-star-prod", ("role:platform-team",)),
        Policy("eks-readonly", "eks-read", ("user:dev",)),
        Policy("legacy-admin-unused", "admin"),
    ),
    users=(User("breakglass"), User("dev")),
)


# -- The labels -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    case_id: str
    family: Family
    resource: str
    bad: bool
    rules: tuple[str, ...]
    prowler: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    why: str = ""


def bad(case_id: str, family: Family, resource: str, rules: str | tuple[str, ...], prowler: tuple[str, ...],
        why: str, also: tuple[str, ...] = ()) -> Case:
    return Case(case_id, family, resource, True, (rules,) if isinstance(rules, str) else rules, prowler, also, why)


def near(case_id: str, family: Family, resource: str, rules: tuple[str, ...], prowler: tuple[str, ...], why: str
         ) -> Case:
    return Case(case_id, family, resource, False, rules, prowler, (), why)


CASES: tuple[Case, ...] = (
    # Security groups: bad
    bad("sg-cluster-sg-world-443", "SG", "sg:eks-cluster-sg-quickstart-4d5e6f", "SG-001", (P_ANY_PORT,),
        "cluster security group: tcp/443 from 0.0.0.0/0"),
    bad("sg-node-nodeport-world", "SG", "sg:quick-nodes", "SG-001", (P_ANY_PORT,),
        "node group: NodePort range 30000-32767 from 0.0.0.0/0"),
    bad("sg-bastion-ssh-world", "SG", "sg:ops-bastion", "SG-002", (P_SSH, P_ANY_PORT),
        "bastion in the cluster VPC (no EKS tag): SSH from 0.0.0.0/0"),
    bad("sg-node-kubelet-world", "SG", "sg:gpu-nodes", "SG-002", (P_ANY_PORT,),
        "node group: kubelet 10250 from 0.0.0.0/0", also=("SG-001",)),
    bad("sg-node-rdp-world", "SG", "sg:win-nodes", "SG-002", (P_RDP, P_ANY_PORT),
        "Windows node group: RDP 3389 from 0.0.0.0/0", also=("SG-001",)),
    bad("sg-all-traffic-ipv6", "SG", "sg:debug-all", "SG-002", (P_ALL_PORTS, P_ANY_PORT),
        "all traffic from ::/0 (IPv6 world) in the cluster VPC; SSH from the internet with all-traffic egress "
        "also makes it bastion-like", also=("SG-005",)),
    bad("sg-dns-world", "SG", "sg:dns-forwarder", "SG-002", (P_ANY_PORT,), "udp/53 from 0.0.0.0/0"),
    bad("sg-public-slash10", "SG", "sg:partner-feed", "SG-003", (P_WIDE_IPV4, P_FROM_IP),
        "tcp/443 from 52.0.0.0/10: a public range far wider than /16"),
    bad("sg-lb-admin-8080", "SG", "sg:k8s-admin-ui-4c5b6a", "SG-004", (P_HIGH_RISK, P_ANY_PORT),
        "load balancer group: 8080 from 0.0.0.0/0 besides 443"),
    bad("sg-bastion-open-egress", "SG", "sg:jump-host", "SG-005", (),
        "bastion-like group (SSH from the office) keeps all-traffic egress to 0.0.0.0/0"),
    bad("sg-cluster-self-rule-gone", "SG", "sg:eks-cluster-sg-nolog-7a8b9c", "SG-006", (),
        "cluster security group without its inbound all-from-itself rule"),
    bad("sg-cluster-egress-cut", "SG", "sg:eks-cluster-sg-nokms-0d1e2f", "SG-006", (),
        "cluster security group egress cut to tcp/443: kubelet 10250 and DNS 53 unreachable"),
    bad("sg-default-group-used", "SG", "sg:default@shop", "SG-007", (P_DEFAULT_SG,),
        "default group of a cluster VPC keeps AWS's rules, and a network interface uses it"),
    bad("sg-default-group-unused", "SG", "sg:default@eu", "SG-007", (P_DEFAULT_SG,),
        "default group of a cluster VPC (eu-west-1) keeps AWS's rules; nothing uses it yet"),
    bad("sg-eu-nodes-ssh-world", "SG", "sg:eu-nodes", "SG-002", (P_SSH, P_ANY_PORT),
        "node group in eu-west-1: SSH from 0.0.0.0/0", also=("SG-001",)),
    # Security groups: near misses
    near("sg-nm-lb-public-https", "SG", "sg:k8s-shop-web-1f2e3d", ("SG-004", "SG-001"), (P_ANY_PORT,),
         "load balancer group: 80 and 443 from 0.0.0.0/0 and 443 from ::/0 (what a public ALB is for)"),
    near("sg-nm-ssh-private", "SG", "sg:internal-ssh", ("SG-002", "SG-005"), (P_SSH,), "SSH from 10.0.0.0/8"),
    near("sg-nm-sg-references", "SG", "sg:prod-nodes", ("SG-001",), (P_ANY_PORT,),
         "node group: all from itself, 10250 from the cluster group, 443 from the control-plane group"),
    near("sg-nm-cluster-self-rule", "SG", "sg:eks-cluster-sg-prod-1a2b3c", ("SG-001", "SG-006"), (P_ALL_PORTS,),
         "cluster security group as EKS makes it: all from itself, all out"),
    near("sg-nm-cluster-self-rule-eu", "SG", "sg:eks-cluster-sg-eu-prod-3a4b5c", ("SG-001", "SG-006"),
         (P_ALL_PORTS,), "cluster security group as EKS makes it (eu-west-1)"),
    near("sg-nm-control-plane-refs", "SG", "sg:prod-cp", ("SG-001",), (P_ANY_PORT,),
         "control-plane group: 443 from the node and admin groups only"),
    near("sg-nm-node-public-slash24", "SG", "sg:office-nodes", ("SG-003",), (P_WIDE_IPV4, P_FROM_IP),
         "node group: 443 from the office's public /24"),
    near("sg-nm-private-wide", "SG", "sg:vpn-clients", ("SG-003",), (P_WIDE_IPV4, P_FROM_IP),
         "443 from 172.16.0.0/12 and 100.64.0.0/10 (private and carrier-grade NAT, not the internet)"),
    near("sg-nm-prefix-list", "SG", "sg:cdn-origin", ("SG-001", "SG-003"), (P_ANY_PORT,),
         "443 from a prefix list of CDN edge ranges"),
    near("sg-nm-default-group-empty", "SG", "sg:default@partner", ("SG-007",), (P_DEFAULT_SG,),
         "default group of a cluster VPC with every rule removed (and in use)"),
    # Cluster posture: bad
    bad("ek-endpoint-world", "EK", "cluster:quickstart", "EK-001", (P_EKS_PUBLIC, P_EKS_PRIVATE),
        "public endpoint, no CIDR restriction (AWS's default 0.0.0.0/0), private access off"),
    bad("ek-endpoint-world-eu", "EK", "cluster:eu-batch", "EK-001", (P_EKS_PUBLIC, P_EKS_PRIVATE),
        "public endpoint open to 0.0.0.0/0 (private access on), eu-west-1"),
    bad("ek-logging-off", "EK", "cluster:nolog", "EK-002", (P_EKS_LOGGING,), "control-plane logging disabled"),
    bad("ek-logging-partial", "EK", "cluster:audit-only", "EK-002", (P_EKS_LOGGING,),
        "only api and audit logs: authenticator off"),
    bad("ek-secrets-no-kms", "EK", "cluster:nokms", "EK-003", (P_EKS_KMS,), "secrets not envelope-encrypted"),
    bad("ek-imdsv1-hop2", "EK", "lt:legacy-nodes", "EK-004", (P_LT_IMDSV2,),
        "node launch template: HttpTokens optional, hop limit 2"),
    bad("ek-imdsv2-hop2", "EK", "lt:gpu-nodes-lt", "EK-004", (P_LT_IMDSV2,),
        "node launch template: IMDSv2 required but hop limit 2 (pods reach the node role)"),
    bad("ek-imdsv1-default-version", "EK", "lt:api-nodes", "EK-004", (P_LT_IMDSV2,),
        "node launch template whose default version (2, used by the node group) allows IMDSv1; version 1 did not"),
    bad("ek-imdsv1-unused-node-template", "EK", "lt:batch-nodes", "EK-004", (P_LT_IMDSV2,),
        "launch template carrying the node security group, no node group yet: IMDSv1, hop limit 2"),
    bad("ek-cni-policy-on-node-role", "EK", "role:prod-node-role", "EK-005", (),
        "AmazonEKS_CNI_Policy on the node role while aws-node has its own IRSA role"),
    bad("ek-config-map-auth", "EK", "cluster:legacy-auth", "EK-006", (), "authentication mode CONFIG_MAP only"),
    bad("ek-cluster-admin-entry", "EK", "cluster:shared", "EK-006", (),
        "access entry: AmazonEKSClusterAdminPolicy (cluster scope) for a contractor role"),
    bad("ek-policy-eks-star", "EK", "policy:ci-eks-admin", "EK-007", (),
        "customer policy eks:* on * attached to the CI role"),
    bad("ek-policy-admin-user", "EK", "policy:break-glass-admin", "EK-007", (P_IAM_ADMIN,),
        "customer policy * on * attached to a user"),
    bad("ek-inline-admin-role", "EK", "role:ci-runner", "EK-007", (P_IAM_INLINE_ADMIN,),
        "inline policy * on * on a role"),
    # Cluster posture: near misses
    near("ek-nm-private-cluster", "EK", "cluster:prod", ("EK-001", "EK-002", "EK-003", "EK-006"),
         (P_EKS_PUBLIC, P_EKS_PRIVATE, P_EKS_LOGGING, P_EKS_KMS),
         "private-only endpoint, every log type, KMS-encrypted secrets, API authentication"),
    near("ek-nm-restricted-endpoint", "EK", "cluster:partner-api", ("EK-001", "EK-006"),
         (P_EKS_PUBLIC, P_EKS_PRIVATE),
         "public endpoint restricted to the office /24 with private access on; a view-only access entry"),
    near("ek-nm-private-cluster-eu", "EK", "cluster:eu-prod", ("EK-001", "EK-002", "EK-003"),
         (P_EKS_PUBLIC, P_EKS_LOGGING, P_EKS_KMS), "the eu-west-1 production cluster, configured right"),
    near("ek-nm-imdsv2-hop1", "EK", "lt:prod-nodes-lt", ("EK-004",), (P_LT_IMDSV2,),
         "node launch template: IMDSv2 required, hop limit 1"),
    near("ek-nm-imds-disabled", "EK", "lt:isolated-nodes", ("EK-004",), (P_LT_IMDSV2,),
         "node launch template with the metadata endpoint disabled"),
    near("ek-nm-imdsv2-hop1-eu", "EK", "lt:eu-nodes-lt", ("EK-004",), (P_LT_IMDSV2,),
         "node launch template in eu-west-1: IMDSv2 required, hop limit 1"),
    near("ek-nm-aws-node-cni", "EK", "role:aws-node", ("EK-005",), (),
         "the aws-node IRSA role carries AmazonEKS_CNI_Policy: where it belongs"),
    near("ek-nm-scoped-eks-policy", "EK", "policy:eks-prod-admin", ("EK-007",), (P_IAM_ADMIN,),
         "eks:* on one cluster's ARN, not on *"),
    near("ek-nm-eks-read-policy", "EK", "policy:eks-readonly", ("EK-007",), (P_IAM_ADMIN,),
         "eks:Describe* and eks:List* on *"),
    near("ek-nm-unattached-admin", "EK", "policy:legacy-admin-unused", ("EK-007",), (P_IAM_ADMIN,),
         "* on * but attached to nothing"),
    # IRSA: bad
    bad("ir-aud-typo", "IR", "role:orders-api", "IR-001", (), "aud sts.amazon.com (the tutorial typo)"),
    bad("ir-no-aud", "IR", "role:reports", "IR-001", (), "exact sub, no aud condition"),
    bad("ir-no-sub", "IR", "role:analytics", "IR-002", (), "aud only: every service account of the cluster"),
    bad("ir-wildcard-sub", "IR", "role:shared-app", "IR-003", (), "StringLike sub system:serviceaccount:*:*"),
    bad("ir-wildcard-namespace", "IR", "role:payments-workers", "IR-003", (),
        "StringLike sub system:serviceaccount:payments:*"),
    bad("ir-star-in-string-equals", "IR", "role:billing", "IR-004", (),
        "StringEquals sub system:serviceaccount:billing:* (a literal: never matches)"),
    bad("ir-stale-issuer", "IR", "role:old-etl", "IR-005", (), "trusts the issuer of a deleted cluster"),
    bad("ir-stale-issuer-eu", "IR", "role:eu-reporting", "IR-005", (),
        "trusts the issuer of a deleted eu-west-1 cluster"),
    bad("ir-missing-provider", "IR", "role:quick-app", "IR-006", (),
        "trusts a live cluster's issuer whose IAM OIDC provider was never created"),
    bad("ir-principal-star", "IR", "role:vendor-access", "IR-007", (), "Principal {\"AWS\": \"*\"}, no condition"),
    bad("ir-web-identity-no-condition", "IR", "role:legacy-irsa", "IR-007", (),
        "web identity on the cluster's provider with no condition at all", also=("IR-001", "IR-002")),
    # IRSA: near misses
    near("ir-nm-exact", "IR", "role:orders-worker", ("IR-001", "IR-002", "IR-003"), (),
         "exact sub, aud sts.amazonaws.com, live issuer with its provider"),
    near("ir-nm-exact-eu", "IR", "role:eu-api", ("IR-001", "IR-005"), (), "exact IRSA trust on the eu-west-1 cluster"),
    near("ir-nm-stringlike-exact", "IR", "role:metrics", ("IR-003",), (),
         "StringLike with an exact sub (no wildcard) and the right aud"),
    near("ir-nm-two-subs", "IR", "role:ingest", ("IR-003", "IR-004"), (), "StringEquals on two exact service accounts"),
    near("ir-nm-pod-identity", "IR", "role:s3-reader-pod-identity", ("IR-002", "IR-007"), (),
         "EKS Pod Identity: trust pods.eks.amazonaws.com, sts:AssumeRole and sts:TagSession"),
    near("ir-nm-cross-account-external-id", "IR", "role:auditor", ("IR-007",), (),
         "another account's root with an sts:ExternalId condition"),
)

# K8-000 ... K8-004 read inside the cluster through the Kubernetes API (DESIGN section 9). The stand-in has
# no Kubernetes API, so no K8 case is seeded and the family is reported "not measured". The hook: give each
# cluster an API server (eksguard reads EKSGUARD_KUBE_ENDPOINTS, cluster name -> base URL), seed it in
# ``seed.seed_kubernetes`` (aws-auth mapRoles with system:masters, a mapped role that does not exist in
# IAM, ServiceAccounts annotated with roles, NetworkPolicies/Calico policies denying 169.254.169.254/32),
# and add cases with family "K8" here, e.g. Case("k8-masters-mapping", "K8", "cluster:prod", True,
# ("K8-001",), ...). Prowler's counterpart is its separate ``kubernetes`` provider, run against the same API.
KUBERNETES_CASES: tuple[Case, ...] = ()

ALL_CASES: tuple[Case, ...] = CASES + KUBERNETES_CASES


def prowler_checks(cases: tuple[Case, ...] = ALL_CASES) -> tuple[str, ...]:
    """The Prowler checks the run executes: every check a case names, sorted."""
    return tuple(sorted({c for case in cases for c in case.prowler}))


def check_family(cases: tuple[Case, ...] = ALL_CASES) -> dict[str, Family]:
    """Which family each Prowler check belongs to (a check maps to exactly one)."""
    out: dict[str, Family] = {}
    for case in cases:
        for check in case.prowler:
            if out.setdefault(check, case.family) != case.family:
                raise ValueError(f"Prowler check {check} is named by cases of two families")
    return out

"""The posture engine's reads: a whole region (security groups with their rules, clusters with their access
grants, the launch templates nodes launch from, CloudTrail coverage) and, once per account, the global IAM
side (every role's trust, the customer policies, the CNI policy's holders). Reads only: List/Describe/Get,
paged. ``findings`` runs the one catalog over them (``detect.catalog.evaluate``): the scan reports what it
returns, the sweep plans and applies it, the guards run the same rules on the part their event names."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from eksguard.aws import ec2
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.aws.cloudtrail import read_trail_coverage
from eksguard.aws.iam_account import AccountIam, read_account_iam
from eksguard.aws.irsa_snapshot import read_snapshot as read_irsa_snapshot
from eksguard.config import Config, Scope
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rule
from eksguard.detect.rule import Family
from eksguard.model import Finding
from eksguard.pipeline.kubernetes import K8sPosture, read_kubernetes
from eksguard.plan.sg import in_scope
from eksguard.snapshot.eks import EksSnapshot
from eksguard.snapshot.sg import GroupRole, SgSnapshot

Progress = Callable[[str], None]
GLOBAL = "global"  # the region label of IAM findings: IAM is one per account, not per region
NODE_GROUP_ROLES = frozenset({GroupRole.CLUSTER, GroupRole.NODE})


def _quiet(step: str) -> None:
    """No progress display."""


@dataclass(frozen=True)
class RegionPosture:
    region: str
    sg: SgSnapshot
    eks: EksSnapshot
    # Each cluster's Kubernetes side with its inputs; None: not read (ReadKubernetes off, --no-kubernetes).
    k8s: K8sPosture | None = None

    @property
    def posture(self) -> Posture:
        return Posture(sg=self.sg, eks=self.eks, k8s=self.k8s)


@dataclass(frozen=True)
class GlobalPosture:
    posture: Posture
    iam: AccountIam
    # Regions whose clusters could not be read (region -> error): issuers there were not judged stale or live.
    unreadable_regions: Mapping[str, str]


def read_region(aws: Aws, region: str, config: Config, progress: Progress = _quiet) -> RegionPosture:
    progress("security groups")
    sg = ec2.read_region_sg_snapshot(aws, region)
    progress("clusters and access entries")
    names = eks_api.list_cluster_names(aws, region)
    clusters = tuple(c for n in names if (c := eks_api.read_cluster(aws, region, n, grants=True)) is not None)
    progress("node groups and launch templates")
    refs = eks_api.read_node_groups(aws, region, names)
    every = lt_api.describe_templates(aws, region, everything=True)
    node_sgs = {g.group_id for g in sg.groups if g.roles & NODE_GROUP_ROLES}
    carrying = lt_api.templates_with_groups(aws, region, node_sgs) if node_sgs and every else frozenset()
    used = {r.template_id for r in refs}
    node_templates = {
        i: lt for i, lt in every.items()
        if i in used or i in carrying or config.scope is Scope.ALL or _tagged_customer_template(lt)
    }
    templates = lt_api.read_node_templates(aws, region, refs, node_templates)
    progress("CloudTrail")
    trail = read_trail_coverage(aws, region)
    return RegionPosture(region, sg, EksSnapshot(clusters, templates, (), trail))


def _tagged_customer_template(lt: Mapping[str, Any]) -> bool:
    tags = {t["Key"]: t.get("Value", "") for t in lt.get("Tags", [])}
    # EKS's own copy of a node group's template carries eks:nodegroup-name; the customer's is the one to check.
    return lt_api.is_node_tagged(tags) and lt_api.EKS_OWNED_TAG not in tags


def with_kubernetes(aws: Aws, region: RegionPosture, iam: AccountIam | None, account: str,
                    eks_config: EksConfig, progress: Progress = _quiet) -> RegionPosture:
    """The region with each cluster's Kubernetes side read (DESIGN section 9), when ReadKubernetes is on."""
    if not eks_config.read_kubernetes:
        return region
    progress("Kubernetes APIs of the clusters")
    return replace(region, k8s=read_kubernetes(aws, region.region, region.eks, iam, account, eks_config))


def read_iam(aws: Aws, account: str, progress: Progress = _quiet) -> AccountIam:
    progress("IAM roles, users and policies")
    return read_account_iam(aws, account)


def read_global(aws: Aws, account: str, audit: AuditStore | None = None, progress: Progress = _quiet,
                iam: AccountIam | None = None, service_accounts: bool = False) -> GlobalPosture:
    """IAM, once per account: IRSA trusts (with the clusters of every region their issuers name and the OIDC
    providers they reference) and the IAM posture (EK-005, EK-007)."""
    iam = iam or read_iam(aws, account, progress)
    roles = iam.irsa_roles
    partition = roles[0].arn.split(":")[1] if roles else "aws"
    progress("clusters and OIDC providers of IRSA trusts")
    irsa, unreadable = read_irsa_snapshot(aws, roles, account, audit, partition, service_accounts=service_accounts)
    return GlobalPosture(Posture(irsa=irsa, iam=iam.posture), iam, unreadable)


def findings(posture: Posture, config: Config, eks_config: EksConfig) -> list[Finding]:
    """Every rule over the posture, security groups narrowed to ``Scope`` as the planner narrows them."""
    scoped = {g.group_id for g in posture.sg.groups if in_scope(g, config)} if posture.sg else set()
    return [f for f in evaluate(posture, config, eks_config)
            if rule(f.rule_id).family is not Family.SECURITY_GROUP or f.resource_id in scoped]


def tags_by_resource(region: RegionPosture | None, glob: GlobalPosture | None) -> dict[str, Mapping[str, str]]:
    """What an exemption tag is read from, by the resource id findings name."""
    out: dict[str, Mapping[str, str]] = {}
    if region is not None:
        out.update({g.group_id: g.tags for g in region.sg.groups})
        out.update({c.name: c.tags for c in region.eks.clusters})
        out.update({t.template_id: t.tags for t in region.eks.templates})
    if glob is not None:
        roles: Iterable[Any] = glob.posture.irsa.roles if glob.posture.irsa else ()
        out.update({r.name: r.tags for r in roles})
        iam = glob.posture.iam
        if iam is not None:
            out.update({r.name: r.tags for r in iam.cni_roles})
            out.update({p.inline_of or p.name: p.tags for p in iam.policies if p.tags})
    return out


def exemption_tags(tags: Mapping[str, Mapping[str, str]], finding: Finding) -> Mapping[str, str]:
    """The tags that exempt a finding: its resource's, or for the K8 family (``cluster/namespace[/name]``) the
    cluster's."""
    if finding.resource_id in tags:
        return tags[finding.resource_id]
    if rule(finding.rule_id).family is Family.KUBERNETES:
        return tags.get(str(dict(finding.evidence).get("cluster", "")), {})
    return {}

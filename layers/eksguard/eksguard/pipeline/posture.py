"""The posture engine's reads: a whole region (security groups with their rules, clusters with their access
grants, the launch templates nodes launch from, CloudTrail coverage) and, once per account, the global IAM
side (every role's trust, the customer policies, the CNI policy's holders). Reads only: List/Describe/Get,
paged. ``findings`` runs the one catalog over them (``detect.catalog.evaluate``): the scan reports what it
returns, the sweep plans and applies it, the guards run the same rules on the part their event names."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eksguard.aws import ec2, parallel
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws import topology as topology_api
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.aws.cloudtrail import read_trail_coverage
from eksguard.aws.iam_account import AccountIam, read_account_iam
from eksguard.aws.irsa_snapshot import read_snapshot as read_irsa_snapshot
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import CATALOG, Posture, evaluate, rule
from eksguard.detect.rule import Family
from eksguard.model import Finding
from eksguard.pipeline.kubernetes import K8sPosture, read_kubernetes
from eksguard.pipeline.node_templates import NODE_GROUP_ROLES, node_templates
from eksguard.plan.sg import in_scope
from eksguard.snapshot.eks import EksSnapshot
from eksguard.snapshot.sg import Cluster, SgSnapshot

Progress = Callable[[str], None]
GLOBAL = "global"  # the region label of IAM findings: IAM is one per account, not per region
SG_RULES = frozenset(r.rule_id for r in CATALOG if r.family is Family.SECURITY_GROUP)


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
    names = eks_api.list_cluster_names(aws, region)
    raw_groups, topology = parallel.together(lambda: ec2.describe_region_groups(aws, region),
                                             lambda: topology_api.read_topology(aws, region, names))
    sg = judged_groups(aws, region, raw_groups, topology, config)
    progress("clusters and access entries")
    clusters = tuple(c for c in parallel.each(lambda n: eks_api.read_cluster(aws, region, n, grants=True), names,
                                              topology_api.CLUSTER_WORKERS) if c is not None)
    progress("node groups, launch templates and nodes")
    refs = eks_api.read_node_groups(aws, region, names)
    node_sgs = {g.group_id for g in sg.groups if g.roles & NODE_GROUP_ROLES}
    templates = node_templates(aws, region, config, refs, node_sgs)
    instances = lt_api.read_node_instances(aws, region)
    progress("CloudTrail")
    trail = read_trail_coverage(aws, region)
    return RegionPosture(region, sg, EksSnapshot(clusters, templates, instances, trail))


def judged_groups(aws: Aws, region: str, raw_groups: Sequence[Mapping[str, Any]], topology: Sequence[Cluster],
                  config: Config) -> SgSnapshot:
    """Every group judged on the permissions DescribeSecurityGroups lists; the in-scope groups with a finding then
    re-read with DescribeSecurityGroupRules, so their findings name real rule ids and a revoke has the exact rule
    for its before-image. One read of the region, plus one rule read per 200 flagged groups (not two full reads:
    most groups are fine)."""
    vpcs = {g.get("VpcId", "") for g in raw_groups}
    clusters = tuple(c for c in topology if c.vpc_id in vpcs)
    first = SgSnapshot(tuple(ec2.build_group(g, ec2.permission_rules(g), clusters) for g in raw_groups), clusters)
    flagged = {f.resource_id for f in evaluate(Posture(sg=first), config, EksConfig(), only=SG_RULES)}
    read = {g.group_id for g in first.groups if g.group_id in flagged and in_scope(g, config)}
    rules = ec2.read_rules(aws.client("ec2", region), sorted(read))
    return SgSnapshot(tuple(ec2.build_group(raw, rules.get(g.group_id, ()), clusters) if g.group_id in read else g
                            for raw, g in zip(raw_groups, first.groups, strict=True)), clusters)


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
    """IAM, once per account: every role's trust for the IR rules (IRSA trusts with the clusters of every region
    their issuers name and the OIDC providers they reference; IR-007 judges any role, IRSA or not, as the IRSA
    guard does on CreateRole) and the IAM posture (EK-005, EK-007)."""
    iam = iam or read_iam(aws, account, progress)
    roles = iam.roles
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

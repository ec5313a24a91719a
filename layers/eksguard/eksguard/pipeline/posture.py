"""Read a whole region once, for the sweep and ``eksguard scan``: every security group with its rules,
every cluster with its access grants, the launch templates nodes launch from, CloudTrail coverage.
Reads only: List/Describe/Get calls, paged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.aws import ec2
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws.clients import Aws
from eksguard.aws.cloudtrail import read_trail_coverage
from eksguard.config import Config, Scope
from eksguard.config_eks import EksConfig
from eksguard.detect import eks as detect_eks
from eksguard.detect import sg as detect_sg
from eksguard.model import Finding
from eksguard.plan.sg import in_scope
from eksguard.snapshot.eks import EksSnapshot
from eksguard.snapshot.sg import SgSnapshot

Progress = Callable[[str], None]


def _quiet(step: str) -> None:
    """No progress display."""


@dataclass(frozen=True)
class RegionPosture:
    region: str
    sg: SgSnapshot
    eks: EksSnapshot


def read_region(aws: Aws, region: str, config: Config, progress: Progress = _quiet) -> RegionPosture:
    progress("security groups")
    sg = ec2.read_region_sg_snapshot(aws, region)
    progress("clusters and access entries")
    names = eks_api.list_cluster_names(aws, region)
    clusters = tuple(c for n in names if (c := eks_api.read_cluster(aws, region, n, grants=True)) is not None)
    progress("node groups and launch templates")
    refs = eks_api.read_node_groups(aws, region, names)
    every = lt_api.describe_templates(aws, region, everything=True)
    used = {r.template_id for r in refs}
    node_templates = {
        i: lt for i, lt in every.items()
        if i in used or config.scope is Scope.ALL or _tagged_customer_template(lt)
    }
    templates = lt_api.read_node_templates(aws, region, refs, node_templates)
    progress("CloudTrail")
    trail = read_trail_coverage(aws, region)
    return RegionPosture(region, sg, EksSnapshot(clusters, templates, (), trail))


def _tagged_customer_template(lt: Mapping[str, Any]) -> bool:
    tags = {t["Key"]: t.get("Value", "") for t in lt.get("Tags", [])}
    # EKS's own copy of a node group's template carries eks:nodegroup-name; the customer's is the one to check.
    return lt_api.is_node_tagged(tags) and lt_api.EKS_OWNED_TAG not in tags


def sg_findings(posture: RegionPosture, config: Config) -> list[Finding]:
    """Security-group findings of the groups in scope (Scope=eks: VPCs that host a cluster)."""
    in_scope_ids = {g.group_id for g in posture.sg.groups if in_scope(g, config)}
    return [f for f in detect_sg.detect(posture.sg, config) if f.resource_id in in_scope_ids]


def eks_findings(posture: RegionPosture, eks_config: EksConfig) -> list[Finding]:
    return detect_eks.detect(posture.eks, eks_config)

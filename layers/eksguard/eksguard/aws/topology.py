"""The cluster topology of a region: its clusters, their VPCs and security groups (the cluster group, the
control-plane groups, the node groups' remote-access groups and the groups of the launch templates they launch
from) - what tells a cluster's security group from any other. Reads only, each cluster's side by side.

The event guards may keep it in the warm container for ``TopologyCacheSeconds`` (0: never): it changes rarely, and
re-reading it costs one ListClusters (plus per-cluster reads) on every event. Only the topology is kept, never what
an event names: the group and its rules are read afresh every time. A container that handles an event changing the
topology (``TOPOLOGY_EVENTS``) drops what it kept for that region first; the security-group guard sees none of
those events, so for it the time limit is the bound. The sweep and the scan never use the cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws import parallel
from eksguard.aws.clients import Aws, error_code
from eksguard.snapshot.sg import Cluster

# Calls that add or remove a cluster, change its security groups, or change which groups its nodes launch in.
TOPOLOGY_EVENTS = frozenset({"CreateCluster", "DeleteCluster", "UpdateClusterConfig", "CreateNodegroup",
                             "DeleteNodegroup", "UpdateNodegroupVersion", "CreateLaunchTemplate",
                             "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplate"})
CLUSTER_WORKERS = 8  # clusters read side by side (EKS Describe/List calls)
_CACHE_KEY = "topology"


@dataclass(frozen=True)
class _Kept:
    at: float  # time.monotonic() of the read
    clusters: tuple[Cluster, ...]


def region_clusters(aws: Aws, region: str, max_age_seconds: int = 0) -> tuple[Cluster, ...]:
    """Every cluster of the region with its security groups: kept in ``aws`` (the container) for
    ``max_age_seconds``, read afresh when older or when 0."""
    cache, lock = _cache(aws)
    if max_age_seconds > 0:
        with lock:
            kept = cache.get(region)
        if kept is not None and time.monotonic() - kept.at < max_age_seconds:
            return kept.clusters
    started = time.monotonic()
    clusters = read_topology(aws, region)
    if max_age_seconds > 0:
        with lock:
            cache[region] = _Kept(started, clusters)
    return clusters


def invalidate(aws: Aws, region: str) -> None:
    """Forget the region's topology: an event of ``TOPOLOGY_EVENTS`` was seen by this container."""
    cache, lock = _cache(aws)
    with lock:
        cache.pop(region, None)


def _cache(aws: Aws) -> tuple[dict[str, _Kept], threading.Lock]:
    return aws.warm.setdefault(_CACHE_KEY, ({}, threading.Lock()))


def read_topology(aws: Aws, region: str, names: Sequence[str] | None = None,
                  vpc_ids: Iterable[str] | None = None) -> tuple[Cluster, ...]:
    """The clusters of ``names`` (default: ListClusters), only those in ``vpc_ids`` when given."""
    eks, ec2 = aws.client("eks", region), aws.client("ec2", region)
    if names is None:
        names = [n for page in eks.get_paginator("list_clusters").paginate() for n in page.get("clusters", [])]
    wanted = None if vpc_ids is None else set(vpc_ids)
    described = [c for c in parallel.each(lambda name: _describe(eks, name), names, CLUSTER_WORKERS)
                 if c is not None and (wanted is None or _vpc(c).get("vpcId") in wanted)]
    # moto (and very old clusters) omit clusterSecurityGroupId: find the group by the tag EKS puts on it.
    untagged = [c["name"] for c in described if not _vpc(c).get("clusterSecurityGroupId")]
    by_tag, node_sgs = parallel.together(
        lambda: _cluster_sgs_by_tag(ec2, untagged) if untagged else {},
        lambda: parallel.each(lambda c: _node_sg_ids(eks, ec2, c["name"]), described, CLUSTER_WORKERS))
    return tuple(
        Cluster(
            name=c["name"],
            vpc_id=_vpc(c)["vpcId"],
            arn=c.get("arn", ""),
            cluster_sg_id=_vpc(c).get("clusterSecurityGroupId") or by_tag.get(c["name"]),
            control_plane_sg_ids=tuple(_vpc(c).get("securityGroupIds", [])),
            node_sg_ids=nodes,
        )
        for c, nodes in zip(described, node_sgs, strict=True)
    )


def _vpc(cluster: Mapping[str, Any]) -> Mapping[str, Any]:
    return cluster.get("resourcesVpcConfig") or {}


def _describe(eks: Any, name: str) -> dict[str, Any] | None:
    try:
        return eks.describe_cluster(name=name)["cluster"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":  # deleted since ListClusters
            return None
        raise


def _node_sg_ids(eks: Any, ec2: Any, cluster: str) -> tuple[str, ...]:
    ids: list[str] = []
    for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster):
        for name in page.get("nodegroups", []):
            ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            remote = (ng.get("resources") or {}).get("remoteAccessSecurityGroup")
            ids += [remote] if remote else []
            lt = ng.get("launchTemplate") or {}
            if lt.get("id") or lt.get("name"):
                ids += _launch_template_sgs(ec2, lt)
    return tuple(dict.fromkeys(ids))


def _launch_template_sgs(ec2: Any, lt: Mapping[str, Any]) -> list[str]:
    key = {"LaunchTemplateId": lt["id"]} if lt.get("id") else {"LaunchTemplateName": lt["name"]}
    versions = ec2.describe_launch_template_versions(**key, Versions=[str(lt.get("version") or "$Default")])
    ids: list[str] = []
    for version in versions.get("LaunchTemplateVersions", []):
        data = version.get("LaunchTemplateData", {})
        ids += data.get("SecurityGroupIds", [])
        for nic in data.get("NetworkInterfaces", []):
            ids += nic.get("Groups", [])
    return ids


def _cluster_sgs_by_tag(ec2: Any, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "tag:aws:eks:cluster-name", "Values": names}])
    for page in pages:
        for group in page.get("SecurityGroups", []):
            tags = {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
            found.setdefault(tags["aws:eks:cluster-name"], group["GroupId"])
    return found

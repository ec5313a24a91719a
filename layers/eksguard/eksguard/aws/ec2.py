"""Security-group reads (paged, batched by group) and the one write: revoke by rule id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.parse.ec2 import Permission, SgChange
from eksguard.snapshot.sg import Cluster, SecurityGroup, SgRule, SgSnapshot, classify

# Errors that mean "the thing to revoke is already gone": someone else won the race.
GONE_CODES = frozenset({"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound",
                        "InvalidGroup.NotFound", "InvalidSecurityGroupId.NotFound"})
FILTER_CHUNK = 200  # EC2 filter values per request


def read_sg_snapshot(aws: Aws, region: str, change: SgChange) -> SgSnapshot:
    ec2 = aws.client("ec2", region)
    group_ids = list(change.group_ids) or _ids_for_names(ec2, change.group_names)
    raw_groups = _describe_groups(ec2, group_ids)
    found = {g["GroupId"] for g in raw_groups}
    clusters = read_clusters(aws, region, vpc_ids={g.get("VpcId", "") for g in raw_groups})
    rules = read_rules(ec2, sorted(found))
    groups = tuple(build_group(g, rules.get(g["GroupId"], ()), clusters) for g in raw_groups)
    removed: tuple[tuple[str, Permission], ...] = ()
    if change.is_revoke and len(found) == 1:
        removed = tuple((next(iter(found)), p) for p in change.permissions)
    return SgSnapshot(groups, clusters, removed, tuple(g for g in group_ids if g not in found))


def read_groups(aws: Aws, region: str, group_ids: Iterable[str]) -> tuple[SecurityGroup, ...]:
    """Groups (without their rules) classified as ``read_region_sg_snapshot`` classifies them, against the
    clusters of their VPCs: what a guard that has not read the whole region asks about a template's groups."""
    ec2 = aws.client("ec2", region)
    raw_groups = _describe_groups(ec2, sorted(set(group_ids)))
    if not raw_groups:
        return ()
    clusters = read_clusters(aws, region, vpc_ids={g.get("VpcId", "") for g in raw_groups})
    return tuple(build_group(g, (), clusters) for g in raw_groups)


def build_group(raw: Mapping[str, Any], rules: Iterable[SgRule], clusters: Iterable[Cluster]) -> SecurityGroup:
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}
    roles, names, in_vpc = classify(raw["GroupId"], raw.get("GroupName", ""), raw.get("VpcId", ""), tags, clusters)
    return SecurityGroup(raw["GroupId"], raw.get("GroupName", ""), raw.get("VpcId", ""), tags, tuple(rules),
                         roles, names, in_vpc)


def read_rules(ec2: Any, group_ids: list[str]) -> dict[str, list[SgRule]]:
    """DescribeSecurityGroupRules, 1000 a page, many groups per request (not one call per group)."""
    out: dict[str, list[SgRule]] = {}
    paginator = ec2.get_paginator("describe_security_group_rules")
    for chunk in _chunks(group_ids, FILTER_CHUNK):
        pages = paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}],
                                   PaginationConfig={"PageSize": 1000})
        for page in pages:
            for raw in page.get("SecurityGroupRules", []):
                out.setdefault(raw["GroupId"], []).append(to_rule(raw))
    return out


def to_rule(raw: Mapping[str, Any]) -> SgRule:
    ref = raw.get("ReferencedGroupInfo") or {}
    return SgRule(
        rule_id=raw["SecurityGroupRuleId"],
        group_id=raw["GroupId"],
        is_egress=bool(raw.get("IsEgress")),
        protocol=str(raw.get("IpProtocol", "-1")),
        from_port=None if raw.get("FromPort") in (None, -1) else int(raw["FromPort"]),
        to_port=None if raw.get("ToPort") in (None, -1) else int(raw["ToPort"]),
        cidr_ipv4=raw.get("CidrIpv4"),
        cidr_ipv6=raw.get("CidrIpv6"),
        prefix_list_id=raw.get("PrefixListId"),
        referenced_group_id=ref.get("GroupId"),
        description=raw.get("Description"),
        image=dict(raw),
    )


def read_clusters(aws: Aws, region: str, vpc_ids: set[str]) -> tuple[Cluster, ...]:
    """Clusters in the given VPCs with their cluster, control-plane and node security groups."""
    eks, ec2 = aws.client("eks", region), aws.client("ec2", region)
    described = []
    for page in eks.get_paginator("list_clusters").paginate():
        for name in page.get("clusters", []):
            cluster = eks.describe_cluster(name=name)["cluster"]
            if cluster.get("resourcesVpcConfig", {}).get("vpcId") in vpc_ids:
                described.append(cluster)
    # moto (and very old clusters) omit clusterSecurityGroupId: find the group by the tag EKS puts on it.
    untagged = [c["name"] for c in described if not c["resourcesVpcConfig"].get("clusterSecurityGroupId")]
    by_tag = _cluster_sgs_by_tag(ec2, untagged) if untagged else {}
    return tuple(
        Cluster(
            name=c["name"],
            vpc_id=c["resourcesVpcConfig"]["vpcId"],
            arn=c.get("arn", ""),
            cluster_sg_id=c["resourcesVpcConfig"].get("clusterSecurityGroupId") or by_tag.get(c["name"]),
            control_plane_sg_ids=tuple(c["resourcesVpcConfig"].get("securityGroupIds", [])),
            node_sg_ids=_node_sg_ids(eks, ec2, c["name"]),
        )
        for c in described
    )


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


def _describe_groups(ec2: Any, group_ids: list[str]) -> list[dict[str, Any]]:
    # A group-id filter (not GroupIds=) so a group deleted since the event is simply absent.
    groups: list[dict[str, Any]] = []
    for chunk in _chunks(group_ids, FILTER_CHUNK):
        pages = ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "group-id", "Values": chunk}])
        groups += [g for page in pages for g in page.get("SecurityGroups", [])]
    return groups


def _ids_for_names(ec2: Any, names: Iterable[str]) -> list[str]:
    names = list(names)
    if not names:
        return []
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "group-name", "Values": names}])
    return [g["GroupId"] for page in pages for g in page.get("SecurityGroups", [])]


def revoke_rules(aws: Aws, region: str, group_id: str, is_egress: bool, rule_ids: list[str]) -> dict[str, str | None]:
    """Revoke by SecurityGroupRuleId. Returns rule id -> None (revoked) or an error code.
    One call per group and direction; if the batch fails, retry one by one so one vanished
    rule cannot block the others."""
    ec2 = aws.client("ec2", region)
    call = ec2.revoke_security_group_egress if is_egress else ec2.revoke_security_group_ingress
    try:
        call(GroupId=group_id, SecurityGroupRuleIds=rule_ids)
        return dict.fromkeys(rule_ids)
    except ClientError as exc:
        if len(rule_ids) == 1:
            return {rule_ids[0]: error_code(exc)}
    results: dict[str, str | None] = {}
    for rule_id in rule_ids:
        try:
            call(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
            results[rule_id] = None
        except ClientError as exc:
            results[rule_id] = error_code(exc)
    return results


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def read_region_sg_snapshot(aws: Aws, region: str) -> SgSnapshot:
    """Every security group of the region with its rules, for the sweep and ``eksguard scan``: two paged
    reads of 1000 per page over the whole region (never one call per group), then the clusters."""
    ec2 = aws.client("ec2", region)
    raw_groups = [g for page in ec2.get_paginator("describe_security_groups").paginate(
        PaginationConfig={"PageSize": 1000}) for g in page.get("SecurityGroups", [])]
    rules: dict[str, list[SgRule]] = {}
    for page in ec2.get_paginator("describe_security_group_rules").paginate(PaginationConfig={"PageSize": 1000}):
        for raw in page.get("SecurityGroupRules", []):
            rules.setdefault(raw["GroupId"], []).append(to_rule(raw))
    clusters = read_clusters(aws, region, vpc_ids={g.get("VpcId", "") for g in raw_groups})
    groups = tuple(build_group(g, rules.get(g["GroupId"], ()), clusters) for g in raw_groups)
    return SgSnapshot(groups, clusters)

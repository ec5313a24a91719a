"""Security-group reads (paged, batched by group) and the one write: revoke by rule id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws import parallel, topology
from eksguard.aws.clients import Aws, error_code
from eksguard.parse.ec2 import Permission, SgChange
from eksguard.snapshot.sg import Cluster, SecurityGroup, SgRule, SgSnapshot, classify

# Errors that mean "the thing to revoke is already gone": someone else won the race.
GONE_CODES = frozenset({"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound",
                        "InvalidGroup.NotFound", "InvalidSecurityGroupId.NotFound"})
FILTER_CHUNK = 200  # EC2 filter values per request
# The id of a rule known only from DescribeSecurityGroups' permissions (``permission_rules``): never an AWS id.
UNREAD_RULE_PREFIX = "unread:"


def read_sg_snapshot(aws: Aws, region: str, change: SgChange, topology_seconds: int = 0) -> SgSnapshot:
    """The groups an event names, with every rule (DescribeSecurityGroupRules: the rule ids revokes go by and the
    exact before-images), and the region's clusters (``topology``, kept ``topology_seconds`` in the container):
    three independent reads, side by side."""
    ec2 = aws.client("ec2", region)
    group_ids = list(change.group_ids) or _ids_for_names(ec2, change.group_names)
    raw_groups, rules, every_cluster = parallel.together(
        lambda: _describe_groups(ec2, group_ids), lambda: read_rules(ec2, group_ids),
        lambda: topology.region_clusters(aws, region, topology_seconds))
    found = {g["GroupId"] for g in raw_groups}
    vpcs = {g.get("VpcId", "") for g in raw_groups}
    clusters = tuple(c for c in every_cluster if c.vpc_id in vpcs)
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
    vpcs = {g.get("VpcId", "") for g in raw_groups}
    clusters = tuple(c for c in topology.region_clusters(aws, region) if c.vpc_id in vpcs)
    return tuple(build_group(g, (), clusters) for g in raw_groups)


def build_group(raw: Mapping[str, Any], rules: Iterable[SgRule], clusters: Iterable[Cluster]) -> SecurityGroup:
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}
    roles, names, in_vpc = classify(raw["GroupId"], raw.get("GroupName", ""), raw.get("VpcId", ""), tags, clusters)
    return SecurityGroup(raw["GroupId"], raw.get("GroupName", ""), raw.get("VpcId", ""), tags, tuple(rules),
                         roles, names, in_vpc)


def read_rules(ec2: Any, group_ids: list[str]) -> dict[str, list[SgRule]]:
    """DescribeSecurityGroupRules, 1000 a page, many groups per request (not one call per group)."""
    out: dict[str, list[SgRule]] = {}
    if not group_ids:
        return out
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


def describe_region_groups(aws: Aws, region: str) -> list[dict[str, Any]]:
    """Every security group of the region with its permissions (IpPermissions, IpPermissionsEgress): one paged
    read, 1000 a page."""
    pages = aws.client("ec2", region).get_paginator("describe_security_groups").paginate(
        PaginationConfig={"PageSize": 1000})
    return [g for page in pages for g in page.get("SecurityGroups", [])]


def permission_rules(raw: Mapping[str, Any]) -> list[SgRule]:
    """A group's rules as DescribeSecurityGroups lists them: one rule per source of each permission, exactly as
    DescribeSecurityGroupRules would list them but without their rule ids and images. Enough to judge the group;
    never enough to change it (a revoke needs the rule id, the audit record the exact rule: ``read_rules``)."""
    group_id = raw["GroupId"]
    rules: list[SgRule] = []
    for key, egress in (("IpPermissions", False), ("IpPermissionsEgress", True)):
        for perm in raw.get(key, []):
            sources: list[dict[str, Any]] = (
                [{"cidr_ipv4": r.get("CidrIp"), "description": r.get("Description")} for r in perm.get("IpRanges", [])]
                + [{"cidr_ipv6": r.get("CidrIpv6"), "description": r.get("Description")}
                   for r in perm.get("Ipv6Ranges", [])]
                + [{"prefix_list_id": r.get("PrefixListId"), "description": r.get("Description")}
                   for r in perm.get("PrefixListIds", [])]
                + [{"referenced_group_id": r.get("GroupId"), "description": r.get("Description")}
                   for r in perm.get("UserIdGroupPairs", [])])
            for source in sources:
                rules.append(SgRule(
                    rule_id=f"{UNREAD_RULE_PREFIX}{group_id}/{'egress' if egress else 'ingress'}/{len(rules)}",
                    group_id=group_id, is_egress=egress, protocol=str(perm.get("IpProtocol", "-1")),
                    from_port=None if perm.get("FromPort") in (None, -1) else int(perm["FromPort"]),
                    to_port=None if perm.get("ToPort") in (None, -1) else int(perm["ToPort"]), **source))
    return rules

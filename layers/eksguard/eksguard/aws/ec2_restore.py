"""Writes a security-group rollback needs: re-authorize a rule from its before-image, tag the group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eksguard.aws.clients import Aws

_SOURCES = (
    ("CidrIpv4", "IpRanges", "CidrIp"),
    ("CidrIpv6", "Ipv6Ranges", "CidrIpv6"),
    ("PrefixListId", "PrefixListIds", "PrefixListId"),
)


def permission_from_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """The IpPermission that recreates one rule as DescribeSecurityGroupRules described it."""
    perm: dict[str, Any] = {"IpProtocol": image["IpProtocol"]}
    if image["IpProtocol"] != "-1":  # all-traffic rules carry no ports; others keep theirs (ICMP -1 included)
        perm["FromPort"], perm["ToPort"] = int(image["FromPort"]), int(image["ToPort"])
    source: dict[str, Any] = {}
    for image_key, list_key, item_key in _SOURCES:
        if image.get(image_key):
            source = {item_key: image[image_key]}
            perm[list_key] = [source]
    ref = image.get("ReferencedGroupInfo")
    if ref:
        source = {k: v for k, v in (("GroupId", ref.get("GroupId")), ("UserId", ref.get("UserId"))) if v}
        perm["UserIdGroupPairs"] = [source]
    if not source:
        raise ValueError("the before-image names no source (CIDR, prefix list or group)")
    if image.get("Description"):
        source["Description"] = image["Description"]
    return perm


def authorize_from_image(aws: Aws, region: str, image: Mapping[str, Any]) -> list[str]:
    """Re-create the rule; returns the new rule ids."""
    ec2 = aws.client("ec2", region)
    call = ec2.authorize_security_group_egress if image.get("IsEgress") else ec2.authorize_security_group_ingress
    kwargs: dict[str, Any] = {"GroupId": image["GroupId"], "IpPermissions": [permission_from_image(image)]}
    tags = [t for t in image.get("Tags") or [] if not str(t.get("Key", "")).startswith("aws:")]
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "security-group-rule", "Tags": tags}]
    response = call(**kwargs)
    return [r["SecurityGroupRuleId"] for r in response.get("SecurityGroupRules", [])]


def group_tags(aws: Aws, region: str, group_id: str) -> dict[str, str] | None:
    """The group's tags, or None when the group no longer exists."""
    pages = aws.client("ec2", region).get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "group-id", "Values": [group_id]}])
    for page in pages:
        for group in page.get("SecurityGroups", []):
            return {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
    return None


def tag_group(aws: Aws, region: str, group_id: str, key: str, value: str) -> None:
    aws.client("ec2", region).create_tags(Resources=[group_id], Tags=[{"Key": key, "Value": value}])


def untag_group(aws: Aws, region: str, group_id: str, key: str) -> None:
    aws.client("ec2", region).delete_tags(Resources=[group_id], Tags=[{"Key": key}])

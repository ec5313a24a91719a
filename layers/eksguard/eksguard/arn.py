"""ARNs, built in one place from the partition the account lives in (aws, aws-cn, aws-us-gov, ...), never a
literal ``aws``: the template deploys to every partition."""

from __future__ import annotations

# Region-name prefixes of the partitions other than "aws" (botocore's partitions data, by prefix).
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-isof-", "aws-iso-f"),
               ("eu-isoe-", "aws-iso-e"), ("us-iso-", "aws-iso"))


def partition_of(region: str) -> str:
    return next((p for prefix, p in _PARTITIONS if region.startswith(prefix)), "aws")


def partition_in(arn: str | None) -> str | None:
    """The partition an ARN names (``arn:aws-cn:...`` -> ``aws-cn``), or None when it is not an ARN."""
    parts = (arn or "").split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "arn" and parts[1].startswith("aws") else None


def build(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def ec2(partition: str, region: str, account: str, kind: str, resource_id: str) -> str:
    """``kind``: security-group, security-group-rule, launch-template, instance, ..."""
    return build(partition, "ec2", region, account, f"{kind}/{resource_id}")

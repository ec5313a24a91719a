"""ARNs carry the account's partition: aws-cn and aws-us-gov deployments must never get arn:aws:..."""

from __future__ import annotations

import copy
import json

import pytest
from tests.paths import EVENTS

from eksguard import arn
from eksguard.parse.envelope import parse_envelope


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("ap-northeast-2", "aws"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"), ("us-isob-east-1", "aws-iso-b"),
])
def test_partition_of_region(region: str, partition: str) -> None:
    assert arn.partition_of(region) == partition


def test_partition_in_arn() -> None:
    assert arn.partition_in("arn:aws-cn:iam::123456789012:role/x") == "aws-cn"
    assert arn.partition_in("not-an-arn") is None and arn.partition_in(None) is None


def test_the_event_decides_the_partition() -> None:
    raw = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    assert parse_envelope(raw).context.partition == "aws"
    china = copy.deepcopy(raw)
    china["region"] = china["detail"]["awsRegion"] = "cn-north-1"
    identity = china["detail"]["userIdentity"]
    for key in ("arn",):
        if key in identity:
            identity[key] = identity[key].replace("arn:aws:", "arn:aws-cn:")
    identity.get("sessionContext", {}).get("sessionIssuer", {}).pop("arn", None)
    assert parse_envelope(china).context.partition == "aws-cn"
    identity.pop("arn", None)  # no ARN in the identity: the region's partition
    assert parse_envelope(china).context.partition == "aws-cn"


def test_ec2_arn() -> None:
    assert arn.ec2("aws-us-gov", "us-gov-west-1", "123456789012", "security-group-rule", "sgr-1") == (
        "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:security-group-rule/sgr-1")

"""Alerts as ASFF findings: the fields Security Hub requires, its own resource types, and the
state each action leaves the finding in."""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.validate import ParamValidator
from tests.unit.alert_samples import message

from eksguard.alert.asff import REQUIRED_FIELDS, build_finding, finding_id, is_finding, missing_fields, product_arn

NOW = datetime(2026, 11, 20, 9, 0, 30, 250000, tzinfo=UTC)
INPUT_SHAPE = botocore.session.get_session().get_service_model("securityhub").operation_model(
    "BatchImportFindings").input_shape


@pytest.mark.parametrize("action", ["revoked", "rewrote-trust", "alert-only", "exempt", "failed", "rolled-back"])
def test_required_fields_present_and_botocore_accepts_the_shape(action: str) -> None:
    remediation = "" if action in ("alert-only", "exempt", "failed") else "r-1"
    finding = build_finding(message(action=action, remediation_id=remediation), NOW)
    assert set(REQUIRED_FIELDS) == {"SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
                                    "CreatedAt", "UpdatedAt", "Severity", "Title", "Description", "Resources"}
    assert missing_fields(finding) == []
    report = ParamValidator().validate({"Findings": [finding]}, INPUT_SHAPE)
    assert not report.has_errors(), report.generate_report()


def test_identity_fields() -> None:
    finding = build_finding(message(), NOW)
    assert finding["SchemaVersion"] == "2018-10-08"
    assert finding["ProductArn"] == "arn:aws:securityhub:ap-northeast-2:123456789012:product/123456789012/default"
    assert finding["GeneratorId"] == "SG-002"
    assert finding["AwsAccountId"] == "123456789012"
    assert finding["Id"] == "eksguard/123456789012/ap-northeast-2/sg-0123456789abcdef0/SG-002/sgr-1"
    assert finding["Types"] == ["Software and Configuration Checks/AWS Security Best Practices/Network Reachability"]
    assert finding["Severity"] == {"Label": "CRITICAL", "Original": "critical"}
    assert finding["FindingProviderFields"] == {"Severity": finding["Severity"], "Types": finding["Types"]}
    assert finding["Title"] == "SG-002 World-open ingress to a protected port"
    assert finding["CreatedAt"] == "2026-11-20T09:00:05.000Z"  # the CloudTrail event's time
    assert finding["UpdatedAt"] == "2026-11-20T09:00:30.250Z"


def test_product_arn_follows_the_partition() -> None:
    assert product_arn("aws-cn", "cn-north-1", "123456789012") == \
        "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    assert build_finding(message(), NOW, "aws-us-gov")["Resources"][0]["Partition"] == "aws-us-gov"


def test_product_arn_names_the_region_the_finding_is_imported_into() -> None:
    finding = build_finding(message(), NOW, hub_region="us-east-1")
    assert finding["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert finding["Region"] == "ap-northeast-2"


@pytest.mark.parametrize(("action", "compliance", "workflow", "record"), [
    ("revoked", "PASSED", "RESOLVED", "ARCHIVED"),
    ("rewrote-trust", "PASSED", "RESOLVED", "ARCHIVED"),
    ("alert-only", "FAILED", "NEW", "ACTIVE"),
    ("failed", "FAILED", "NEW", "ACTIVE"),
    ("exempt", "FAILED", "SUPPRESSED", "ACTIVE"),
    ("rolled-back", "FAILED", "SUPPRESSED", "ACTIVE"),
])
def test_state_after_each_action(action: str, compliance: str, workflow: str, record: str) -> None:
    finding = build_finding(message(action=action), NOW)
    assert (finding["Compliance"]["Status"], finding["Workflow"]["Status"], finding["RecordState"]) == \
        (compliance, workflow, record)


def test_recommendation_says_how_to_undo_or_how_to_fix() -> None:
    fixed = build_finding(message(), NOW)["Remediation"]["Recommendation"]["Text"]
    assert "eksguard rollback f6db0e44-cd95-558d-9af9-07f917c2ea2d" in fixed
    open_ = build_finding(message(action="alert-only", detail="tcp/22 from 0.0.0.0/0"), NOW)
    text = open_["Remediation"]["Recommendation"]["Text"]
    assert text.startswith("Remove or narrow what SG-002 flags: tcp/22 from 0.0.0.0/0.")
    assert "eksguard:exempt=true" in text


@pytest.mark.parametrize(("arn", "resource_id", "kind"), [
    ("arn:aws:ec2:ap-northeast-2:123456789012:security-group/sg-1", "sg-1", "AwsEc2SecurityGroup"),
    ("arn:aws:iam::123456789012:role/eksguard-demo/payments-irsa", "payments-irsa", "AwsIamRole"),
    ("arn:aws:eks:ap-northeast-2:123456789012:cluster/demo", "demo", "AwsEksCluster"),
    ("", "sg-2", "AwsEc2SecurityGroup"),
    ("arn:aws:s3:::bucket", "bucket", "Other"),
])
def test_resource_types(arn: str, resource_id: str, kind: str) -> None:
    (resource,) = build_finding(message(resource_arn=arn, resource_id=resource_id), NOW)["Resources"]
    assert resource["Type"] == kind
    assert resource["Id"] == (arn or resource_id)


def test_the_same_finding_is_updated_from_detection_to_fix() -> None:
    seen = message(action="alert-only", mode="audit", remediation_id="")
    fixed = message(action="revoked")
    assert finding_id(seen) == finding_id(fixed)
    assert finding_id(message(before={"SecurityGroupRuleId": "sgr-other"})) != finding_id(fixed)


def test_a_sweep_summary_is_not_a_finding() -> None:
    assert is_finding(message())
    assert not is_finding(message(rule_id="SWEEP", action="alert-only", remediation_id=""))


def test_missing_fields_names_what_security_hub_would_refuse() -> None:
    finding = build_finding(message(), NOW)
    del finding["Types"]
    finding["Resources"] = []
    assert missing_fields(finding) == ["Types", "Resources"]

"""`eksguard scan` in-process on moto: every format, --fail-on, exemptions, and proof that it makes no
write call (a botocore ``before-call`` hook sees every operation)."""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tests.functional.conftest import Account

from eksguard.cli.scan import run
from eksguard.local.seed import seed_cluster_posture
from eksguard.model import Severity

READ_PREFIXES = ("Describe", "List", "Get", "LookupEvents")


def _scan(fmt: str = "table", fail_on: Severity | None = None, regions: list[str] | None = None,
          scope: str | None = None, deny: str | None = None) -> tuple[int, str, str, Counter[str]]:
    session = boto3.session.Session(region_name="ap-northeast-2")
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update([model.name]))
    if deny:
        def refuse(model: Any, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, model.name)

        session.events.register(f"before-call.ec2.{deny}", refuse)
    out, err = io.StringIO(), io.StringIO()
    # The K8 family is tests/functional/test_k8s_family.py's subject: without a Kubernetes API stand-in every cluster
    # here would be K8-000 (not evaluated), so these tests leave it out as `--no-kubernetes` does.
    args = argparse.Namespace(regions=regions, format=fmt, fail_on=fail_on, scope=scope, no_kubernetes=True)
    code = run(args, out, err, session=session)
    return code, out.getvalue(), err.getvalue(), calls


@pytest.fixture
def seeded(account: Account) -> Account:
    seed_cluster_posture(account.session, account.acct)
    return account


def test_scan_makes_no_write_call(seeded: Account) -> None:
    eks = seeded.session.client("eks")
    contractor = "arn:aws:iam::123456789012:role/contractor-admin"
    eks.create_access_entry(clusterName="legacy", principalArn=contractor)
    eks.associate_access_policy(clusterName="legacy", principalArn=contractor, accessScope={"type": "cluster"},
                                policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    before_rules = seeded.rules(seeded.acct.node_sg)
    code, out, _, calls = _scan(fmt="json", scope="all")
    assert code == 0
    assert calls, "the hook saw no call at all"
    writes = sorted(op for op in calls if not op.startswith(READ_PREFIXES))
    assert writes == [], f"scan made write calls: {writes}"
    # Every reader ran: groups, rules, clusters, access entries, node groups, templates, CloudTrail.
    assert {"DescribeSecurityGroups", "DescribeSecurityGroupRules", "DescribeCluster", "ListAccessEntries",
            "ListAssociatedAccessPolicies", "DescribeNodegroup", "DescribeLaunchTemplateVersions",
            "DescribeTrails"} <= set(calls)
    assert seeded.rules(seeded.acct.node_sg) == before_rules
    findings = json.loads(out)["findings"]
    assert any(f["rule_id"] == "EK-006" and f["target_id"] == contractor for f in findings)


def test_json_report(seeded: Account) -> None:
    _, out, _, _ = _scan(fmt="json")
    report = json.loads(out)
    assert report["account"] == "123456789012" and report["regions"] == ["ap-northeast-2"]
    rules = {f["rule_id"] for f in report["findings"]}
    assert {"CT-001", "EK-001", "EK-002", "EK-003", "EK-004", "EK-006", "SG-005"} <= rules
    assert all(f["account"] == "123456789012" and f["region"] == "ap-northeast-2" for f in report["findings"])
    assert report["cloudtrail"] == {"ap-northeast-2": []}
    assert report["counts"]["critical"] >= 1
    severities = [Severity.parse(f["severity"]) for f in report["findings"]]
    assert severities == sorted(severities, reverse=True)


def test_table_and_markdown(seeded: Account) -> None:
    _, table, err, _ = _scan()
    assert err == ""  # not a terminal: no progress display
    lines = table.splitlines()
    assert lines[0].startswith("eksguard scan of account 123456789012, ap-northeast-2:")
    assert "CloudTrail ap-northeast-2: NO trail logs management events (CT-001)" in table
    header = next(line for line in lines if line.startswith("SEVERITY"))
    assert header.split() == ["SEVERITY", "RULE", "REGION", "RESOURCE", "DETAIL"]
    assert any(line.startswith("critical") and "CT-001" in line for line in lines)
    _, md, _, _ = _scan(fmt="markdown")
    assert "| severity | rule | region | resource | detail |" in md
    assert "| high | EK-001 | ap-northeast-2 | `legacy` |" in md


def test_fail_on(seeded: Account) -> None:
    assert _scan(fail_on=Severity.CRITICAL)[0] == 1  # CT-001: no trail in the stand-in
    trail_bucket = seeded.session.client("s3")
    trail_bucket.create_bucket(Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    ct = seeded.session.client("cloudtrail")
    ct.create_trail(Name="management", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    ct.start_logging(Name="management")
    code, out, _, _ = _scan(fail_on=Severity.CRITICAL)
    assert code == 0 and "management events logged by management" in out
    assert _scan(fail_on=Severity.HIGH)[0] == 1


def test_exempt_findings_are_marked_and_do_not_fail(seeded: Account) -> None:
    eks = seeded.session.client("eks")
    for name in ("demo", "legacy"):
        eks.tag_resource(resourceArn=eks.describe_cluster(name=name)["cluster"]["arn"],
                         tags={"eksguard:exempt": "true"})
    _, out, _, _ = _scan(fmt="json")
    ek = [f for f in json.loads(out)["findings"] if f["rule_id"] in ("EK-001", "EK-002", "EK-003")]
    assert ek and all(f["exempt"] for f in ek)


def test_unreadable_account_is_an_error_not_a_clean_report(seeded: Account) -> None:
    code, out, err, _ = _scan(deny="DescribeSecurityGroupRules")
    assert code == 2 and out == "" and "UnauthorizedOperation" in err

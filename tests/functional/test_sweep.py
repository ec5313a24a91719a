"""The sweep on moto: every rule family over the region, "only new or changed" across sweeps, the
summary message, enforce-mode remediation, and reads that page over the region instead of per group."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import ec2_error, inject, json_error, record_calls
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test
from tests.unit.alert_samples import message

from eksguard import clock
from eksguard.alert.publish import PublishError, publish_batch
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.local.invoke import Invocation, invoke
from eksguard.local.seed import seed_cluster_posture
from eksguard.pipeline import sweep

OFFICE = "203.0.113.0/24"


def _event(event_id: str = "8d2e4f6a-1b3c-4d5e-9f7a-2b4c6d8e0f13") -> dict[str, Any]:
    event = json.loads((EVENTS / "scheduled-sweep.json").read_text())
    return {**copy.deepcopy(event), "id": event_id}


# The K8 family is test_k8s_family.py's subject; here no Kubernetes API stand-in serves the clusters (each would
# be K8-000), so the sweeps leave it out as the template's ReadKubernetes=false does.
NO_K8 = {"ReadKubernetes": "false"}


def _sweep(account: Account, event_id: str, **overrides: str) -> Invocation:
    result = invoke(account.app(**{**NO_K8, **overrides}), "SweepFunction", _event(event_id))
    assert result.ok, result.error
    return result


def _split(alerts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    summaries = [a for a in alerts if a["rule_id"] == "SWEEP"]
    return summaries, [a for a in alerts if a["rule_id"] != "SWEEP"]


@pytest.fixture
def seeded(account: Account) -> Account:
    seed_cluster_posture(account.session, account.acct)
    return account


def test_second_sweep_alerts_only_what_is_new(seeded: Account) -> None:
    first = _sweep(seeded, "sweep-1")
    summaries, findings = _split(seeded.alerts())
    assert len(summaries) == 1 and findings
    rules = {a["rule_id"] for a in findings}
    # Every family: security groups, clusters, node launch templates, CloudTrail.
    assert {"SG-005", "EK-001", "EK-002", "EK-003", "EK-004", "EK-006", "CT-001"} <= rules
    assert {a["action"] for a in findings} == {"alert-only"}  # audit mode (the default)
    assert first.response["extra"]["new"] == len(findings)

    second = _sweep(seeded, "sweep-2")
    summaries, findings = _split(seeded.alerts())
    assert len(summaries) == 1 and findings == []
    assert second.response["extra"]["new"] == 0 and second.response["extra"]["open"] == first.response["extra"]["open"]

    seeded.ec2.authorize_security_group_ingress(GroupId=seeded.acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    _sweep(seeded, "sweep-3")
    summaries, findings = _split(seeded.alerts())
    assert [(a["rule_id"], a["resource_id"]) for a in findings] == [("SG-002", seeded.acct.node_sg)]
    assert summaries[0]["extra"]["new"] == 1


def test_changed_findings_are_alerted_again(seeded: Account) -> None:
    _sweep(seeded, "sweep-1")
    seeded.alerts()
    # The same finding changes state: its exemption tag is added (alert-only -> exempt).
    seeded.ec2.create_tags(Resources=[seeded.acct.bastion_sg], Tags=[{"Key": "eksguard:exempt", "Value": "true"}])
    result = _sweep(seeded, "sweep-2")
    _, findings = _split(seeded.alerts())
    assert [(a["rule_id"], a["action"]) for a in findings] == [("SG-005", "exempt")]
    assert result.response["extra"]["changed"] == 1 and result.response["extra"]["new"] == 0


def test_summary_message_counts_by_rule_and_severity(seeded: Account) -> None:
    from eksguard.alert.messages import CONTRACT_FIELDS

    result = _sweep(seeded, "sweep-1")
    summaries, findings = _split(seeded.alerts())
    (summary,) = summaries
    assert set(CONTRACT_FIELDS) <= set(summary)
    assert summary["action"] == "alert-only" and summary["event_id"] == "sweep-1"
    assert summary["_attributes"]["rule_id"] == "SWEEP"
    assert summary["severity"] == "critical"  # CT-001: no trail in the stand-in
    assert summary["extra"]["by_rule"] == dict(sorted(Counter(a["rule_id"] for a in findings).items()))
    assert summary["extra"]["by_severity"] == dict(sorted(Counter(a["severity"] for a in findings).items()))
    assert "Sweep of ap-northeast-2" in summary["summary"] and "EK-001" in summary["summary"]
    assert result.response["extra"] == summary["extra"]


def test_enforce_sweep_remediates_and_resolves(seeded: Account) -> None:
    seeded.ec2.authorize_security_group_ingress(GroupId=seeded.acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    overrides = {"Mode": "enforce", "TrustedCidrs": OFFICE, "EnforceImdsv2": "true"}
    result = _sweep(seeded, "sweep-1", **overrides)
    _, findings = _split(seeded.alerts())
    actions = {(a["rule_id"], a["resource_id"]): a["action"] for a in findings}
    assert actions[("SG-002", seeded.acct.node_sg)] == "revoked"
    assert actions[("EK-001", "legacy")] == actions[("EK-001", "demo")] == "restricted-endpoint"
    assert actions[("EK-002", "legacy")] == "enabled-logging"
    assert "new-launch-template-version" in actions.values()
    assert (22, "0.0.0.0/0") not in seeded.ingress_sources(seeded.acct.node_sg)
    eks = seeded.session.client("eks")
    assert eks.describe_cluster(name="demo")["cluster"]["resourcesVpcConfig"]["publicAccessCidrs"] == [OFFICE]
    assert result.response["extra"]["remediated"] >= 5 and result.response["extra"]["failed"] == 0
    # Fixed things are not open any more: the next sweep has nothing new and nothing to change.
    again = _sweep(seeded, "sweep-2", **overrides)
    _, findings = _split(seeded.alerts())
    assert findings == [] and again.response["extra"]["remediated"] == 0


@pytest.mark.parametrize("overrides", [{}, {"Mode": "enforce", "TrustedCidrs": OFFICE, "EnforceImdsv2": "true",
                                            "DeployIamRules": "always"}], ids=["audit", "enforce-iam-region"])
def test_under_moto_iam_with_exactly_the_template_policy(seeded: Account, overrides: dict[str, str]) -> None:
    """moto's own IAM enforcement as a second line: the sweep as a role holding only its template policy."""
    seeded.ec2.authorize_security_group_ingress(GroupId=seeded.acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    result = invoke_enforced(seeded.app(**overrides), "SweepFunction", _event("sweep-moto-iam"), seeded.session)
    assert result.ok, result.error
    assert result.response["extra"]["failed"] == 0
    enforce = overrides.get("Mode") == "enforce"
    assert ((22, "0.0.0.0/0") in seeded.ingress_sources(seeded.acct.node_sg)) is not enforce
    assert result.response["extra"]["remediated"] >= (5 if enforce else 0)


def test_redelivered_sweep_runs_once(seeded: Account) -> None:
    first = _sweep(seeded, "sweep-1")
    second = _sweep(seeded, "sweep-1")
    assert second.response == first.response
    summaries, _ = _split(seeded.alerts())
    assert len(summaries) == 1


def test_not_a_scheduled_event_is_rejected(seeded: Account) -> None:
    event = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    result = invoke(seeded.app(**NO_K8), "SweepFunction", event)
    assert result.ok and result.response["status"] == "rejected"
    assert seeded.alerts() == []


def test_reads_page_over_the_region_not_per_group(account: Account) -> None:
    """1,200 security groups: a handful of DescribeSecurityGroupRules calls, never one per group."""
    ec2 = account.ec2
    vpc = account.acct.vpc_id
    for i in range(1200):
        ec2.create_security_group(GroupName=f"bulk-{i:04d}", Description="bulk", VpcId=vpc)
    session = boto3.session.Session(region_name="ap-northeast-2")
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update([model.name]))
    app = account.app()
    config = Config.from_env({"EKSGUARD_AUDIT_TABLE": app.context.physical["AuditTable"]["Ref"],
                              "EKSGUARD_ALERT_TOPIC_ARN": app.context.physical["AlertTopic"]["Ref"]})
    result = sweep.handle(_event("sweep-paging"), config, EksConfig(read_kubernetes=False), Aws(session=session),
                          clock.now())
    assert result.status == "processed"
    assert 1 <= calls["DescribeSecurityGroupRules"] < 10
    assert 1 <= calls["DescribeSecurityGroups"] < 10
    assert result.extra["open"] > 0


def _role_with_a_mistyped_aud(seeded: Account) -> str:
    """demo's OIDC provider and role demo-aws-node, whose trust says aud sts.amazon.com (IR-001); the issuer's host."""
    issuer = seeded.session.client("eks").describe_cluster(name="demo")["cluster"]["identity"]["oidc"]["issuer"]
    host = issuer.removeprefix("https://")
    iam = seeded.session.client("iam")
    provider = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"])
    iam.create_role(RoleName="demo-aws-node", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider["OpenIDConnectProviderArn"]},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:aud": "sts.amazon.com",
                                           f"{host}:sub": "system:serviceaccount:kube-system:aws-node"}}}]}))
    return host


def test_irsa_roles_are_swept_where_iam_rules_live(seeded: Account) -> None:
    _role_with_a_mistyped_aud(seeded)
    _sweep(seeded, "sweep-regional")
    _, findings = _split(seeded.alerts())
    assert "IR-001" not in {a["rule_id"] for a in findings}  # not the IAM region: IAM is swept once, there
    _sweep(seeded, "sweep-iam", DeployIamRules="always")
    _, findings = _split(seeded.alerts())
    assert [(a["rule_id"], a["resource_id"], a["action"]) for a in findings] == [
        ("IR-001", "demo-aws-node", "alert-only")]


def test_irsa_trusts_are_rewritten_by_an_enforce_sweep_where_iam_rules_live(seeded: Account) -> None:
    host = _role_with_a_mistyped_aud(seeded)
    _sweep(seeded, "sweep-iam-enforce", DeployIamRules="always", Mode="enforce")
    _, findings = _split(seeded.alerts())
    assert ("IR-001", "demo-aws-node", "rewrote-trust") in {(a["rule_id"], a["resource_id"], a["action"])
                                                            for a in findings}
    trust = seeded.session.client("iam").get_role(RoleName="demo-aws-node")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"]["StringEquals"][f"{host}:aud"] == "sts.amazonaws.com"


def test_a_logging_trail_is_coverage(seeded: Account) -> None:
    """CT-001 reads each trail's status and event selectors in its home region."""
    seeded.session.client("s3").create_bucket(Bucket="trail-logs", CreateBucketConfiguration={
        "LocationConstraint": "ap-northeast-2"})
    cloudtrail = seeded.session.client("cloudtrail")
    cloudtrail.create_trail(Name="management", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="management")
    _sweep(seeded, "sweep-trail")
    _, findings = _split(seeded.alerts())
    assert "CT-001" not in {a["rule_id"] for a in findings}
    actions = {r.action for f, r, _ in this_test().checked if f == "SweepFunction"}
    assert {"cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"} <= actions


def test_a_revoke_ec2_fails_is_finished_by_the_retried_sweep(seeded: Account) -> None:
    """EC2 fails the revoke and EKS the endpoint restriction (5xx, after botocore's retries): the sweep fails for
    Lambda to retry it. The retry revokes the rule it re-read (its before-image written again, in its batch, before
    the revoke) and carries the cluster fix on from the before-image already audited (GetItem on the audit table)."""
    seeded.ec2.authorize_security_group_ingress(GroupId=seeded.acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    overrides = {"Mode": "enforce", "TrustedCidrs": OFFICE}
    with inject("ec2.RevokeSecurityGroupIngress", lambda: ec2_error("InternalError", 500)), \
            inject("eks.UpdateClusterConfig", lambda: json_error("ServerException", 500)):
        first = invoke(seeded.app(**{**NO_K8, **overrides}), "SweepFunction", _event("sweep-retried"))
    assert not first.ok and first.error is not None and first.error["errorType"] == "RetryableError"
    assert (22, "0.0.0.0/0") in seeded.ingress_sources(seeded.acct.node_sg)
    failed = {r["rule_id"]: r for r in seeded.audit_records() if r.get("outcome") == "failed"}
    assert {"SG-002", "EK-001"} <= set(failed)
    assert failed["SG-002"]["before_image"]["CidrIpv4"] == "0.0.0.0/0"
    _sweep(seeded, "sweep-retried", **overrides)
    assert (22, "0.0.0.0/0") not in seeded.ingress_sources(seeded.acct.node_sg)
    revoked = [r for r in seeded.audit_records() if r.get("rule_id") == "SG-002"]
    assert [(r["outcome"], r["before_image"]["CidrIpv4"]) for r in revoked] == [("revoked", "0.0.0.0/0")]
    eks = seeded.session.client("eks")
    assert eks.describe_cluster(name="demo")["cluster"]["resourcesVpcConfig"]["publicAccessCidrs"] == [OFFICE]
    restricted = [r for r in seeded.audit_records() if r.get("rule_id") == "EK-001" and r["resource_id"] == "demo"]
    assert [r["outcome"] for r in restricted] == ["applied"]
    reads = [r.resource for f, r, _ in this_test().checked if f == "SweepFunction" and r.action == "dynamodb:GetItem"]
    assert any(r.endswith(":table/AuditTable") for r in reads)


def test_alerts_go_out_ten_per_call(account: Account) -> None:
    """25 world-open groups in one sweep: 3 PublishBatch calls for the findings, then the summary."""
    ec2 = account.ec2
    for i in range(25):
        group = ec2.create_security_group(GroupName=f"open-{i:02d}", Description="bulk", VpcId=account.acct.vpc_id)
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    with record_calls() as calls:
        result = _sweep(account, "sweep-batch", Mode="enforce")
    _, findings = _split(account.alerts())
    revoked = [a for a in findings if a["action"] == "revoked"]
    assert len(revoked) >= 25
    assert calls.names("sns").count("sns.PublishBatch") == -(-len(findings) // 10)
    assert calls.names("sns").count("sns.Publish") == 1  # the summary
    assert result.response["alerts_sent"] == len(findings) + 1


def _batch_answer(successful: list[int], failed: list[int]) -> AWSResponse:
    ok = "".join(f"<member><Id>{n}</Id><MessageId>m-{n}</MessageId></member>" for n in successful)
    bad = "".join(f"<member><Id>{n}</Id><Code>InternalError</Code><Message>try again</Message>"
                  f"<SenderFault>false</SenderFault></member>" for n in failed)
    body = (f'<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
            f"<Successful>{ok}</Successful><Failed>{bad}</Failed></PublishBatchResult><ResponseMetadata>"
            f"<RequestId>r</RequestId></ResponseMetadata></PublishBatchResponse>").encode()
    return AWSResponse("https://sns.amazonaws.com/", 200, {}, MockRawResponse(body))


def test_a_refused_entry_is_raised_after_the_accepted_ones_are_reported(account: Account) -> None:
    """SNS answers PublishBatch 200 with per-entry failures: those are an error (the sweep is retried),
    and the entries it did accept are reported first (their changes are marked alerted)."""
    messages = [message(resource_id=f"sg-{n:017x}") for n in range(12)]
    answers = iter([_batch_answer(list(range(10)), []), _batch_answer([0], [1])])
    reported: list[str] = []
    with inject("sns.PublishBatch", lambda: next(answers)), pytest.raises(PublishError) as raised:
        publish_batch(Aws(), account.app().context.physical["AlertTopic"]["Ref"], messages,
                      lambda m: reported.append(m.resource_id))
    assert reported == [m.resource_id for m in messages[:11]]
    assert "SNS refused 1 of 12 alert(s): SG-002 on sg-0000000000000000b: InternalError try again" in str(raised.value)

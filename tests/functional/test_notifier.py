"""The notifier on moto: the real handler, the template's environment, a Slack webhook stand-in on
loopback, moto's Secrets Manager and Security Hub. Alerts come from the real security-group guard."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from tests.functional.conftest import Account
from tests.paths import EVENTS, TEMPLATE
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test

from eksguard.alert.asff import missing_fields
from eksguard.alert.dedupe import StormSettings
from eksguard.alert.messages import AlertMessage
from eksguard.alert.publish import publish
from eksguard.alert.slack import build_payload
from eksguard.aws.clients import Aws
from eksguard.local.demo import SCENARIOS
from eksguard.local.demo_slack import lambda_sns_event
from eksguard.local.invoke import Invocation, invoke
from eksguard.local.slack_receiver import SlackReceiver, slack_receiver
from eksguard.local.template import LocalContext, TemplateResolver, load_template

GROUPED_SSH = "sg-ingress-ssh-world-grouped-node"


@dataclass
class Notifier:
    account: Account
    receiver: SlackReceiver
    secret_arn: str

    def app(self) -> Any:
        return self.account.app(Mode="enforce", SlackWebhookSecretArn=self.secret_arn, SecurityHubExport="true")

    def guard(self, event_id: str | None = None, mode: str = "enforce") -> None:
        event = json.loads((EVENTS / f"{GROUPED_SSH}.json").read_text())
        if event_id:  # a new CloudTrail event about the same rule (not a redelivery)
            event = copy.deepcopy(event)
            event["detail"]["eventID"] = event_id
        result = self.account.invoke(event, Mode=mode)
        assert result.ok, result.error

    def notifications(self) -> list[dict[str, Any]]:
        """What SNS delivered to the topic's subscriber, envelopes and message attributes included."""
        sqs, out = self.account.session.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.account.alert_queue, MaxNumberOfMessages=10
                                           ).get("Messages", []):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.account.alert_queue, ReceiptHandle=m["ReceiptHandle"])
        return out

    def deliver(self, notification: dict[str, Any], **env: str) -> Invocation:
        return invoke(self.app(), "NotifierFunction", lambda_sns_event(notification, "arn:test:sub"), env)

    def findings(self) -> list[dict[str, Any]]:
        return list(self.account.session.client("securityhub").get_findings()["Findings"])


@pytest.fixture
def notifier(account: Account) -> Iterator[Notifier]:
    with slack_receiver() as receiver:
        secret = account.session.client("secretsmanager").create_secret(
            Name="eksguard/slack-webhook", SecretString=receiver.url)
        account.session.client("securityhub").enable_security_hub()
        SCENARIOS[0].mistake(account.ec2, account.acct)  # SSH from 0.0.0.0/0 (and 10.0.0.0/8) on the node SG
        yield Notifier(account, receiver, secret["ARN"])


def test_slack_gets_exactly_the_alert_as_block_kit(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    result = notifier.deliver(notification)
    assert result.ok, result.error
    assert result.response["results"] == [{"status": "delivered", "rule_id": "SG-002", "action": "revoked",
                                           "resource_id": notifier.account.acct.node_sg, "slack": True,
                                           "security_hub": True, "forwarded": False, "origin": None,
                                           "reason": None}]
    alert = AlertMessage.from_json(notification["Message"])
    assert notifier.receiver.payloads == [build_payload(alert)]
    (payload,) = notifier.receiver.payloads
    assert [b.to_dict() for b in Block.parse_all(payload["blocks"])] == payload["blocks"]
    (record,) = notifier.account.audit_records()
    assert f"`eksguard rollback {record['remediation_id']}`" in json.dumps(payload)
    assert "jane@example.com" in json.dumps(payload)


def test_sns_message_attributes_let_subscribers_filter(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    assert notification["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "critical"},
        "rule_id": {"Type": "String", "Value": "SG-002"},
        "action": {"Type": "String", "Value": "revoked"},
    }


def test_asff_finding_accepted_by_security_hub(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    assert notifier.deliver(notification).ok
    (finding,) = notifier.findings()
    # moto stores what it is given without checking ASFF: check the required fields ourselves.
    assert missing_fields(finding) == []
    assert finding["ProductArn"] == "arn:aws:securityhub:ap-northeast-2:123456789012:product/123456789012/default"
    assert finding["GeneratorId"] == "SG-002"
    assert finding["Resources"][0]["Type"] == "AwsEc2SecurityGroup"
    assert (finding["Compliance"]["Status"], finding["Workflow"]["Status"]) == ("PASSED", "RESOLVED")


def test_finding_seen_in_audit_mode_is_updated_when_fixed(notifier: Notifier) -> None:
    notifier.guard(mode="audit")
    notifier.guard(event_id="3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f91")
    for notification in notifier.notifications():
        assert notifier.deliver(notification).ok
    (finding,) = notifier.findings()  # one finding, updated in place
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("PASSED", "ARCHIVED")


def test_429_is_retried_after_retry_after(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    notifier.receiver.answer_next(429, headers={"Retry-After": "1"})
    result = notifier.deliver(notification)
    assert result.ok, result.error
    first, second = notifier.receiver.received
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # Retry-After honoured
    assert second.body == first.body and len(notifier.receiver.payloads) == 1


def test_server_errors_are_retried_with_backoff(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    notifier.receiver.answer_next(503, times=1)
    notifier.receiver.answer_next(502, times=1)
    assert notifier.deliver(notification).ok
    assert [r.status for r in notifier.receiver.received] == [503, 502, 200]


def test_a_message_that_still_fails_raises_for_lambda_to_retry(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    # Slack asks for a minute: longer than the function may wait, so fail now and let Lambda retry later.
    notifier.receiver.answer_next(429, headers={"Retry-After": "60"})
    result = notifier.deliver(notification)
    assert not result.ok
    assert result.error is not None and result.error["errorType"] == "SlackPostError"
    assert "429" in result.error["errorMessage"]
    assert len(notifier.receiver.received) == 1


def test_the_webhook_url_never_reaches_a_log(notifier: Notifier, caplog: pytest.LogCaptureFixture,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # the loudest it gets: botocore and slack-sdk debug output included
    debug = {"POWERTOOLS_LOG_LEVEL": "DEBUG"}
    notifier.guard()
    notifier.guard(mode="audit", event_id="3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f92")
    first, *_ = notifications = notifier.notifications()
    notifier.receiver.answer_next(429, headers={"Retry-After": "1"})
    runs = [notifier.deliver(n, **debug) for n in notifications]
    notifier.receiver.answer_next(429, headers={"Retry-After": "60"})
    runs.append(notifier.deliver({**first, "MessageId": "another-delivery"}, **debug))
    assert [r.ok for r in runs][-1] is False and notifier.receiver.payloads, "the test must cover both paths"
    token = notifier.receiver.path.rsplit("/", 1)[-1]
    captured = capsys.readouterr()
    outputs = [caplog.text, captured.out, captured.err, *(r.logs for r in runs), *(json.dumps(r.error) for r in runs)]
    assert "GetSecretValue" in caplog.text or "secretsmanager" in caplog.text  # debug logging really was on
    for text in outputs:
        assert token not in text


def _deliver_with_secret(notifier: Notifier, secret_arn: str) -> Invocation:
    notifier.guard()
    (notification,) = notifier.notifications()
    app = notifier.account.app(Mode="enforce", SlackWebhookSecretArn=secret_arn)
    return invoke(app, "NotifierFunction", lambda_sns_event(notification, "arn:test:sub"))


def test_secret_arn_given_without_its_suffix_is_readable_under_the_policy(notifier: Notifier) -> None:
    """Secrets Manager accepts an ARN without the six random characters it appends; IAM authorizes the call
    on the full ARN, so the grant must match both forms."""
    partial = notifier.secret_arn.rsplit("-", 1)[0]
    result = _deliver_with_secret(notifier, partial)
    assert result.ok, result.error
    assert notifier.receiver.payloads
    checked = this_test()
    reads = [r for _, r, _ in checked.checked if r.action == "secretsmanager:GetSecretValue"]
    assert [r.resource for r in reads] == [notifier.secret_arn]
    assert checked.violations == []


def test_secret_under_a_customer_managed_key_is_decryptable_under_the_policy(notifier: Notifier) -> None:
    """Secrets Manager decrypts with the caller's own kms:Decrypt on a customer-managed key."""
    session = notifier.account.session
    key = session.client("kms").create_key(Description="slack webhook")["KeyMetadata"]["Arn"]
    secret = session.client("secretsmanager").create_secret(
        Name="eksguard/slack-webhook-cmk", SecretString=notifier.receiver.url, KmsKeyId=key)["ARN"]
    result = _deliver_with_secret(notifier, secret)
    assert result.ok, result.error
    assert notifier.receiver.payloads
    checked = this_test()
    decrypts = [(r.resource, r.context["kms:ViaService"]) for _, r, _ in checked.checked if r.action == "kms:Decrypt"]
    assert decrypts == [(key, f"secretsmanager.{secret.split(':')[3]}.amazonaws.com")]
    assert checked.violations == []


def test_under_moto_iam_with_exactly_the_template_policy(notifier: Notifier) -> None:
    """moto's own IAM enforcement as a second line: Slack and Security Hub as a role holding only its policy."""
    notifier.guard()
    (notification,) = notifier.notifications()
    result = invoke_enforced(notifier.app(), "NotifierFunction", lambda_sns_event(notification, "arn:test:sub"),
                             notifier.account.session)
    assert result.ok, result.error
    assert result.response["results"][0]["status"] == "delivered"
    assert notifier.receiver.payloads and notifier.findings()


def test_a_contract_breaking_message_is_rejected_and_posts_nothing(notifier: Notifier) -> None:
    notifier.guard()
    (notification,) = notifier.notifications()
    broken = json.loads(notification["Message"])
    broken["action"] = "deleted-everything"
    del broken["actor"]
    result = notifier.deliver({**notification, "Message": json.dumps(broken)})
    assert result.ok  # rejected, not retried: a retry cannot fix it
    (outcome,) = result.response["results"]
    assert outcome["status"] == "rejected"
    assert "actor" in outcome["reason"]
    assert notifier.receiver.received == [] and notifier.findings() == []


def test_an_event_that_is_not_from_sns_is_rejected(notifier: Notifier) -> None:
    cloudtrail = json.loads((EVENTS / f"{GROUPED_SSH}.json").read_text())
    result = invoke(notifier.app(), "NotifierFunction", cloudtrail)
    assert result.ok
    assert result.response["results"] == [{"status": "rejected", "rule_id": None, "action": None,
                                           "resource_id": None, "slack": False, "security_hub": False,
                                           "forwarded": False, "origin": None,
                                           "reason": "not an SNS event (it has no Records) nor an eksguard "
                                                     "finding from the central bus"}]
    assert notifier.receiver.received == []


def test_a_storm_on_one_rule_collapses_into_one_message(notifier: Notifier) -> None:
    for n in range(3):  # three events about the same world-open rule, in audit mode
        notifier.guard(mode="audit", event_id=f"3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f8{n}")
    first = [AlertMessage.from_json(n["Message"]) for n in notifier.notifications()]
    assert [(m.rule_id, m.action, m.suppressed) for m in first] == [("SG-002", "alert-only", 0)]
    notifier.guard(event_id="3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f89")  # enforce: the revoke is never collapsed
    (fix,) = notifier.notifications()
    assert AlertMessage.from_json(fix["Message"]).suppressed == 2
    assert notifier.deliver(fix).ok
    assert "2 similar events suppressed" in json.dumps(notifier.receiver.payloads[-1])


class TestPublishPath:
    """alert.publish against moto: what collapses, what never does, and failure handling."""

    @pytest.fixture
    def env(self, account: Account) -> tuple[Aws, str, StormSettings]:
        physical = account.app().context.physical
        aws = Aws(session=account.session)
        return aws, physical["AlertTopic"]["Ref"], StormSettings(300, physical["IdempotencyTable"]["Ref"])

    @staticmethod
    def _alert(action: str) -> AlertMessage:
        from tests.unit.alert_samples import message

        return message(action=action, remediation_id="" if action in ("alert-only", "failed") else "r-1")

    def test_changes_and_failures_are_never_collapsed(self, account: Account, env: Any) -> None:
        aws, topic, storm = env
        sent = [publish(aws, topic, self._alert(a), storm) for a in
                ("alert-only", "alert-only", "exempt", "revoked", "revoked", "failed", "failed", "rolled-back")]
        assert [s is not None for s in sent] == [True, False, False, True, True, True, True, True]
        # The first change after the storm reports it; every sent message restarts the count.
        assert [a["suppressed"] for a in account.alerts()] == [0, 2, 0, 0, 0, 0]

    def test_window_store_down_means_send_anyway(self, account: Account, env: Any) -> None:
        aws, topic, _ = env
        broken = StormSettings(300, "no-such-table")
        assert all(publish(aws, topic, self._alert("alert-only"), broken) for _ in range(2))
        assert len(account.alerts()) == 2

    def test_an_undelivered_alert_does_not_hold_its_window(self, account: Account, env: Any) -> None:
        aws, topic, storm = env
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError):
            publish(aws, topic + "-missing", self._alert("alert-only"), storm)
        assert publish(aws, topic, self._alert("alert-only"), storm) is not None


def _resolved(parameters: dict[str, str]) -> tuple[dict[str, Any], TemplateResolver]:
    template = load_template(TEMPLATE)
    physical = {lid: {"Ref": lid, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{lid}"} for lid in template["Resources"]}
    ctx = LocalContext(account_id="123456789012", region="us-east-1", parameters=parameters, physical=physical)
    return template, TemplateResolver(template, ctx)


@pytest.mark.parametrize(("parameters", "deployed"), [
    ({}, False),
    ({"SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf"}, True),
    ({"SecurityHubExport": "true"}, True),
])
def test_notifier_exists_only_when_wanted(parameters: dict[str, str], deployed: bool) -> None:
    _, resolver = _resolved(parameters)
    assert resolver.condition("HasNotifier") is deployed


def test_notifier_permissions_follow_the_switches() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf"
    template, resolver = _resolved({"SlackWebhookSecretArn": arn})
    props = template["Resources"]["NotifierFunction"]["Properties"]
    (policy,) = resolver.resolve(props["Policies"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadSlackWebhook"] == {"Sid": "ReadSlackWebhook", "Effect": "Allow",
                                          "Action": "secretsmanager:GetSecretValue", "Resource": [arn, arn + "-??????"]}
    assert by_sid["DecryptSlackWebhook"]["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/*"
    assert by_sid["DecryptSlackWebhook"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:SecretARN": [arn, arn + "-??????"]}}
    assert "ImportFindings" not in by_sid  # SecurityHubExport defaults to false
    on_failure = resolver.resolve(props["EventInvokeConfig"])["DestinationConfig"]["OnFailure"]
    assert on_failure["Destination"].endswith(":NotifierDeadLetterQueue")
    template, resolver = _resolved({"SecurityHubExport": "true"})
    (policy,) = resolver.resolve(template["Resources"]["NotifierFunction"]["Properties"]["Policies"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert "ReadSlackWebhook" not in by_sid
    assert by_sid["ImportFindings"]["Resource"] == \
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"

"""The organization's central stream on moto, with several accounts in one stand-in (credentials per
account, from STS AssumeRole): a finding in a member account travels member notifier -> member bus ->
forwarding rule -> central bus (another account and region) -> central notifier -> Slack, labelled with
the member's alias, account and region. Every hop is the template's own resource, provisioned from it.

moto cannot invoke a Lambda function from a rule: the test gives the template's CentralStreamRule an SQS
target and hands what arrives there to the central notifier, as EventBridge would."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.paths import EVENTS, TEMPLATE
from tests.support.moto_iam import invoke_enforced

from eksguard.alert.central import DETAIL_TYPE, SOURCE
from eksguard.aws import clients
from eksguard.local.demo import SCENARIOS
from eksguard.local.demo_org import assume_account, drain, queue, stream_queue
from eksguard.local.demo_slack import lambda_sns_event
from eksguard.local.invoke import Invocation, LocalApp, invoke, load_app, reset_warm
from eksguard.local.seed import DEMO_REGION, DemoAccount, seed_demo
from eksguard.local.slack_receiver import SlackReceiver, slack_receiver
from eksguard.local.standin import apply_moto_patches

CENTRAL, MEMBER_A, MEMBER_B = "111122223333", "222233334444", "333344445555"
CENTRAL_REGION = "us-east-1"
ORG_ID = "o-abcdef1234"
CENTRAL_BUS = f"arn:aws:events:{CENTRAL_REGION}:{CENTRAL}:event-bus/eksguard-findings"
OUTBOX = "eksguard-findings-outbox"  # each member's own findings bus
GROUPED_SSH = "sg-ingress-ssh-world-grouped-node"


@dataclass
class Member:
    account: str
    session: boto3.session.Session
    app: LocalApp
    alerts: str  # SQS subscriber on the member's alert topic
    seeded: DemoAccount

    def guard(self) -> None:
        """A world-open SSH rule on the node group, and the CloudTrail event this account would emit."""
        SCENARIOS[0].mistake(self.session.client("ec2"), self.seeded)
        text = (EVENTS / f"{GROUPED_SSH}.json").read_text()
        group = json.loads(text)["detail"]["requestParameters"]["groupId"]
        event = json.loads(text.replace("123456789012", self.account).replace(group, self.seeded.node_sg))
        result = invoke(self.app, "SgGuardFunction", event)
        assert result.ok, result.error

    def notify(self, notification: dict[str, Any]) -> Invocation:
        return invoke(self.app, "NotifierFunction", lambda_sns_event(notification, "arn:test:sub"))

    def notifications(self) -> list[dict[str, Any]]:
        return drain(self.session, self.alerts)


@dataclass
class Org:
    central: boto3.session.Session
    central_app: LocalApp
    stream: str  # the SQS queue standing in for the central notifier as CentralStreamRule's target
    receiver: SlackReceiver
    members: dict[str, Member]

    def arrived(self) -> list[dict[str, Any]]:
        return drain(self.central, self.stream)

    def post(self, event: dict[str, Any]) -> Invocation:
        return invoke(self.central_app, "NotifierFunction", event)


def member(account: str, alias: str | None) -> Member:
    session = assume_account(boto3.session.Session(), account, DEMO_REGION)
    if alias:
        session.client("iam").create_account_alias(AccountAlias=alias)
    seeded = seed_demo(session)
    # ReadKubernetes=false: the members' clusters have no Kubernetes API stand-in, and the K8 family is not the
    # subject here.
    app = load_app(TEMPLATE, {"Mode": "enforce", "CentralEventBusArn": CENTRAL_BUS, "ReadKubernetes": "false"}, session)
    url, arn = queue(session, "alert-subscriber")
    session.client("sns").subscribe(TopicArn=app.context.physical["AlertTopic"]["Ref"], Protocol="sqs", Endpoint=arn)
    return Member(account, session, app, url, seeded)


@pytest.fixture
def org() -> Iterator[Org]:
    apply_moto_patches()
    with mock_aws(), slack_receiver() as receiver:
        clients.reset()
        reset_warm()
        central = assume_account(boto3.session.Session(), CENTRAL, CENTRAL_REGION)
        secret = central.client("secretsmanager").create_secret(Name="eksguard/slack", SecretString=receiver.url)
        app = load_app(TEMPLATE, {"CentralOrganizationId": ORG_ID, "SlackWebhookSecretArn": secret["ARN"]}, central)
        url = stream_queue(central, app)
        members = {MEMBER_A: member(MEMBER_A, "team-a-dev"), MEMBER_B: member(MEMBER_B, "team-b-prod")}
        yield Org(central, app, url, receiver, members)
        reset_warm()
        clients.reset()


def test_forwarding_and_posting_under_moto_iam_with_exactly_the_template_policy(org: Org) -> None:
    """moto's own IAM enforcement as a second line: the member's notifier forwards (events:PutEvents, its account
    alias) and the central one posts (its Slack secret), each as a role holding only its template policy."""
    b = org.members[MEMBER_B]
    b.guard()
    (notification,) = b.notifications()
    forwarded = invoke_enforced(b.app, "NotifierFunction", lambda_sns_event(notification, "arn:test:sub"), b.session)
    assert forwarded.ok, forwarded.error
    assert forwarded.response["results"][0]["forwarded"] is True
    (event,) = org.arrived()
    posted = invoke_enforced(org.central_app, "NotifierFunction", event, org.central)
    assert posted.ok, posted.error
    assert posted.response["results"][0]["status"] == "delivered" and org.receiver.payloads


def test_a_finding_in_account_b_reaches_the_central_stream_labelled_b(org: Org) -> None:
    b = org.members[MEMBER_B]
    b.guard()
    (notification,) = b.notifications()
    forwarded = b.notify(notification)
    assert forwarded.ok, forwarded.error
    assert forwarded.response["results"][0]["forwarded"] is True

    (event,) = org.arrived()
    # EventBridge's own stamp, not the payload's: the member's account and region survive two buses.
    assert (event["source"], event["detail-type"]) == (SOURCE, DETAIL_TYPE)
    assert (event["account"], event["region"]) == (MEMBER_B, DEMO_REGION)
    assert event["detail"]["alert"] == json.loads(notification["Message"])
    assert event["detail"]["account_alias"] == "team-b-prod"

    posted = org.post(event)
    assert posted.ok, posted.error
    label = f"team-b-prod ({MEMBER_B}) / {DEMO_REGION}"
    assert posted.response["results"] == [{
        "status": "delivered", "rule_id": "SG-002", "action": "revoked", "resource_id": b.seeded.node_sg,
        "slack": True, "security_hub": False, "forwarded": False, "origin": label, "reason": None}]
    (payload,) = org.receiver.payloads
    assert payload["text"].startswith(f"[{label}] [CRITICAL] SG-002 revoked")
    assert label in payload["blocks"][0]["text"]["text"]
    assert f"*Account / region*\n{label}" in json.dumps(payload["blocks"][1], ensure_ascii=False).replace("\\n", "\n")


def test_two_members_are_told_apart_and_nothing_is_posted_twice(org: Org) -> None:
    for m in org.members.values():
        m.guard()
        (notification,) = m.notifications()
        assert m.notify(notification).ok
        assert m.notify(notification).ok  # SNS redelivery: the member's idempotency forwards it once
    events = org.arrived()
    assert sorted(e["account"] for e in events) == [MEMBER_A, MEMBER_B]
    for event in events:
        assert org.post(event).ok
        assert org.post(copy.deepcopy(event)).ok  # EventBridge redelivery: posted once
    texts = sorted(p["text"].split("]")[0] for p in org.receiver.payloads)
    assert texts == [f"[team-a-dev ({MEMBER_A}) / {DEMO_REGION}", f"[team-b-prod ({MEMBER_B}) / {DEMO_REGION}"]


def test_an_alert_claiming_another_account_is_refused(org: Org) -> None:
    b = org.members[MEMBER_B]
    b.guard()
    (notification,) = b.notifications()
    assert b.notify(notification).ok
    (event,) = org.arrived()
    forged = copy.deepcopy(event)
    forged["detail"]["alert"]["account"] = MEMBER_A  # B's bus, A's name on the alert
    result = org.post(forged)
    assert result.ok
    (rejected,) = result.response["results"]
    assert rejected["status"] == "rejected"
    assert f"claims {MEMBER_A} / {DEMO_REGION} but was sent by {MEMBER_B} / {DEMO_REGION}" in rejected["reason"]
    assert org.receiver.received == []


def test_a_member_that_cannot_forward_fails_loudly(org: Org) -> None:
    """The findings bus is gone (deleted by hand): the notifier's invocation fails, so Lambda retries it
    and then parks it in the dead-letter queue - the finding is never silently dropped."""
    b = org.members[MEMBER_B]
    events = b.session.client("events")
    rule = b.app.context.physical["FindingsForwardRule"]["Ref"]
    events.remove_targets(Rule=rule, EventBusName=OUTBOX, Ids=["CentralBus"])
    events.delete_rule(Name=rule, EventBusName=OUTBOX)
    events.delete_event_bus(Name=OUTBOX)
    b.guard()
    (notification,) = b.notifications()
    result = b.notify(notification)
    assert not result.ok
    assert OUTBOX in result.error["errorMessage"]
    assert org.arrived() == []


def test_the_central_stack_does_not_forward_its_own_findings(org: Org) -> None:
    env = org.central_app.functions["NotifierFunction"].environment
    assert env["EKSGUARD_FINDINGS_BUS"] == ""
    member_env = org.members[MEMBER_B].app.functions["NotifierFunction"].environment
    assert member_env["EKSGUARD_FINDINGS_BUS"] == OUTBOX
    # The forwarding rule targets the central bus, in the central account and region.
    b = org.members[MEMBER_B].session.client("events")
    rule = org.members[MEMBER_B].app.context.physical["FindingsForwardRule"]["Ref"]
    (target,) = b.list_targets_by_rule(Rule=rule, EventBusName=OUTBOX)["Targets"]
    assert target["Arn"] == CENTRAL_BUS


def test_sweep_summaries_stay_off_the_central_stream(org: Org) -> None:
    """A member's sweep forwards its findings and its summary; the central rule passes the findings only."""
    b = org.members[MEMBER_B]
    text = (EVENTS / "scheduled-sweep.json").read_text().replace("123456789012", MEMBER_B)
    sweep = invoke(b.app, "SweepFunction", json.loads(text))
    assert sweep.ok, sweep.error
    notifications = b.notifications()
    rule_ids = [json.loads(n["Message"])["rule_id"] for n in notifications]
    assert "SWEEP" in rule_ids and len(rule_ids) > 1
    assert all(b.notify(n).ok for n in notifications)
    arrived = org.arrived()
    assert sorted(e["detail"]["alert"]["rule_id"] for e in arrived) == sorted(r for r in rule_ids if r != "SWEEP")

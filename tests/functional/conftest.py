"""Functional tests: the real handler, invoked with the template's environment, against moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api._internal import mock_random
from tests.paths import EVENTS, TEMPLATE

from eksguard.aws import clients
from eksguard.local.invoke import Invocation, LocalApp, invoke, load_app, reset_warm
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, DemoAccount, seed_demo
from eksguard.local.standin import apply_moto_patches


@dataclass
class Account:
    """The seeded demo account, the resolved app, and an SQS subscriber on the alert topic."""

    acct: DemoAccount
    session: boto3.session.Session
    make_app: Callable[..., LocalApp]
    alert_queue: str

    @property
    def ec2(self) -> Any:
        return self.session.client("ec2")

    def app(self, **overrides: str) -> LocalApp:
        return self.make_app(overrides)

    def invoke(self, event: dict[str, Any] | str, **overrides: str) -> Invocation:
        body = json.loads((EVENTS / f"{event}.json").read_text()) if isinstance(event, str) else event
        return invoke(self.app(**{"Mode": "enforce", **overrides}), "SgGuardFunction", body)

    def alerts(self) -> list[dict[str, Any]]:
        sqs, out = self.session.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.alert_queue, MaxNumberOfMessages=10,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            for m in batch:
                body = json.loads(m["Body"])
                message = json.loads(body["Message"])
                message["_attributes"] = {k: v["Value"] for k, v in body.get("MessageAttributes", {}).items()}
                out.append(message)
                sqs.delete_message(QueueUrl=self.alert_queue, ReceiptHandle=m["ReceiptHandle"])
        return out

    def rules(self, group_id: str) -> list[dict[str, Any]]:
        rules = self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        return rules["SecurityGroupRules"]

    def ingress_sources(self, group_id: str) -> set[tuple[int | None, str]]:
        return {(r.get("FromPort"), r.get("CidrIpv4") or r.get("CidrIpv6")
                 or r.get("ReferencedGroupInfo", {}).get("GroupId")) for r in self.rules(group_id) if not r["IsEgress"]}

    def audit_records(self) -> list[dict[str, Any]]:
        from eksguard.aws.audit import from_item

        table = self.app().context.physical["AuditTable"]["Ref"]
        return [from_item(i) for i in self.session.client("dynamodb").scan(TableName=table)["Items"]]


@pytest.fixture
def account() -> Iterator[Account]:
    apply_moto_patches()
    with mock_aws():
        clients.reset()
        reset_warm()
        session = boto3.session.Session(region_name=DEMO_REGION)
        apps: dict[tuple[tuple[str, str], ...], LocalApp] = {}

        def make_app(overrides: dict[str, str]) -> LocalApp:
            key = tuple(sorted(overrides.items()))
            if key not in apps:
                apps[key] = load_app(TEMPLATE, overrides, session)
            return apps[key]

        topic = make_app({}).context.physical["AlertTopic"]["Ref"]
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="test-alert-subscriber")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        session.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        mock_random.seed(RANDOM_SEED)
        acct = seed_demo(session)
        yield Account(acct, session, make_app, url)
        reset_warm()
        clients.reset()

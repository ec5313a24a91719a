"""What the chapters of ``eksguard local demo`` share: the context each is given, the scenario (a mistake made
for real and the CloudTrail event it produces), the alert subscriber and the printing of replayed events.
demo.py runs the chapters; they import this module, never demo.py (no import circle)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from eksguard.local.invoke import LocalApp
from eksguard.local.replay import Routed
from eksguard.local.seed import DemoAccount
from eksguard.pipeline.scan import ScanReport


@dataclass(frozen=True)
class DemoContext:
    """What every chapter of the demo gets: the stand-in session, the resolved app, the seeded account."""

    session: boto3.session.Session
    app: LocalApp
    acct: DemoAccount
    events: Path
    out: TextIO
    # The posture table as `eksguard scan` prints it: the command line hands its renderer in, so that
    # local/ never imports cli/ (cli is the top floor).
    render_scan: Callable[[ScanReport], str]


@dataclass(frozen=True)
class Scenario[M]:
    """One mistake, made for real against the stand-in, and the CloudTrail event (``events/``) it produces."""

    event_file: str
    story: str
    mistake: M


def queue(session: boto3.session.Session, name: str) -> tuple[str, str]:
    """An SQS queue: (url, arn)."""
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(session: boto3.session.Session, url: str) -> list[dict[str, Any]]:
    """Every message body on the queue (JSON), deleted once read."""
    sqs, out = session.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def subscribe(session: boto3.session.Session, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to the alert topic; its url."""
    url, arn = queue(session, name)
    session.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def published(session: boto3.session.Session, url: str) -> list[dict[str, Any]]:
    """The alerts (SNS messages) a subscribed queue received."""
    return [json.loads(body["Message"]) for body in drain(session, url)]


def print_alerts(out: TextIO, title: str, alerts: list[dict[str, Any]]) -> None:
    print(f"{title}: {len(alerts)}", file=out)
    for a in alerts:
        print(f"  [{a['severity']}] {a['rule_id']} {a['action']}: {a['summary']}", file=out)


def related(action: dict[str, Any]) -> str:
    return f" (+{','.join(action['related_rules'])})" if action["related_rules"] else ""


def print_routed(out: TextIO, routed: Iterable[tuple[Scenario[Any], Routed]],
                 action_line: Callable[[dict[str, Any]], str], shown: Callable[[str], bool] = lambda rule: True
                 ) -> bool:
    """Each scenario, where EventBridge routed its event and what each function did (an action per line, as
    ``action_line`` writes it); only the deliveries to rules ``shown`` accepts. False when one failed."""
    ok = True
    for scenario, result in routed:
        print(f"- {scenario.event_file}: {scenario.story}", file=out)
        if not result.matched:
            print("    dropped by the rule pattern (as EventBridge would): no function invoked", file=out)
        for delivery in (d for d in result.deliveries if shown(d.rule)):
            inv = delivery.invocation
            if not inv.ok:
                ok = False
                print(f"    {delivery.rule}: ERROR {inv.error}", file=out)
                continue
            resp = inv.response
            if not resp.get("actions"):
                print(f"    {delivery.rule}: {resp['status']}, {resp['findings']} finding(s)"
                      f"{' - ' + resp['reason'] if resp.get('reason') else ''}"
                      f"{', ' + str(resp['out_of_scope']) + ' out of scope' if resp.get('out_of_scope') else ''}",
                      file=out)
            for a in resp.get("actions", []):
                print(f"    {action_line(a)}", file=out)
    return ok

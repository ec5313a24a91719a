"""The demo's Slack chapter: every alert published so far goes through the NotifierFunction, as SNS
would deliver it, to a Slack webhook stand-in on loopback and to the stand-in's Security Hub; each
Slack message is printed as it would render.

The template defines no webhook secret (users bring their own, ``SlackWebhookSecretArn``), so the
chapter creates one holding the receiver's URL and resolves the app again with that parameter.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from eksguard.alert.slack import render_text
from eksguard.local.demo_context import DemoContext
from eksguard.local.invoke import Invocation, LocalApp, invoke, load_app
from eksguard.local.slack_receiver import slack_receiver

SECRET_NAME = "eksguard/demo/slack-webhook"


def slack_chapter(demo: DemoContext) -> bool:
    print("== Slack and Security Hub (NotifierFunction)", file=demo.out)
    with slack_receiver() as receiver:
        arn = _webhook_secret(demo.session, receiver.url)
        demo.session.client("securityhub").enable_security_hub()
        app = load_app(demo.app.template_path, {**demo.app.context.parameters, "SlackWebhookSecretArn": arn,
                                                "SecurityHubExport": "true"}, demo.session)
        topic = app.context.physical["AlertTopic"]["Ref"]
        deliveries = _published_so_far(demo.session, topic)
        runs = [invoke(app, "NotifierFunction", lambda_sns_event(n, f"{topic}:demo-notifier")) for n in deliveries]
        print(f"{len(deliveries)} alert(s) on the topic, {len(receiver.payloads)} Slack message(s) received by the "
              f"webhook stand-in (loopback), as Slack would render them:\n", file=demo.out)
        for number, payload in enumerate(receiver.payloads, 1):
            print(f"  #{number}", file=demo.out)
            print("\n".join(f"    {line}" for line in render_text(payload).splitlines()), file=demo.out)
            print(file=demo.out)
        ok = _print_failures(demo, runs) and len(receiver.payloads) == len(deliveries)
    _print_security_hub(demo)
    _print_storms(demo, app)
    return ok


def lambda_sns_event(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event Lambda gets from an SNS subscription, from the notification an SQS subscriber got."""
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": notification.get("Type", "Notification"), "MessageId": notification["MessageId"],
            "TopicArn": notification["TopicArn"], "Subject": notification.get("Subject"),
            "Message": notification["Message"], "Timestamp": notification.get("Timestamp", ""),
            "SignatureVersion": notification.get("SignatureVersion", "1"),
            "Signature": notification.get("Signature", ""),
            "SigningCertUrl": notification.get("SigningCertURL", ""),
            "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
            "MessageAttributes": notification.get("MessageAttributes", {}),
        },
    }]}


def _webhook_secret(session: Any, url: str) -> str:
    sm = session.client("secretsmanager")
    try:
        arn = sm.describe_secret(SecretId=SECRET_NAME)["ARN"]
        sm.put_secret_value(SecretId=arn, SecretString=url)
    except sm.exceptions.ResourceNotFoundException:
        arn = sm.create_secret(Name=SECRET_NAME, SecretString=url)["ARN"]
    return str(arn)


def _published_so_far(session: Any, topic_arn: str) -> list[dict[str, Any]]:
    """What SNS delivered to the topic's SQS subscriber, read without consuming it: every message is
    received (hidden), then made visible again for whoever reads the queue after this chapter."""
    sqs, sns = session.client("sqs"), session.client("sns")
    subscriber = next(s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
                      if s["Protocol"] == "sqs")
    url = sqs.get_queue_url(QueueName=subscriber.rsplit(":", 1)[-1])["QueueUrl"]
    seen: list[dict[str, Any]] = []
    handles = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120
                                       ).get("Messages", []):
        for m in batch:
            seen.append(json.loads(m["Body"]))
            handles.append(m["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return seen


def _print_failures(demo: DemoContext, runs: list[Invocation]) -> bool:
    for run in runs:
        if not run.ok:
            print(f"  NotifierFunction ERROR {run.error}", file=demo.out)
        elif any(r["status"] != "delivered" for r in run.response["results"]):
            print(f"  NotifierFunction rejected: {run.response['results']}", file=demo.out)
    return all(run.ok and all(r["status"] == "delivered" for r in run.response["results"]) for run in runs)


def _print_security_hub(demo: DemoContext) -> None:
    findings = demo.session.client("securityhub").get_findings()["Findings"]
    states = Counter(f"{f['Workflow']['Status']}/{f['Compliance']['Status']}" for f in findings)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    print(f"Security Hub (stand-in): {len(findings)} ASFF finding(s) imported - workflow/compliance: {summary}",
          file=demo.out)


def _print_storms(demo: DemoContext, app: LocalApp) -> None:
    """What the storm windows held back (items ``alert#...`` in the idempotency table)."""
    table = app.context.physical["IdempotencyTable"]["Ref"]
    items = demo.session.client("dynamodb").scan(
        TableName=table, FilterExpression="begins_with(id, :p)",
        ExpressionAttributeValues={":p": {"S": "alert#"}})["Items"]
    held = {i["id"]["S"]: int(i.get("suppressed", {}).get("N", "0")) for i in items}
    held = {k: n for k, n in held.items() if n}
    print(f"Storm windows: {sum(held.values())} repeated alert(s) collapsed instead of sent", file=demo.out)
    for key, n in sorted(held.items()):
        print(f"  {key}: {n}", file=demo.out)
    print(file=demo.out)

"""Notifier: subscribed to the alert topic (see template.yaml); posts each alert to Slack, with
SecurityHubExport=true imports it into Security Hub as an ASFF finding, and with CentralEventBusArn
forwards it to the organization's central bus. In the central stack it also receives every member's
findings from that bus and posts them to one Slack stream, labelled with account alias and region."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.alert.webhook import SlackWebhook
from eksguard.aws import clients, findings_bus
from eksguard.handler import EVENTBRIDGE_ID, SNS_MESSAGE_ID, Idempotency, LambdaFunction
from eksguard.pipeline import notifier

# SNS and EventBridge deliver at least once: one Slack post per SNS message id, and per forwarded
# finding (its detail, which is the same when a member's notifier retried after a failed Slack post).
function = LambdaFunction(correlation_id=f"{SNS_MESSAGE_ID} || {EVENTBRIDGE_ID}",
                          idempotency=Idempotency(f"{SNS_MESSAGE_ID} || detail", hours=48))
# The webhook URL and the account alias are cached for five minutes: a rotated secret or a renamed
# account is picked up without a redeploy.
SECRET_MAX_AGE_SECONDS = ALIAS_MAX_AGE_SECONDS = 300
_secrets: SecretsProvider | None = None
_alias: tuple[float, str] | None = None


def _webhook_url(secret_arn: str) -> Any:
    global _secrets
    if _secrets is None:  # created on first use, with eksguard's client (endpoint, retries)
        _secrets = SecretsProvider(boto3_client=clients.default().client("secretsmanager"))
    return _secrets.get(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)


def _account_alias() -> str:
    global _alias
    if _alias is None or time.monotonic() - _alias[0] > ALIAS_MAX_AGE_SECONDS:
        _alias = (time.monotonic(), findings_bus.account_alias(clients.default()))
    return _alias[1]


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = notifier.NotifierConfig.from_env()
    arn = config.slack_secret_arn
    slack = SlackWebhook(lambda: _webhook_url(arn)) if arn else None
    results = []
    outputs = notifier.Outputs(clients.default(), slack, _account_alias)
    for result in notifier.handle_event(event, config, outputs, clock.now()):
        results.append(function.respond(result, {f"Alerts{result.status.capitalize()}": 1}, handled="alert delivered",
                                        rejected="alert rejected: not an alert event or it breaks the SNS contract"))
    return {"results": results}

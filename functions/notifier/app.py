"""Notifier: subscribed to the alert topic (see template.yaml); posts each alert to Slack and, with
SecurityHubExport=true, imports it into Security Hub as an ASFF finding."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard.alert.webhook import SlackWebhook
from eksguard.aws import clients
from eksguard.pipeline import notifier

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# SNS delivers at least once: one Slack post per SNS message id.
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("EKSGUARD_IDEMPOTENCY_TABLE", ""),
                                       boto3_client=clients.default().client("dynamodb"))
idempotency = IdempotencyConfig(event_key_jmespath="Records[0].Sns.MessageId", expires_after_seconds=48 * 3600)
# The webhook URL is cached for five minutes: a rotated secret is picked up without a redeploy.
SECRET_MAX_AGE_SECONDS = 300
_secrets: SecretsProvider | None = None


def _webhook_url(secret_arn: str) -> Any:
    global _secrets
    if _secrets is None:  # created on first use, with eksguard's client (endpoint, retries)
        _secrets = SecretsProvider(boto3_client=clients.default().client("secretsmanager"))
    return _secrets.get(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)


@logger.inject_lambda_context(correlation_id_path="Records[0].Sns.MessageId", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(persistence_store=persistence, config=idempotency)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = notifier.NotifierConfig.from_env()
    arn = config.slack_secret_arn
    slack = SlackWebhook(lambda: _webhook_url(arn)) if arn else None
    results = []
    for result in notifier.handle_event(event, config, clients.default(), slack, datetime.now(UTC)):
        if result.status == "rejected":
            logger.error("alert rejected: not an SNS event or it breaks the SNS contract",
                         extra={"reason": result.reason})
        else:
            logger.info("alert delivered", extra=result.to_dict())
        metrics.add_metric(name=f"Alerts{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
        results.append(result.to_dict())
    return {"results": results}

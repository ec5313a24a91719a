"""IRSA guard: fires on IAM calls (us-east-1, where IAM events arrive) and, as the issuer refresh, on EKS
CreateCluster in every region (see template.yaml: IrsaGuardFunction, IrsaRefreshFunction)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.pipeline import irsa_guard

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# EventBridge may deliver an event more than once for up to 24 h: one run per CloudTrail event id.
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("EKSGUARD_IDEMPOTENCY_TABLE", ""),
                                       boto3_client=clients.default().client("dynamodb"))
idempotency = IdempotencyConfig(event_key_jmespath="detail.eventID", expires_after_seconds=48 * 3600)


@logger.inject_lambda_context(correlation_id_path="detail.eventID", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(persistence_store=persistence, config=idempotency)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = irsa_guard.handle(event, Config.from_env(), clients.default(), clock.now())
    if result.status == "rejected":
        logger.error("event rejected", extra={"reason": result.reason})
    else:
        logger.info("event handled", extra=result.to_dict())
    metrics.add_metric(name=f"Events{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Findings", unit=MetricUnit.Count, value=result.findings)
    for kind, name in (("rewrote-trust", "RewroteTrust"), ("failed", "Failed")):
        count = sum(1 for a in result.actions if a.action == kind)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    return result.to_dict()

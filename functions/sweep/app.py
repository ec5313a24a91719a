"""Sweep: every rule family over the region on a schedule (see template.yaml, SweepSchedule)."""

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
from eksguard.config_eks import EksConfig
from eksguard.pipeline import sweep

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A scheduled event may be delivered twice: one sweep per EventBridge event id (no detail.eventID here).
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("EKSGUARD_IDEMPOTENCY_TABLE", ""),
                                       boto3_client=clients.default().client("dynamodb"))
idempotency = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=24 * 3600)


@logger.inject_lambda_context(correlation_id_path="id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(persistence_store=persistence, config=idempotency)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = sweep.handle(event, Config.from_env(), EksConfig.from_env(), clients.default(), clock.now(),
                          progress=lambda step: logger.info("sweep step", extra={"step": step}),
                          iam_roles=_flag("EKSGUARD_SWEEP_IAM"))
    if result.status == "rejected":
        logger.error("sweep rejected", extra={"reason": result.reason})
    else:
        logger.info("sweep done", extra={k: v for k, v in result.to_dict().items() if k != "actions"})
    counts = result.extra
    metrics.add_metric(name="SweepOpenFindings", unit=MetricUnit.Count, value=counts.get("open", 0))
    metrics.add_metric(name="SweepNewFindings", unit=MetricUnit.Count, value=counts.get("new", 0))
    metrics.add_metric(name="Remediated", unit=MetricUnit.Count, value=counts.get("remediated", 0))
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=counts.get("failed", 0))
    # The idempotency store keeps this response, and DynamoDB items stop at 400 KB: a region-wide
    # sweep returns its counts and the first actions; every action is in the alerts and the audit table.
    summary = result.to_dict()
    summary["actions_total"] = len(summary["actions"])
    summary["actions"] = summary["actions"][:RETURNED_ACTIONS]
    return summary


RETURNED_ACTIONS = 50


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "false")
    if raw not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"

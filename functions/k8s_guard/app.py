"""In-cluster guard: fires on a cluster's control-plane audit log (CloudWatch Logs subscription, see
template.yaml KubeGuardFunction); re-reads the cluster's Kubernetes API read-only and alerts K8-000 ... K8-004."""

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
from eksguard.pipeline import k8s_guard

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# CloudWatch Logs retries a failed delivery: one run per log batch.
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("EKSGUARD_IDEMPOTENCY_TABLE", ""),
                                       boto3_client=clients.default().client("dynamodb"))
idempotency = IdempotencyConfig(event_key_jmespath="awslogs.data", expires_after_seconds=48 * 3600)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(persistence_store=persistence, config=idempotency)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = k8s_guard.handle(event, Config.from_env(), EksConfig.from_env(), clients.default(), clock.now())
    if result.status == "rejected":
        logger.error("event rejected", extra={"reason": result.reason})
    else:
        logger.info("event handled", extra=result.to_dict())
    metrics.add_metric(name=f"Events{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Findings", unit=MetricUnit.Count, value=result.findings)
    return result.to_dict()

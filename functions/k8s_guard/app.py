"""In-cluster guard: fires on a cluster's control-plane audit log (CloudWatch Logs subscription, see
template.yaml KubeGuardFunction); re-reads the cluster's Kubernetes API read-only and alerts K8-000 ... K8-004."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.handler import Idempotency, LambdaFunction, guard_counts
from eksguard.pipeline import k8s_guard

# CloudWatch Logs retries a delivery that failed: one run per log batch (its payload is the batch).
LOG_BATCH = "awslogs.data"
function = LambdaFunction(correlation_id=None, idempotency=Idempotency(LOG_BATCH, hours=48))


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = k8s_guard.handle(event, Config.from_env(), EksConfig.from_env(), clients.default(), clock.now())
    return function.respond(result, guard_counts(result))

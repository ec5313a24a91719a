"""Cluster guard: fires on CloudTrail EKS calls and launch-template / instance-metadata calls (see template.yaml)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.handler import (
    CLOUDTRAIL_EVENT_ID,
    ONCE_PER_CLOUDTRAIL_EVENT,
    LambdaFunction,
    applied,
    guard_counts,
)
from eksguard.pipeline import cluster_guard

function = LambdaFunction(correlation_id=CLOUDTRAIL_EVENT_ID, idempotency=ONCE_PER_CLOUDTRAIL_EVENT)


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = cluster_guard.handle(event, Config.from_env(), EksConfig.from_env(), clients.default(), clock.now())
    return function.respond(result, guard_counts(result, Remediated=applied(result)))

"""Security-group guard: fires on CloudTrail security-group rule calls (see template.yaml)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.handler import CLOUDTRAIL_EVENT_ID, ONCE_PER_CLOUDTRAIL_EVENT, LambdaFunction, guard_counts, with_action
from eksguard.pipeline import sg_guard

function = LambdaFunction(correlation_id=CLOUDTRAIL_EVENT_ID, idempotency=ONCE_PER_CLOUDTRAIL_EVENT)


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = sg_guard.handle(event, Config.from_env(), clients.default(), clock.now())
    return function.respond(result, guard_counts(result, Revoked=with_action(result, "revoked")))

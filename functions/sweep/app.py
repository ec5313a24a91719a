"""Sweep: every rule family over the region on a schedule (see template.yaml, SweepSchedule)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.handler import EVENTBRIDGE_ID, Idempotency, LambdaFunction
from eksguard.pipeline import sweep

# A scheduled event may be delivered twice: one sweep per EventBridge event id (no detail.eventID here).
function = LambdaFunction(correlation_id=EVENTBRIDGE_ID, idempotency=Idempotency(EVENTBRIDGE_ID, hours=24))
# The idempotency store keeps the response, and DynamoDB items stop at 400 KB: a region-wide sweep
# returns its counts and the first actions; every action is in the alerts and the audit table.
RETURNED_ACTIONS = 50


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = sweep.handle(event, Config.from_env(), EksConfig.from_env(), clients.default(), clock.now(),
                          progress=lambda step: function.logger.info("sweep step", extra={"step": step}),
                          iam_roles=_flag("EKSGUARD_SWEEP_IAM"))
    counts = result.extra
    summary = function.respond(
        result, {"SweepOpenFindings": counts.get("open", 0), "SweepNewFindings": counts.get("new", 0),
                 "Remediated": counts.get("remediated", 0), "Failed": counts.get("failed", 0)},
        handled="sweep done", rejected="sweep rejected", omit=("actions",))
    summary["actions_total"] = len(summary["actions"])
    summary["actions"] = summary["actions"][:RETURNED_ACTIONS]
    return summary


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "false")
    if raw not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"

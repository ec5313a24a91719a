"""Rollback: restore one remediation's before-image, on demand (no event source).

    aws lambda invoke --function-name <RollbackFunction> \
        --payload '{"remediation_id": "...", "dry_run": true}' --cli-binary-format raw-in-base64-out out.json

The same code as `eksguard rollback`, for operators who may invoke the function but hold no write
permission on security groups or roles themselves.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.alert.dedupe import StormSettings
from eksguard.aws import clients
from eksguard.aws.audit import AuditStore
from eksguard.config import Config
from eksguard.handler import LambdaFunction
from eksguard.pipeline.rollback import RollbackError, RollbackRequest, rollback

# Invoked by an operator, not by an event: the payload is logged, nothing is counted, and each call runs.
function = LambdaFunction(correlation_id=None, metrics=False, log_event=True)


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remediation_id = event.get("remediation_id") if isinstance(event, dict) else None
    if not isinstance(remediation_id, str) or not remediation_id:
        return {"status": "rejected", "reason": 'the payload must be {"remediation_id": "...", "dry_run": bool}'}
    config, aws, now = Config.from_env(), clients.default(), clock.now()
    request = RollbackRequest(
        remediation_id=remediation_id, actor=f"lambda:{context.function_name} (invoked)", today=now.date(),
        time=clock.stamp(now), exempt_tag_key=config.exempt_tag_key,
        alert_topic_arn=config.alert_topic_arn, dry_run=event.get("dry_run") is True, force=event.get("force") is True,
        storm=StormSettings.from_env())  # the function's own windows: the rollback alert resets its key's
    try:
        result = rollback(aws, AuditStore(aws, config.audit_table), request)
    except RollbackError as exc:
        function.logger.warning("rollback refused", extra={"reason": str(exc)})
        return {"status": "refused", "reason": str(exc)}
    function.logger.info("rollback done", extra=result.to_dict())
    return result.to_dict()

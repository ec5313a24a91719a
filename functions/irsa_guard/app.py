"""IRSA guard: fires on IAM calls (us-east-1, where IAM events arrive) and, as the issuer refresh, on EKS
CreateCluster in every region (see template.yaml: IrsaGuardFunction, IrsaRefreshFunction)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import clock
from eksguard.aws import clients
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.handler import CLOUDTRAIL_EVENT_ID, ONCE_PER_CLOUDTRAIL_EVENT, LambdaFunction, guard_counts, with_action
from eksguard.pipeline import irsa_guard

function = LambdaFunction(correlation_id=CLOUDTRAIL_EVENT_ID, idempotency=ONCE_PER_CLOUDTRAIL_EVENT)


@function
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = irsa_guard.handle(event, Config.from_env(), clients.default(), clock.now(), EksConfig.from_env())
    return function.respond(result, guard_counts(result, RewroteTrust=with_action(result, "rewrote-trust")))

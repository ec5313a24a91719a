"""The sweep's IRSA family: every role whose trust names an EKS OIDC issuer, through the IRSA guard's
own reader, rules (IR-001 ... IR-007), plan and trust rewrite. IAM is global, so only the stack deployed
where IAM rules live (template condition IsIamRegion) sweeps it: one account, one verdict per role."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from eksguard.alert.irsa import trust_message
from eksguard.alert.messages import AlertMessage
from eksguard.apply.irsa import DONE, TrustOutcome
from eksguard.apply.irsa import apply as apply_trust
from eksguard.aws import iam
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.aws.irsa_snapshot import observe, read_snapshot
from eksguard.config import Config
from eksguard.detect.irsa import detect
from eksguard.model import EventContext
from eksguard.plan.irsa import plan
from eksguard.snapshot.irsa import Role, TrustPolicyError, parse_trust

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IrsaSweep:
    outcomes: tuple[TrustOutcome, ...]
    messages: tuple[AlertMessage, ...]
    # Regions whose clusters could not be read: their issuers were judged neither stale nor live.
    unreadable: tuple[str, ...] = ()


def sweep_roles(aws: Aws, audit: AuditStore, ctx: EventContext, config: Config, today: date) -> IrsaSweep:
    roles = irsa_roles(aws)
    if not roles:
        return IrsaSweep((), ())
    partition = roles[0].arn.split(":")[1]
    snap, unreadable = read_snapshot(aws, roles, ctx.account, audit, partition)
    observe(audit, snap, ctx.event_id, ctx.time)
    planned = plan(snap, detect(snap), config, ctx.event_id, today)
    outcomes = tuple(o for o in apply_trust(planned.actions, aws, audit, ctx, config) if o.should_alert)
    return IrsaSweep(outcomes, tuple(trust_message(o, ctx, config) for o in outcomes), tuple(sorted(unreadable)))


def irsa_roles(aws: Aws) -> list[Role]:
    """ListRoles once, then GetRole (trust and tags) for the roles whose trust names an EKS issuer."""
    out: list[Role] = []
    for raw in iam.list_roles(aws):
        try:
            if not parse_trust(raw["AssumeRolePolicyDocument"]).irsa_statements:
                continue
            role = iam.read_role(aws, raw["RoleName"])
        except TrustPolicyError as exc:  # IAM accepted it, so it is no IRSA trust the rules can judge
            log.warning("role %s skipped: %s", raw["RoleName"], exc)
            continue
        if role is not None:
            out.append(role)
    return out


def changed(outcome: TrustOutcome) -> bool:
    return outcome.status in (DONE, "failed")


def resolved(outcome: TrustOutcome) -> bool:
    return outcome.status == DONE

"""The sweep's IRSA family: every role whose trust names an EKS OIDC issuer (the account's IAM read,
``pipeline.posture.read_global``), planned and rewritten as the IRSA guard does. IAM is global, so only the
stack deployed where IAM rules live (template condition IsIamRegion) sweeps it: one verdict per role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from eksguard.alert.irsa import trust_message
from eksguard.alert.messages import AlertMessage
from eksguard.apply.irsa import DONE, TrustOutcome
from eksguard.apply.irsa import apply as apply_trust
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.aws.irsa_snapshot import observe
from eksguard.config import Config
from eksguard.model import EventContext, Finding
from eksguard.plan.irsa import plan
from eksguard.snapshot.irsa import IrsaSnapshot


@dataclass(frozen=True)
class IrsaSweep:
    outcomes: tuple[TrustOutcome, ...]
    messages: tuple[AlertMessage, ...]


def sweep_roles(snap: IrsaSnapshot, findings: Sequence[Finding], aws: Aws, audit: AuditStore, ctx: EventContext,
                config: Config, today: date) -> IrsaSweep:
    """Plan and apply the IRSA findings of the account's snapshot (``pipeline.posture.read_global``)."""
    if not snap.roles:
        return IrsaSweep((), ())
    observe(audit, snap, ctx.event_id, ctx.time)
    planned = plan(snap, findings, config, ctx.event_id, today)
    outcomes = tuple(o for o in apply_trust(planned.actions, aws, audit, ctx, config) if o.should_alert)
    return IrsaSweep(outcomes, tuple(trust_message(o, ctx, config) for o in outcomes))


def changed(outcome: TrustOutcome) -> bool:
    return outcome.status in (DONE, "failed")


def resolved(outcome: TrustOutcome) -> bool:
    return outcome.status == DONE

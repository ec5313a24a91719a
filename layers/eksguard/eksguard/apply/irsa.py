"""Apply trust rewrites: before-image first, then a fresh read (the trust must still be what was
planned on), then UpdateAssumeRolePolicy, then the outcome. A failure is an outcome (alerted), never
an exception that hides what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from eksguard.apply.sg import RETRYABLE
from eksguard.aws import iam
from eksguard.aws.audit import AuditRecord, AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext
from eksguard.plan.irsa import TrustAction

RESOURCE_TYPE = "iam-role-trust"
DONE = "rewrote-trust"
# IAM reports a 500 as ServiceFailure; the rest are the throttling and availability codes all guards retry.
RETRY_CODES = RETRYABLE | {"ServiceFailure"}


@dataclass(frozen=True)
class TrustOutcome:
    action: TrustAction
    kind: ActionKind
    # rewrote-trust | duplicate | failed | unchanged | role-gone | changed-meanwhile
    status: str
    error: str | None = None
    retryable: bool = False

    @property
    def should_alert(self) -> bool:
        # A trust someone changed after our read gets its own event and its own verdict.
        return self.status not in ("duplicate", "role-gone", "changed-meanwhile")


def apply(actions: Sequence[TrustAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
          config: Config) -> list[TrustOutcome]:
    return [_rewrite(a, aws, audit, ctx, config) if a.rewrites else TrustOutcome(a, a.kind, "unchanged")
            for a in actions]


def _rewrite(action: TrustAction, aws: Aws, audit: AuditStore | None, ctx: EventContext,
             config: Config) -> TrustOutcome:
    if audit is None:
        return TrustOutcome(action, ActionKind.FAILED, "failed", "no audit table: refusing to change a trust "
                            "policy without its before-image")
    role = action.role
    record = AuditRecord(
        remediation_id=action.remediation_id, resource_type=RESOURCE_TYPE, resource_id=role.name,
        resource_arn=role.arn, rule_id=action.finding.rule_id, event_id=ctx.event_id, actor=ctx.actor,
        time=ctx.time, account=ctx.account, region=ctx.region, mode=config.mode.value, action=DONE,
        before=dict(role.document), after=dict(action.after or {}),
    )
    try:
        earlier = audit.begin(record)
    except AuditWriteError as exc:
        return TrustOutcome(action, ActionKind.FAILED, "failed", str(exc), retryable=True)
    if earlier is not None and earlier.get("outcome") == DONE:
        # Redelivered: changed once already; alert again only if that alert was lost.
        return TrustOutcome(action, ActionKind.REWROTE_TRUST, "duplicate" if earlier.get("alerted") == "true"
                            else DONE)
    try:
        current = iam.read_role(aws, role.name)
        if current is None:
            return _finish(audit, TrustOutcome(action, ActionKind.ALERT_ONLY, "role-gone"))
        if current.document != role.document:
            # Ours, from an attempt that stopped before recording its outcome? Else someone else's change.
            status = DONE if earlier is not None and current.document == action.after else "changed-meanwhile"
            return _finish(audit, TrustOutcome(action, ActionKind.REWROTE_TRUST if status == DONE
                                               else ActionKind.ALERT_ONLY, status))
        iam.update_trust(aws, role.name, action.after or {})
    except ClientError as exc:
        code = error_code(exc)
        if code == iam.NO_SUCH:
            return _finish(audit, TrustOutcome(action, ActionKind.ALERT_ONLY, "role-gone"))
        return _finish(audit, TrustOutcome(action, ActionKind.FAILED, "failed",
                                           f"UpdateAssumeRolePolicy failed: {code}", retryable=code in RETRY_CODES))
    return _finish(audit, TrustOutcome(action, ActionKind.REWROTE_TRUST, DONE))


def _finish(audit: AuditStore, outcome: TrustOutcome) -> TrustOutcome:
    after = outcome.action.after if outcome.status == DONE else None
    audit.finish(outcome.action.remediation_id, outcome.status, after, outcome.error)
    return outcome

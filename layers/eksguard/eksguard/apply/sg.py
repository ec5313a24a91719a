"""Apply security-group actions: before-image first, then one revoke call per group and direction,
then the outcome. A failure is an outcome (alerted), never an exception that hides what happened."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from eksguard import arn
from eksguard.aws import ec2
from eksguard.aws.audit import AuditRecord, AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext
from eksguard.plan.sg import SgAction

FINAL = frozenset({"revoked", "already-gone"})


@dataclass(frozen=True)
class SgOutcome:
    action: SgAction
    kind: ActionKind  # what the alert reports: revoked, failed, alert-only, exempt
    status: str  # revoked | already-gone | duplicate | failed | unchanged
    error: str | None = None
    # A retry of the whole event could succeed (throttling, audit table down): let Lambda retry.
    retryable: bool = False

    @property
    def should_alert(self) -> bool:
        return self.status not in ("already-gone", "duplicate")


def apply(actions: Sequence[SgAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
          config: Config) -> list[SgOutcome]:
    outcomes = [SgOutcome(a, a.kind, "unchanged") for a in actions if a.revoke is None]
    pending: list[SgAction] = []
    resumed: set[str] = set()
    for action in (a for a in actions if a.revoke is not None):
        begun = _begin(action, audit, ctx, config)
        if isinstance(begun, SgOutcome):
            outcomes.append(begun)
            continue
        pending.append(action)
        if begun == "resumed":
            resumed.add(action.remediation_id)
    outcomes += _revoke(pending, aws, audit, ctx, resumed)
    return outcomes


def _begin(action: SgAction, audit: AuditStore | None, ctx: EventContext, config: Config) -> SgOutcome | str:
    """Write the before-image. "new" or "resumed" mean go ahead; an outcome means do not touch."""
    if audit is None:
        return SgOutcome(action, ActionKind.FAILED, "failed", "no audit table: refusing to change without "
                         "a before-image")
    rule = action.rule
    assert rule is not None  # a revoke always names its rule
    record = AuditRecord(
        remediation_id=action.remediation_id, resource_type="security-group-rule", resource_id=rule.group_id,
        resource_arn=arn.ec2(ctx.partition, ctx.region, ctx.account, "security-group-rule", rule.rule_id),
        rule_id=action.finding.rule_id, event_id=ctx.event_id, actor=ctx.actor, time=ctx.time,
        account=ctx.account, region=ctx.region, mode=config.mode.value, action=ActionKind.REVOKED.value,
        before=dict(rule.image), after=None,
    )
    try:
        earlier = audit.begin(record)
    except AuditWriteError as exc:
        return SgOutcome(action, ActionKind.FAILED, "failed", str(exc), retryable=True)
    if earlier is not None and earlier.get("outcome") in FINAL:
        # The same event was handled before (redelivery): nothing to do, alert only if that was lost.
        status = "duplicate" if earlier.get("alerted") == "true" else "revoked"
        return SgOutcome(action, ActionKind.REVOKED, status)
    # An earlier attempt stored the before-image and stopped before its outcome: carry on from there.
    return "new" if earlier is None else "resumed"


def _revoke(actions: Iterable[SgAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
            resumed: set[str]) -> list[SgOutcome]:
    batches: dict[tuple[str, bool], list[SgAction]] = {}
    for action in actions:
        change = action.revoke
        assert change is not None
        batch = batches.setdefault((change.group_id, change.is_egress), [])
        if all(a.rule != action.rule for a in batch):  # de-duplicate: one revoke per rule id
            batch.append(action)
    outcomes: list[SgOutcome] = []
    for (group_id, is_egress), batch in batches.items():
        rule_ids = [a.rule.rule_id for a in batch if a.rule is not None]
        try:
            results = ec2.revoke_rules(aws, ctx.region, group_id, is_egress, rule_ids)
        except ClientError as exc:  # raised only by retries exhausted on throttling and the like
            results = dict.fromkeys(rule_ids, error_code(exc))
        for action in batch:
            assert action.rule is not None
            code = results[action.rule.rule_id]
            if code is None:
                outcome = SgOutcome(action, ActionKind.REVOKED, "revoked")
            elif code in ec2.GONE_CODES:
                # Gone after our own earlier attempt stored its before-image: that attempt revoked it.
                status = "revoked" if action.remediation_id in resumed else "already-gone"
                outcome = SgOutcome(action, ActionKind.REVOKED, status)
            else:
                outcome = SgOutcome(action, ActionKind.FAILED, "failed", f"revoke failed: {code}",
                                    retryable=code in RETRYABLE)
            if audit is not None:
                audit.finish(action.remediation_id, outcome.status, None, outcome.error)
            outcomes.append(outcome)
    return outcomes


RETRYABLE = frozenset({"Throttling", "RequestLimitExceeded", "ServiceUnavailable", "InternalError",
                       "Unavailable"})

"""The security-group guard: event -> re-read -> pure rules -> exact revoke -> audit -> alert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from eksguard.alert.publish import publish
from eksguard.alert.sg import build_message
from eksguard.apply.sg import SgOutcome, apply
from eksguard.aws import ec2
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rules_for
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import EventContext
from eksguard.parse.ec2 import SG_EVENTS, parse_sg_change
from eksguard.parse.envelope import EventError, is_eks_service_role, parse_envelope, skip_reason
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan.sg import plan
from eksguard.snapshot.sg import GroupRole, SgSnapshot

# The rule families this guard re-checks; its EventBridge rule matches exactly their events (test_catalog.py).
FAMILIES = (Family.SECURITY_GROUP,)


def handle(raw: Mapping[str, Any], config: Config, aws: Aws, now: datetime) -> GuardResult:
    try:
        event = parse_envelope(raw)
    except EventError as exc:
        return GuardResult("rejected", reason=str(exc))
    ctx = event.context
    if reason := skip_reason(event, config.own_role_path):
        return GuardResult("skipped", ctx.event_id, ctx.event_name, reason)
    if ctx.event_name not in SG_EVENTS:
        return GuardResult("skipped", ctx.event_id, ctx.event_name, "not a security-group rule call")
    try:
        change = parse_sg_change(event)
    except EventError as exc:
        return GuardResult("rejected", ctx.event_id, ctx.event_name, str(exc))
    if ctx.region != aws.home_region:
        # EventBridge delivers a CloudTrail event only in the region of the call, where this guard runs:
        # another region here means a forged or mis-routed event, and reading there would act on it.
        return GuardResult("rejected", ctx.event_id, ctx.event_name,
                           f"event from region {ctx.region!r} delivered to the guard in {aws.home_region!r}")
    if not ctx.account:
        ctx = _with_account(ctx, aws.account_id())

    snapshot = ec2.read_sg_snapshot(aws, ctx.region, change)
    if is_eks_service_role(event):
        # EKS manages its cluster security group; its own calls on it are not drift.
        snapshot = SgSnapshot(tuple(g for g in snapshot.groups if GroupRole.CLUSTER not in g.roles),
                              snapshot.clusters, snapshot.removed, snapshot.missing_group_ids)
    if not snapshot.groups:
        return GuardResult("processed", ctx.event_id, ctx.event_name,
                           "security group no longer exists: nothing to do")
    findings = evaluate(Posture(sg=snapshot), config, EksConfig(),
                        only=rules_for(ctx.event_name, FAMILIES))
    planned = plan(snapshot, findings, config, ctx.event_id, now.date())
    audit = AuditStore(aws, config.audit_table) if any(a.revoke for a in planned.actions) else None
    outcomes = apply(planned.actions, aws, audit, ctx, config)
    alerts = _alert(outcomes, aws, audit, ctx, config)
    result = GuardResult(
        "processed", ctx.event_id, ctx.event_name, findings=len(findings),
        actions=tuple(_summary(o) for o in outcomes), alerts_sent=alerts, out_of_scope=len(planned.out_of_scope),
    )
    failed = [o for o in outcomes if o.retryable]
    if failed:
        raise RetryableError(f"{len(failed)} remediation(s) failed and may succeed on retry: "
                             + "; ".join(o.error or "" for o in failed))
    return result


def _alert(outcomes: list[SgOutcome], aws: Aws, audit: AuditStore | None, ctx: EventContext,
           config: Config) -> int:
    sent = 0
    for outcome in outcomes:
        if not outcome.should_alert:
            continue
        if not config.alert_topic_arn:
            raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
        publish(aws, config.alert_topic_arn, build_message(outcome, ctx, config))
        sent += 1
        if audit is not None and outcome.status == "revoked":
            audit.mark_alerted(outcome.action.remediation_id)
    return sent


def _summary(outcome: SgOutcome) -> ActionSummary:
    action = outcome.action
    return ActionSummary(
        rule_id=action.finding.rule_id, severity=action.finding.severity.label,
        resource_id=action.finding.resource_id, target_id=action.finding.target_id, action=outcome.kind.value,
        status=outcome.status, detail=action.finding.detail,
        related_rules=tuple(f.rule_id for f in action.related), error=outcome.error,
    )


def _with_account(ctx: EventContext, account: str) -> EventContext:
    return replace(ctx, account=account)

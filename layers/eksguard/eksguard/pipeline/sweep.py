"""The scheduled sweep: every rule family over the whole region, remediated as the mode allows, alerted
only when new or changed since the last sweep (state in the audit table), plus one summary message.

EventBridge delivery of CloudTrail events is best effort, and changes made before eksguard was deployed
never produce one: the sweep is what catches them."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from eksguard import clock
from eksguard.alert import eks as eks_alert
from eksguard.alert.dedupe import NO_STORM_WINDOW
from eksguard.alert.k8s import cluster_of
from eksguard.alert.messages import AlertMessage
from eksguard.alert.publish import publish, publish_batch
from eksguard.alert.sg import build_message as sg_message
from eksguard.alert.sweep import summary_message
from eksguard.apply import eks as apply_eks
from eksguard.apply import sg as apply_sg
from eksguard.arn import partition_in, partition_of
from eksguard.aws import logs
from eksguard.aws.audit import AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect import catalog
from eksguard.detect.catalog import evaluate
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import ActionKind, EventContext, Finding
from eksguard.pipeline import cluster_guard, iam_posture, k8s_guard, sweep_irsa
from eksguard.pipeline.posture import (
    GlobalPosture,
    Progress,
    RegionPosture,
    read_global,
    read_iam,
    read_region,
    with_kubernetes,
)
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan import eks as plan_eks
from eksguard.plan import sg as plan_sg

SCHEDULED_DETAIL_TYPE = "Scheduled Event"
# PublishBatch, TransactWriteItems and BatchWriteItem calls in flight at once: a first sweep of a big account has
# thousands of alerts and audit records, ten and 100 a call (SNS and DynamoDB throttle far above this).
WRITERS = 8
# Every family the sweep evaluates (IRSA and IAM in the stack where IAM rules live, K8 with ReadKubernetes): a
# rule of a family left out here must be reached by some guard's events, or tests/unit/test_catalog.py fails.
SWEPT_FAMILIES = frozenset(Family)


class SweepError(ValueError):
    """The invocation is not a scheduled event (or a hand-made stand-in for one)."""


@dataclass(frozen=True)
class Item:
    """One outcome of the sweep, whichever family it came from, ready to diff and alert."""

    fingerprint: str
    state: str
    finding: Finding
    action: str
    status: str
    changed: bool  # eksguard changed (or failed to change) something: always alerted
    resolved: bool  # fixed by this sweep: not carried to the next
    retryable: bool  # failed in a way a later run may fix (throttling, audit table down)
    message: AlertMessage
    summary: ActionSummary


def handle(raw: Mapping[str, Any], config: Config, eks_config: EksConfig, aws: Aws, now: datetime,
           progress: Progress | None = None, iam_roles: bool = False) -> GuardResult:
    """``iam_roles``: also sweep the account's IAM side, IRSA trusts and IAM posture (only the stack where the IAM
    rules are deployed does: IAM is global)."""
    try:
        ctx = sweep_context(raw, aws, now)
    except SweepError as exc:
        return GuardResult("rejected", reason=str(exc))
    if not config.alert_topic_arn:
        raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
    step = progress or (lambda _: None)
    # The account's IAM, read once: the K8 rules need its role and user names, the IAM region judges it.
    iam = read_iam(aws, ctx.account, step) if iam_roles or eks_config.read_kubernetes else None
    region = with_kubernetes(aws, read_region(aws, ctx.region, config, step), iam, ctx.account, eks_config, step)
    audit = AuditStore(aws, config.audit_table)
    found = by_family(evaluate(region.posture, config, eks_config))
    sg_items, sg_outcomes = _security_groups(region, found[Family.SECURITY_GROUP], aws, audit, ctx, config, now)
    revoked = {o.action.remediation_id for o in sg_outcomes if o.record is not None}
    alerted_revokes: set[str] = set()
    try:
        items = (sg_items
                 + _clusters(region, found[Family.CLUSTER] + found[Family.CLOUDTRAIL], aws, audit, ctx, config,
                             eks_config, now)
                 + _kubernetes(region, found[Family.KUBERNETES], ctx, config, now))
        if iam_roles and iam is not None:  # IAM is global: only the stack where the IAM rules live judges it
            glob = read_global(aws, ctx.account, audit, step, iam, eks_config.read_kubernetes)
            found_global = by_family(evaluate(glob.posture, config, eks_config))
            items += _irsa(glob, found_global[Family.IRSA], aws, audit, ctx, config, now)
            items += _iam(glob, found_global[Family.IAM], ctx, config, now)

        last = audit.sweep_state(ctx.region)
        previous = last.findings
        to_alert = [i for i in items if i.changed or previous.get(i.fingerprint, {}).get("state") != i.state]
        changed = {i.message.remediation_id for i in to_alert if i.status in ("revoked", "applied", sweep_irsa.DONE)}

        def alerted(message: AlertMessage) -> None:
            if message.remediation_id in revoked:  # marked with its outcome, in the batch below
                alerted_revokes.add(message.remediation_id)
            elif message.remediation_id in changed:  # a re-run finds the change alerted
                audit.mark_alerted(message.remediation_id)

        # Ten alerts per call: a first sweep of a big account can have thousands of findings.
        sent = publish_batch(aws, config.alert_topic_arn, [i.message for i in to_alert], alerted, WRITERS)
    finally:
        # The revokes' outcomes, each with its alerted mark, 25 a call: whatever happened since the revokes.
        _record_outcomes(audit, sg_outcomes, alerted_revokes)
    open_now = {i.fingerprint: _state_item(i, previous.get(i.fingerprint), ctx) for i in items if not i.resolved}
    resolved = [fp for fp in previous if fp not in open_now]
    audit.save_sweep_state(ctx.region, open_now, last, WRITERS)
    counts = _counts(items, to_alert, previous, resolved)
    if subscriptions := _subscribe_audit_logs(region, aws, ctx, eks_config):
        counts["audit_subscriptions"] = subscriptions
    # The sweep has its own "new or changed" filter: a storm window must not fold this sweep's summary
    # into the previous one's.
    publish(aws, config.alert_topic_arn, summary_message(ctx, config, counts), storm=NO_STORM_WINDOW)
    result = GuardResult("processed", ctx.event_id, ctx.event_name, findings=len(items),
                         actions=tuple(i.summary for i in to_alert), alerts_sent=sent + 1, extra=counts)
    for cluster in region.eks.clusters:
        if cluster.issuer:  # the issuer history also learns clusters whose CreateCluster event was missed
            audit.record_cluster_issuer(ctx.region, cluster.name, cluster.issuer, cluster.arn, ctx.time, ctx.event_id)
    failed = [i for i in items if i.retryable]
    if failed:
        raise RetryableError(f"{len(failed)} remediation(s) failed and may succeed on retry")
    return result


def _subscribe_audit_logs(region: RegionPosture, aws: Aws, ctx: EventContext,
                          eks_config: EksConfig) -> dict[str, str]:
    """The in-cluster event path for every cluster with audit logging on, clusters created since the last sweep
    included (WatchKubernetesAudit): what was done per cluster, in the summary."""
    if not (eks_config.kube_guard_arn and eks_config.read_kubernetes):
        return {}
    done: dict[str, str] = {}
    for cluster in (c for c in region.eks.clusters if c.status == "ACTIVE" and "audit" in c.logging_enabled):
        try:
            done[cluster.name] = logs.ensure_audit_subscription(aws, ctx.region, cluster.name,
                                                                eks_config.kube_guard_arn)
        except ClientError as exc:  # plumbing, not a finding: reported in the summary, the sweep goes on
            done[cluster.name] = f"FAILED: {error_code(exc)}: the next sweep tries again"
    return done


def sweep_context(raw: Mapping[str, Any], aws: Aws, now: datetime) -> EventContext:
    if not isinstance(raw, Mapping):
        raise SweepError(f"event must be a JSON object, got {type(raw).__name__}")
    detail_type = raw.get("detail-type")
    if detail_type not in (None, SCHEDULED_DETAIL_TYPE) or raw.get("source") not in (None, "aws.events"):
        raise SweepError(f"not a scheduled event (source {raw.get('source')!r}, detail-type {detail_type!r})")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise SweepError("the scheduled event has no id")
    region = raw.get("region") or aws.home_region
    if not isinstance(region, str):
        raise SweepError(f"region must be a string, got {region!r}")
    rules = [r for r in raw.get("resources") or [] if isinstance(r, str)]
    return EventContext(event_id=event_id, event_name="ScheduledSweep", source="aws.events",
                        account=str(raw.get("account") or aws.account_id()), region=str(region),
                        time=str(raw.get("time") or clock.stamp(now)),
                        actor=f"eksguard sweep ({rules[0] if rules else 'manual run'})",
                        partition=partition_in(rules[0] if rules else None) or partition_of(str(region)))


def by_family(findings: Sequence[Finding]) -> dict[Family, list[Finding]]:
    out: dict[Family, list[Finding]] = {f: [] for f in Family}
    for finding in findings:
        out[catalog.rule(finding.rule_id).family].append(finding)
    return out


def _security_groups(region: RegionPosture, findings: Sequence[Finding], aws: Aws, audit: AuditStore,
                     ctx: EventContext, config: Config, now: datetime) -> tuple[list[Item], list[apply_sg.SgOutcome]]:
    planned = plan_sg.plan(region.sg, findings, config, ctx.event_id, now.date())
    outcomes = apply_sg.apply_batched(planned.actions, aws, audit, ctx, config)
    # Gone before we got to it, or handled by an earlier delivery of this sweep: nothing to report.
    return [_item(o.action.finding, o.kind, o.status, changed=o.status in ("revoked", "failed"),
                  resolved=o.status == "revoked", retryable=o.retryable,
                  note=f"{o.action.note} {sorted(f.rule_id for f in o.action.related)}",
                  message=sg_message(o, ctx, config), summary=_sg_summary(o))
            for o in outcomes if o.should_alert], outcomes


def _record_outcomes(audit: AuditStore, outcomes: Sequence[apply_sg.SgOutcome], alerted: set[str]) -> None:
    try:
        audit.put_batch(apply_sg.outcome_records(outcomes, alerted), WRITERS)
    except AuditWriteError as exc:  # the before-images are stored; the next run must not think all went well
        raise RetryableError(f"remediation outcomes not recorded: {exc}") from exc


def _sg_summary(o: apply_sg.SgOutcome) -> ActionSummary:
    f = o.action.finding
    return ActionSummary(rule_id=f.rule_id, severity=f.severity.label, resource_id=f.resource_id,
                         target_id=f.target_id, action=o.kind.value, status=o.status, detail=f.detail,
                         related_rules=tuple(r.rule_id for r in o.action.related), error=o.error)


def _clusters(region: RegionPosture, findings: Sequence[Finding], aws: Aws, audit: AuditStore, ctx: EventContext,
              config: Config, eks_config: EksConfig, now: datetime) -> list[Item]:
    actions = plan_eks.plan(region.eks, findings, config, eks_config, ctx.event_id, now.date())
    outcomes = apply_eks.apply(actions, aws, audit, ctx, config)
    return [_item(o.action.finding, o.kind, o.status, changed=o.status in ("applied", "failed"),
                  resolved=o.status in ("applied", "duplicate"), retryable=o.retryable, note=o.action.note,
                  message=eks_alert.build_message(o, ctx, config), summary=cluster_guard.summary(o))
            for o in outcomes if o.should_alert]


def _irsa(glob: GlobalPosture, findings: Sequence[Finding], aws: Aws, audit: AuditStore, ctx: EventContext,
          config: Config, now: datetime) -> list[Item]:
    if glob.posture.irsa is None:
        return []
    swept = sweep_irsa.sweep_roles(glob.posture.irsa, findings, aws, audit, ctx, config, now.date())
    return [_item(o.action.finding, o.kind, o.status, changed=sweep_irsa.changed(o), resolved=sweep_irsa.resolved(o),
                  retryable=o.retryable, note=f"{o.action.note} {sorted(f.rule_id for f in o.action.related)}",
                  message=message, summary=ActionSummary(
                      rule_id=o.action.finding.rule_id, severity=o.action.finding.severity.label,
                      resource_id=o.action.role.name, target_id=o.action.finding.target_id, action=o.kind.value,
                      status=o.status, detail=o.action.finding.detail,
                      related_rules=tuple(f.rule_id for f in o.action.related), error=o.error))
            for o, message in zip(swept.outcomes, swept.messages, strict=True)]


def _iam(glob: GlobalPosture, findings: Sequence[Finding], ctx: EventContext, config: Config,
         now: datetime) -> list[Item]:
    """EK-005, EK-007: alert only, the same decision and message as the IRSA guard's on an IAM event."""
    if glob.posture.iam is None:
        return []
    items = []
    for finding in findings:
        decision = iam_posture.decide(finding, glob.posture.iam, ctx, config, now.date())
        items.append(_item(finding, decision.kind, "unchanged", changed=False, resolved=False, retryable=False,
                           note=decision.note, message=decision.message, summary=ActionSummary(
                               finding.rule_id, finding.severity.label, finding.resource_id, finding.target_id,
                               decision.kind.value, "unchanged", finding.detail)))
    return items


def _kubernetes(region: RegionPosture, findings: Sequence[Finding], ctx: EventContext, config: Config,
                now: datetime) -> list[Item]:
    """K8-000 ... K8-004: alert only, the same decision and message as the in-cluster guard's."""
    tags = {c.name: c.tags for c in region.eks.clusters}
    items = []
    for finding in findings:
        decision = k8s_guard.decide(finding, tags.get(cluster_of(finding), {}), ctx, config, now.date())
        items.append(_item(finding, decision.kind, "unchanged", changed=False, resolved=False, retryable=False,
                           note=decision.note, message=decision.message, summary=ActionSummary(
                               finding.rule_id, finding.severity.label, finding.resource_id, finding.target_id,
                               decision.kind.value, "unchanged", finding.detail)))
    return items


def _item(finding: Finding, kind: ActionKind, status: str, changed: bool, resolved: bool, retryable: bool,
          note: str, message: AlertMessage, summary: ActionSummary) -> Item:
    # Identity: rule, resource and the exact target (or, for target-less findings, what they say).
    identity = f"{finding.rule_id}|{finding.resource_id}|{finding.target_id or finding.detail}"
    state = f"{finding.severity.label}|{kind.value}|{finding.detail}|{note}"
    return Item(_digest(identity), _digest(state), finding, kind.value, status, changed, resolved, retryable,
                message, summary)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _state_item(item: Item, earlier: Mapping[str, Any] | None, ctx: EventContext) -> dict[str, str]:
    f = item.finding
    return {"state": item.state, "rule_id": f.rule_id, "severity": f.severity.label, "subject": f.resource_id,
            "target": f.target_id or "", "action": item.action,
            "first_seen": (earlier or {}).get("first_seen") or ctx.time, "last_seen": ctx.time,
            "sweep_id": ctx.event_id}


def _counts(items: Sequence[Item], alerted: Sequence[Item], previous: Mapping[str, Any],
            resolved: Iterable[str]) -> dict[str, Any]:
    still_open = [i for i in items if not i.resolved]
    return {
        "open": len(still_open),
        "by_severity": dict(sorted(Counter(i.finding.severity.label for i in still_open).items())),
        "by_rule": dict(sorted(Counter(i.finding.rule_id for i in still_open).items())),
        "new": sum(1 for i in alerted if i.fingerprint not in previous and not i.resolved),
        "changed": sum(1 for i in alerted if i.fingerprint in previous and not i.resolved),
        "remediated": sum(1 for i in items if i.resolved and i.status != "already-gone"),
        "failed": sum(1 for i in items if i.status == "failed"),
        "resolved_since_last_sweep": len(list(resolved)),
    }

"""The IRSA guard: IAM (and EKS CreateCluster) event -> re-read roles, clusters, providers -> pure rules
IR-001 ... IR-007 -> minimal trust rewrite -> audit -> alert. IAM posture events (policy attachments)
go to ``iam_posture`` (EK-005, EK-007, alert only).

``refresh_for_cluster`` is the issuer refresh (IR-005) on its own: the CreateCluster rule, the
CreateOpenIDConnectProvider path and, later, the sweep all call it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from eksguard.alert.irsa import trust_message
from eksguard.alert.publish import publish
from eksguard.apply.irsa import DONE, TrustOutcome, apply
from eksguard.aws import iam
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.aws.eks_issuers import read_cluster_issuers
from eksguard.aws.irsa_snapshot import observe, read_snapshot, record, roles_trusting
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rules_for
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import EventContext
from eksguard.parse.envelope import EventError, parse_envelope, skip_reason
from eksguard.parse.iam import (
    CLUSTER_EVENTS,
    IAM_EVENTS,
    ClusterChange,
    IamChange,
    parse_cluster_change,
    parse_iam_change,
)
from eksguard.pipeline import iam_posture
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan.irsa import plan
from eksguard.snapshot.irsa import (
    ClusterIssuer,
    IrsaSnapshot,
    Role,
    TrustPolicyError,
    eks_issuer,
    issuer_region,
    refresh_targets,
)

# Tests and replays that do not pass the function's EksConfig read no Kubernetes API.
NO_KUBERNETES = EksConfig(read_kubernetes=False)
POSTURE_EVENTS = frozenset({"AttachRolePolicy", "PutRolePolicy", "CreatePolicyVersion"})


# The rule families the IRSA guard (IAM events) and the issuer refresh (EKS CreateCluster) re-check: their
# EventBridge rules together match exactly these families' events (tests/unit/test_catalog.py).
FAMILIES = (Family.IRSA, Family.IAM)


def handle(raw: Mapping[str, Any], config: Config, aws: Aws, now: datetime,
           eks_config: EksConfig = NO_KUBERNETES) -> GuardResult:
    """``eks_config.read_kubernetes``: read the ServiceAccounts of a role's cluster to find its service account
    (DESIGN section 5, third source) when neither the trust nor the tag names it."""
    try:
        event = parse_envelope(raw)
    except EventError as exc:
        return GuardResult("rejected", reason=str(exc))
    ctx = event.context
    if reason := skip_reason(event, config.own_role_path):
        return GuardResult("skipped", ctx.event_id, ctx.event_name, reason)
    handled = CLUSTER_EVENTS if ctx.source == "aws.eks" else IAM_EVENTS if ctx.source == "aws.iam" else frozenset()
    if ctx.event_name not in handled:
        return GuardResult("skipped", ctx.event_id, ctx.event_name, "not a call the IRSA guard handles")
    try:
        change: ClusterChange | IamChange = (parse_cluster_change(event) if ctx.source == "aws.eks"
                                             else parse_iam_change(event))
    except EventError as exc:
        return GuardResult("rejected", ctx.event_id, ctx.event_name, str(exc))
    if not ctx.account:
        ctx = replace(ctx, account=aws.account_id())
    try:
        if isinstance(change, ClusterChange):
            return refresh_for_cluster(aws, config, ctx, ctx.region, change.cluster_name, now,
                                       read_sas=eks_config.read_kubernetes)
        if ctx.event_name in POSTURE_EVENTS:
            return iam_posture.handle(change, aws, config, ctx, now)
        return _iam(change, aws, config, ctx, now, eks_config.read_kubernetes)
    except TrustPolicyError as exc:
        # IAM accepted the document, so eksguard misreads it: say so, change nothing.
        return GuardResult("processed", ctx.event_id, ctx.event_name, f"trust policy not understood: {exc}")


def _iam(change: IamChange, aws: Aws, config: Config, ctx: EventContext, now: datetime,
         read_sas: bool) -> GuardResult:
    if change.event_name in ("CreateRole", "UpdateAssumeRolePolicy"):
        role = iam.read_role(aws, change.role_name or "")
        if role is None:
            return GuardResult("processed", ctx.event_id, ctx.event_name, "role no longer exists: nothing to do")
        return guard_roles([role], aws, config, ctx, now, read_sas=read_sas)
    if change.event_name == "DeleteOpenIDConnectProvider":
        roles = roles_trusting(aws, wanted=[change.provider_arn or ""])
        if not roles:
            return GuardResult("processed", ctx.event_id, ctx.event_name, "no role trusts the deleted provider")
        return guard_roles(roles, aws, config, ctx, now, read_sas=read_sas)
    issuer = eks_issuer(change.provider_url or "")
    if issuer is None:
        return GuardResult("processed", ctx.event_id, ctx.event_name, "not an EKS cluster issuer: nothing to refresh")
    region = issuer_region(issuer)
    clusters = read_cluster_issuers(aws, region)
    cluster = next((c for c in clusters if c.issuer and c.issuer.lower() == issuer.lower()), None)
    if cluster is None:
        return GuardResult("processed", ctx.event_id, ctx.event_name,
                           f"no live cluster in {region} has issuer {issuer}: nothing to refresh")
    return refresh_for_cluster(aws, config, ctx, region, cluster.name, now, clusters, read_sas)


def refresh_for_cluster(aws: Aws, config: Config, ctx: EventContext, region: str, cluster_name: str,
                        now: datetime, clusters: Sequence[ClusterIssuer] | None = None,
                        read_sas: bool = False) -> GuardResult:
    """IR-005: move every role still trusting a previous issuer of ``cluster_name`` (issuer history, or the
    role's ``eksguard:cluster`` tag) to the cluster's current issuer - or, without an IAM OIDC provider
    for it yet, alert with the command that creates one."""
    clusters = tuple(read_cluster_issuers(aws, region) if clusters is None else clusters)
    cluster = next((c for c in clusters if c.name == cluster_name), None)
    if cluster is None or cluster.issuer is None:
        reason = "cluster no longer exists" if cluster is None else (
            "the cluster has no OIDC issuer yet (still creating): CreateOpenIDConnectProvider for it, or the "
            "sweep, refreshes its roles")
        return GuardResult("processed", ctx.event_id, ctx.event_name, reason)
    audit = _audit(aws, config)
    if audit is not None:
        record(audit, cluster, ctx.event_id, ctx.time)
    live = [c.issuer for c in clusters if c.issuer]
    candidates = roles_trusting(aws, region=region, live=live)
    extra = {"cluster": cluster.name, "issuer": cluster.issuer}
    if not candidates:
        return GuardResult("processed", ctx.event_id, ctx.event_name,
                           f"no role trusts a stale issuer of {region}: nothing to refresh", extra=extra)
    return guard_roles(candidates, aws, config, ctx, now, known={region: clusters},
                       only=lambda snap: refresh_targets(snap, cluster), extra=extra, read_sas=read_sas)


def guard_roles(roles: Sequence[Role], aws: Aws, config: Config, ctx: EventContext, now: datetime,
                known: Mapping[str, Sequence[ClusterIssuer]] | None = None,
                only: Callable[[IrsaSnapshot], Sequence[Role]] | None = None,
                extra: Mapping[str, Any] | None = None, read_sas: bool = False) -> GuardResult:
    audit = _audit(aws, config)
    partition = roles[0].arn.split(":")[1] if roles else "aws"
    snap, unreadable = read_snapshot(aws, roles, ctx.account, audit, partition,
                                     {k: tuple(v) for k, v in (known or {}).items()}, service_accounts=read_sas)
    observe(audit, snap, ctx.event_id, ctx.time)
    if only is not None:
        snap = replace(snap, roles=tuple(only(snap)))
    findings = evaluate(Posture(irsa=snap), config, EksConfig(), only=rules_for(ctx.event_name, (Family.IRSA,)))
    planned = plan(snap, findings, config, ctx.event_id, now.date())
    outcomes = apply(planned.actions, aws, audit, ctx, config)
    alerts = _alert(outcomes, aws, audit, ctx, config)
    out_extra = {**(extra or {}), "roles": [r.name for r in snap.roles]}
    if unreadable:
        out_extra["unreadable_regions"] = unreadable  # issuers there were not judged stale or live
    result = GuardResult("processed", ctx.event_id, ctx.event_name, findings=len(findings),
                         actions=tuple(_summary(o) for o in outcomes), alerts_sent=alerts, extra=out_extra)
    failed = [o for o in outcomes if o.retryable]
    if failed:
        raise RetryableError(f"{len(failed)} trust rewrite(s) failed and may succeed on retry: "
                             + "; ".join(o.error or "" for o in failed))
    return result


def _audit(aws: Aws, config: Config) -> AuditStore | None:
    return AuditStore(aws, config.audit_table) if config.audit_table else None


def _alert(outcomes: list[TrustOutcome], aws: Aws, audit: AuditStore | None, ctx: EventContext,
           config: Config) -> int:
    sent = 0
    for outcome in (o for o in outcomes if o.should_alert):
        if not config.alert_topic_arn:
            raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
        if publish(aws, config.alert_topic_arn, trust_message(outcome, ctx, config)) is not None:
            sent += 1
        if audit is not None and outcome.status == DONE:
            audit.mark_alerted(outcome.action.remediation_id)
    return sent


def _summary(outcome: TrustOutcome) -> ActionSummary:
    action = outcome.action
    return ActionSummary(
        rule_id=action.finding.rule_id, severity=action.finding.severity.label, resource_id=action.role.name,
        target_id=action.finding.target_id, action=outcome.kind.value, status=outcome.status,
        detail=action.finding.detail + (f" ({action.note})" if action.note else ""),
        related_rules=tuple(dict.fromkeys(f.rule_id for f in action.related)), error=outcome.error,
    )

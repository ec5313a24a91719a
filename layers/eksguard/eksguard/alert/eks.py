"""Alert messages for cluster-posture outcomes (same contract as the security-group guard's)."""

from __future__ import annotations

from eksguard import arn
from eksguard.alert.messages import AlertMessage
from eksguard.apply.eks import EksOutcome, access_image
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext
from eksguard.plan.eks import DisassociateChange, admin_grant


def resource_arn(outcome: EksOutcome, ctx: EventContext) -> str:
    action, finding = outcome.action, outcome.action.finding
    if action.cluster is not None:
        return action.cluster.arn
    if finding.rule_id == "CT-001":
        return arn.build(ctx.partition, "cloudtrail", ctx.region, ctx.account, "trail/*")
    if finding.resource_id.startswith("lt-"):
        return arn.ec2(ctx.partition, ctx.region, ctx.account, "launch-template", finding.resource_id)
    if finding.resource_id.startswith("i-"):
        return arn.ec2(ctx.partition, ctx.region, ctx.account, "instance", finding.resource_id)
    return ""


def build_message(outcome: EksOutcome, ctx: EventContext, config: Config) -> AlertMessage:
    action, finding = outcome.action, outcome.action.finding
    evidence = dict(finding.evidence)
    before = _before(outcome) or (evidence or None)
    after = dict(outcome.after) if outcome.after is not None else (before if outcome.status != "applied" else None)
    verb = {
        ActionKind.RESTRICTED_ENDPOINT: "restricted the public endpoint to TrustedCidrs and turned private access on",
        ActionKind.ENABLED_LOGGING: "enabled api, audit and authenticator control-plane logging",
        ActionKind.NEW_LAUNCH_TEMPLATE_VERSION: f"wrote a launch template version requiring IMDSv2 ({outcome.note})",
        ActionKind.REVOKED: f"disassociated AmazonEKSClusterAdminPolicy (cluster scope) from {finding.target_id}; "
                            f"`eksguard rollback {action.remediation_id}` re-associates it",
        ActionKind.FAILED: f"FAILED to {action.kind.value}: {outcome.error}",
        ActionKind.EXEMPT: f"left it alone ({action.note})",
        ActionKind.ALERT_ONLY: f"changed nothing ({action.note})" if action.note else "changed nothing",
    }.get(outcome.kind, outcome.kind.value)
    return AlertMessage(
        rule_id=finding.rule_id,
        severity=finding.severity.label,
        title=finding.title,
        resource_id=finding.resource_id,
        resource_arn=resource_arn(outcome, ctx),
        account=ctx.account,
        region=ctx.region,
        mode=config.mode.value,
        action=outcome.kind.value,
        remediation_id=action.remediation_id,
        event_id=ctx.event_id,
        actor=ctx.actor,
        time=ctx.time,
        before=before,
        after=after,
        summary=f"{finding.rule_id} on {finding.resource_id} after {ctx.event_name} by {ctx.actor}: "
                f"eksguard {verb}.",
        detail=finding.detail,
        error=outcome.error,
        how_to_exempt=_how_to_exempt(outcome, config),
        target_id=finding.target_id or "",
    )


def _how_to_exempt(outcome: EksOutcome, config: Config) -> str:
    action, key = outcome.action, config.exempt_tag_key
    grant = admin_grant(action.cluster, action.finding)
    if grant is not None and grant.entry_arn:
        return (f"tag the access entry ({grant.entry_arn}) with {key}=true or {key}=YYYY-MM-DD to exempt this "
                f"principal, or the cluster to exempt every rule on it")
    if action.cluster or action.template:
        return f"tag the {'cluster' if action.cluster else 'launch template'} with {key}=true or {key}=YYYY-MM-DD"
    return ""


def _before(outcome: EksOutcome) -> dict[str, object] | None:
    action = outcome.action
    if isinstance(action.change, DisassociateChange):
        grant = admin_grant(action.cluster, action.finding)
        return access_image(action.change, grant.entry_arn if grant else "", grant.image if grant else {})
    if action.cluster is not None and action.finding.rule_id == "EK-001":
        return {"resourcesVpcConfig": dict(action.cluster.vpc_image)}
    if action.cluster is not None and action.finding.rule_id == "EK-002":
        return {"logging": dict(action.cluster.logging_image)}
    if action.template is not None:
        return {"LaunchTemplateId": action.template.template_id, "VersionNumber": action.template.version,
                "MetadataOptions": dict(action.template.image)}
    return None

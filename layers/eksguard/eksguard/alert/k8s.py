"""Alert messages for the K8 family (alert only): the finding, where in the cluster, and what to run."""

from __future__ import annotations

from eksguard import arn
from eksguard.alert.messages import AlertMessage
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext, Finding


def cluster_of(finding: Finding) -> str:
    """K8 findings name ``cluster[/namespace[/name]]``, or an IAM role (K8-004): the cluster is in the evidence."""
    return str(dict(finding.evidence).get("cluster") or finding.resource_id.split("/", 1)[0])


def k8s_message(finding: Finding, kind: ActionKind, remediation_id: str, ctx: EventContext, config: Config,
                note: str) -> AlertMessage:
    cluster = cluster_of(finding)
    what = "left it alone" if kind is ActionKind.EXEMPT else "changed nothing"
    evidence = dict(finding.evidence)
    return AlertMessage(
        rule_id=finding.rule_id, severity=finding.severity.label, title=finding.title,
        resource_id=finding.resource_id,
        resource_arn=arn.build(ctx.partition, "eks", ctx.region, ctx.account, f"cluster/{cluster}"),
        account=ctx.account, region=ctx.region, mode=config.mode.value, action=kind.value,
        remediation_id=remediation_id, event_id=ctx.event_id, actor=ctx.actor, time=ctx.time,
        before=evidence or None, after=evidence or None,
        summary=f"{finding.rule_id} on {finding.resource_id} after {ctx.event_name} by {ctx.actor}: eksguard {what} "
                f"({note}).",
        detail=finding.detail, target_id=finding.target_id or "",
        how_to_exempt=f"tag cluster {cluster} with {config.exempt_tag_key}=true or {config.exempt_tag_key}=YYYY-MM-DD",
        extra={"commands": list(evidence["commands"])} if isinstance(evidence.get("commands"), list) else {},
    )

"""Alert messages for security-group outcomes: before/after is the revoked rule exactly as
DescribeSecurityGroupRules returned it (or the whole group, for a rule-less finding)."""

from __future__ import annotations

from typing import Any

from eksguard import arn
from eksguard.alert.messages import AlertMessage
from eksguard.apply.sg import SgOutcome
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext


def build_message(outcome: SgOutcome, ctx: EventContext, config: Config) -> AlertMessage:
    action, finding = outcome.action, outcome.action.finding
    rule = action.rule
    before = dict(rule.image) if rule else _group_image(action)
    after = None if outcome.status == "revoked" else before
    verb = {
        ActionKind.REVOKED: f"revoked {rule.describe() if rule else ''}",
        ActionKind.FAILED: f"FAILED to revoke {rule.describe() if rule else ''}: {outcome.error}",
        ActionKind.EXEMPT: f"left it alone ({action.note})",
        ActionKind.ALERT_ONLY: f"changed nothing ({action.note})",
    }.get(outcome.kind, outcome.kind.value)
    return AlertMessage(
        rule_id=finding.rule_id,
        severity=finding.severity.label,
        title=finding.title,
        resource_id=finding.resource_id,
        resource_arn=arn.ec2(ctx.partition, ctx.region, ctx.account, "security-group", finding.resource_id),
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
        summary=f"{finding.rule_id} on {action.group.name or action.group.group_id} "
                f"({finding.resource_id}) after {ctx.event_name} by {ctx.actor}: eksguard {verb.strip()}.",
        detail=finding.detail,
        related_rules=tuple(f.rule_id for f in action.related),
        error=outcome.error,
        target_id=finding.target_id or "",
        how_to_exempt=f"tag {finding.resource_id} with {config.exempt_tag_key}=true or "
                      f"{config.exempt_tag_key}=YYYY-MM-DD",
    )


def _group_image(action: Any) -> dict[str, Any]:
    group = action.group
    return {"GroupId": group.group_id, "GroupName": group.name, "VpcId": group.vpc_id,
            "Rules": [dict(r.image) for r in group.rules]}

"""Alert messages for the IRSA guard: trust rewrites (before/after = the whole trust document), alert-only
trust findings, and the IAM posture findings EK-005 / EK-007."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eksguard.alert.messages import AlertMessage
from eksguard.apply.irsa import DONE, TrustOutcome
from eksguard.config import Config
from eksguard.detect.irsa import create_provider_commands
from eksguard.model import ActionKind, EventContext, Finding


def _exempt_hint(kind: str, name: str, config: Config) -> str:
    return f"tag {kind} {name} with {config.exempt_tag_key}=true or {config.exempt_tag_key}=YYYY-MM-DD"


def trust_message(outcome: TrustOutcome, ctx: EventContext, config: Config) -> AlertMessage:
    action, finding = outcome.action, outcome.action.finding
    role = action.role
    rewrote = outcome.status == DONE
    verb = {
        ActionKind.REWROTE_TRUST: "rewrote the trust policy (" + ", ".join(
            sorted({f.rule_id for f in (finding, *action.related)})) + " fixed; nothing else changed)",
        ActionKind.FAILED: f"FAILED to rewrite the trust policy: {outcome.error}",
        ActionKind.EXEMPT: f"left it alone ({action.note})",
        ActionKind.ALERT_ONLY: f"changed nothing ({action.note})",
    }.get(outcome.kind, outcome.kind.value)
    extra: dict[str, Any] = {}
    if action.after is not None and not rewrote:
        extra["proposed_trust"] = dict(action.after)
    missing = [dict(f.evidence) for f in (finding, *action.related) if f.rule_id == "IR-005" and not f.remediable
               and "cluster" in dict(f.evidence)]
    if missing and not rewrote:
        ev = missing[0]
        extra["commands"] = list(create_provider_commands(ev["cluster"], ev["cluster_region"], ev["new_issuer"]))
        verb += f"; create the IAM OIDC provider for cluster {ev['cluster']} ({extra['commands'][0]})"
    return AlertMessage(
        rule_id=finding.rule_id, severity=finding.severity.label, title=finding.title, resource_id=role.name,
        resource_arn=role.arn, account=ctx.account, region=ctx.region, mode=config.mode.value,
        action=outcome.kind.value, remediation_id=action.remediation_id, event_id=ctx.event_id, actor=ctx.actor,
        time=ctx.time, before=dict(role.document), after=dict(action.after or {}) if rewrote else dict(role.document),
        summary=f"{finding.rule_id} on role {role.name} after {ctx.event_name} by {ctx.actor}: eksguard {verb}.",
        detail=" | ".join(f.detail for f in (finding, *action.related)),
        related_rules=tuple(dict.fromkeys(f.rule_id for f in action.related if f.rule_id != finding.rule_id)),
        error=outcome.error, how_to_exempt=_exempt_hint("role", role.name, config),
        target_id=finding.target_id or "", extra=extra,
    )


def posture_message(finding: Finding, kind: ActionKind, resource_arn: str, remediation_id: str,
                    ctx: EventContext, config: Config, note: str, image: Mapping[str, Any] | None) -> AlertMessage:
    """EK-005 / EK-007: alert only, never a change (detaching a policy can break pod networking)."""
    what = "left it alone" if kind is ActionKind.EXEMPT else "changed nothing"
    return AlertMessage(
        rule_id=finding.rule_id, severity=finding.severity.label, title=finding.title,
        resource_id=finding.resource_id, resource_arn=resource_arn, account=ctx.account, region=ctx.region,
        mode=config.mode.value, action=kind.value, remediation_id=remediation_id, event_id=ctx.event_id,
        actor=ctx.actor, time=ctx.time, before=dict(image) if image is not None else None,
        after=dict(image) if image is not None else None,
        summary=f"{finding.rule_id} on {finding.resource_id} after {ctx.event_name} by {ctx.actor}: "
                f"eksguard {what} ({note}).",
        detail=finding.detail, how_to_exempt=_exempt_hint("the role or policy", finding.resource_id, config),
        target_id=finding.target_id or "",
    )

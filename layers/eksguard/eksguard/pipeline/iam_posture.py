"""IAM posture on IAM events, alert only: AttachRolePolicy / PutRolePolicy / CreatePolicyVersion ->
re-read the policy (and, for the CNI policy, every role holding it) -> EK-005, EK-007 -> alert."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from eksguard.alert.irsa import posture_message
from eksguard.alert.messages import AlertMessage
from eksguard.alert.publish import publish
from eksguard.aws import iam
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rules_for
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import ActionKind, EventContext, Finding
from eksguard.parse.iam import IamChange
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan.exemptions import exemption
from eksguard.snapshot.iam_policy import CNI_POLICY, IamPostureSnapshot, PolicyView

REMEDIATION_NAMESPACE = uuid.UUID("5d0b7f3e-8c21-4f6a-b0d4-3e9a1c7b2f60")


def _is_aws_managed(policy_arn: str) -> bool:
    return policy_arn.split(":")[4:5] == ["aws"]


def read(change: IamChange, aws: Aws, account: str) -> tuple[IamPostureSnapshot | None, str]:
    """The snapshot the event asks for, or None and why there is nothing to check."""
    arn = change.policy_arn or ""
    if change.event_name == "AttachRolePolicy" and _is_aws_managed(arn):
        if arn.rsplit("/", 1)[-1] != CNI_POLICY:
            return None, "an AWS managed policy no eksguard rule covers"
        roles = [r for kind, name in iam.policy_entities(aws, arn) if kind == "role"
                 if (r := iam.read_role(aws, name)) is not None]
        return IamPostureSnapshot(account, cni_roles=tuple(roles)), ""
    if change.event_name == "PutRolePolicy":
        role = iam.read_role(aws, change.role_name or "")
        doc = iam.inline_role_policy(aws, role.name, change.policy_name or "") if role else None
        if role is None or doc is None:
            return None, "the role or its inline policy no longer exists"
        view = PolicyView(role.arn, change.policy_name or "", doc, role.tags, inline_of=role.name)
        return IamPostureSnapshot(account, policies=(view,)), ""
    if _is_aws_managed(arn):
        return None, "an AWS managed policy (EK-007 covers customer policies)"
    policy = iam.read_managed_policy(aws, arn)
    if policy is None:
        return None, "the policy no longer exists"
    if change.event_name == "AttachRolePolicy":
        # Re-read the attachment too: it may have been detached since.
        still = arn in iam.attached_policy_arns(aws, change.role_name or "")
        entities: tuple[tuple[str, str], ...] = (("role", change.role_name or ""),) if still else ()
    else:
        entities = iam.policy_entities(aws, arn)
    return IamPostureSnapshot(account, policies=(PolicyView(policy.arn, policy.name, policy.document, policy.tags,
                                                            entities),)), ""


def handle(change: IamChange, aws: Aws, config: Config, ctx: EventContext, now: datetime) -> GuardResult:
    snap, reason = read(change, aws, ctx.account)
    if snap is None:
        return GuardResult("processed", ctx.event_id, ctx.event_name, f"{reason}: nothing to check")
    findings = evaluate(Posture(iam=snap), config, EksConfig(), only=rules_for(ctx.event_name, (Family.IAM,)))
    summaries, sent = [], 0
    for finding in findings:
        decision = decide(finding, snap, ctx, config, now.date())
        if not config.alert_topic_arn:
            raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
        sent += publish(aws, config.alert_topic_arn, decision.message) is not None
        summaries.append(ActionSummary(finding.rule_id, finding.severity.label, finding.resource_id,
                                       finding.target_id, decision.kind.value, "unchanged", finding.detail))
    return GuardResult("processed", ctx.event_id, ctx.event_name, findings=len(findings), actions=tuple(summaries),
                       alerts_sent=sent)


@dataclass(frozen=True)
class Decision:
    kind: ActionKind  # alert-only or exempt: these rules never change anything
    note: str
    message: AlertMessage


def decide(finding: Finding, snap: IamPostureSnapshot, ctx: EventContext, config: Config, today: date) -> Decision:
    """EK-005 / EK-007, from an IAM event or the sweep: exempt or alert only, and the message that says so."""
    arn, tags, image = _resource(finding, snap)
    exempt = exemption(tags, config.exempt_tag_key, today)
    kind = ActionKind.EXEMPT if exempt.active else ActionKind.ALERT_ONLY
    note = exempt.note if exempt.active else "; ".join(n for n in ("alert-only rule", exempt.note) if n)
    rid = str(uuid.uuid5(REMEDIATION_NAMESPACE, f"{ctx.event_id}|{arn}|{finding.rule_id}"))
    return Decision(kind, note, posture_message(finding, kind, arn, rid, ctx, config, note, image))


def _resource(finding: Finding, snap: IamPostureSnapshot) -> tuple[str, dict[str, str], dict[str, object] | None]:
    """ARN, tags (for the exemption) and image (the policy document or the role's trust) of what a finding
    is about."""
    for role in snap.cni_roles:
        if role.name == finding.resource_id:
            return role.arn, dict(role.tags), {"AttachedPolicy": CNI_POLICY, "Trust": dict(role.document)}
    for policy in snap.policies:
        if policy.arn == finding.target_id or policy.inline_of == finding.resource_id:
            return policy.arn, dict(policy.tags), {"PolicyName": policy.name, "Document": dict(policy.document)}
    raise LookupError(f"finding {finding.rule_id} on {finding.resource_id} names nothing in the snapshot")

"""Apply cluster-posture actions: before-image first, then the one call, then the outcome. A failure
is an outcome (alerted), never an exception that hides what happened."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eksguard import arn
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws.audit import AuditRecord, AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext
from eksguard.plan.eks import (
    DisassociateChange,
    EksAction,
    EndpointChange,
    LoggingChange,
    TemplateChange,
    admin_grant,
    fix_command,
)

FINAL = frozenset({"applied", "already-gone"})
# What rollback (pipeline/rollback_access.py) reads the before-image of a disassociated access policy as.
ACCESS_POLICY = "eks-access-policy"
# A cluster accepts one update at a time: a second one while the first runs is refused, and Lambda's
# retry (or the next sweep) applies it later.
RETRYABLE = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
                       "ServiceUnavailableException", "InternalError", "ServerException", "ResourceInUseException"})


@dataclass(frozen=True)
class EksOutcome:
    action: EksAction
    kind: ActionKind
    status: str  # applied | already-gone | duplicate | failed | unchanged
    error: str | None = None
    retryable: bool = False
    after: Mapping[str, Any] | None = None
    note: str = ""

    @property
    def should_alert(self) -> bool:
        # Already gone: someone else removed it first; their change is not eksguard's to report.
        return self.status not in ("duplicate", "already-gone")


def apply(actions: Sequence[EksAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
          config: Config) -> list[EksOutcome]:
    return [_apply_one(a, aws, audit, ctx, config) if a.change else EksOutcome(a, a.kind, "unchanged")
            for a in actions]


def _apply_one(action: EksAction, aws: Aws, audit: AuditStore | None, ctx: EventContext,
               config: Config) -> EksOutcome:
    if audit is None:
        return EksOutcome(action, ActionKind.FAILED, "failed", "no audit table: refusing to change without a "
                          "before-image")
    resource_type, resource_arn, before = _before(action, ctx)
    record = AuditRecord(
        remediation_id=action.remediation_id, resource_type=resource_type, resource_id=action.finding.resource_id,
        resource_arn=resource_arn, rule_id=action.finding.rule_id, event_id=ctx.event_id, actor=ctx.actor,
        time=ctx.time, account=ctx.account, region=ctx.region, mode=config.mode.value, action=action.kind.value,
        before=before, after=None,
    )
    try:
        earlier = audit.begin(record)
    except AuditWriteError as exc:
        return EksOutcome(action, ActionKind.FAILED, "failed", str(exc), retryable=True)
    if earlier is not None and earlier.get("outcome") in FINAL:
        done = earlier.get("outcome") == "applied"
        status = "duplicate" if earlier.get("alerted") == "true" or not done else "applied"
        return EksOutcome(action, action.kind, status, after=earlier.get("after_image"))
    try:
        after, note = _execute(action, aws, ctx.region)
    except ClientError as exc:
        code = error_code(exc)
        if isinstance(action.change, DisassociateChange) and code == eks_api.NOT_FOUND:
            # Gone after our own earlier attempt stored its before-image: that attempt removed it.
            status = "applied" if earlier is not None and earlier.get("outcome") == "pending" else "already-gone"
            after = _disassociated(action.change)
            audit.finish(action.remediation_id, status, after)
            return EksOutcome(action, action.kind, status, after=after)
        outcome = EksOutcome(action, ActionKind.FAILED, "failed", f"{action.kind.value} failed: {code}: "
                             f"{exc.response.get('Error', {}).get('Message', '')}".strip(),
                             retryable=code in RETRYABLE)
        audit.finish(action.remediation_id, "failed", None, outcome.error)
        return outcome
    audit.finish(action.remediation_id, "applied", after)
    return EksOutcome(action, action.kind, "applied", after=after, note=note)


def _before(action: EksAction, ctx: EventContext) -> tuple[str, str, dict[str, Any]]:
    change = action.change
    if isinstance(change, EndpointChange) and action.cluster:
        return "eks-cluster-endpoint", action.cluster.arn, {"resourcesVpcConfig": dict(action.cluster.vpc_image)}
    if isinstance(change, LoggingChange) and action.cluster:
        return "eks-cluster-logging", action.cluster.arn, {"logging": dict(action.cluster.logging_image)}
    if isinstance(change, DisassociateChange) and action.cluster:
        grant = admin_grant(action.cluster, action.finding)
        assert grant is not None  # the planner made the change from it
        return ACCESS_POLICY, grant.entry_arn or action.cluster.arn, access_image(change, grant.entry_arn,
                                                                                  grant.image)
    assert isinstance(change, TemplateChange) and action.template is not None
    t = action.template
    template_arn = arn.ec2(ctx.partition, ctx.region, ctx.account, "launch-template", t.template_id)
    return "launch-template", template_arn, {"LaunchTemplateId": t.template_id, "VersionNumber": t.version,
                                    "DefaultVersion": t.is_default, "MetadataOptions": dict(t.image)}


def _execute(action: EksAction, aws: Aws, region: str) -> tuple[dict[str, Any], str]:
    change = action.change
    after: dict[str, Any]
    if isinstance(change, EndpointChange):
        after = {"resourcesVpcConfig": change.request()}
        return {**after, **eks_api.update_endpoint(aws, region, change.cluster, change.request())}, ""
    if isinstance(change, LoggingChange):
        after = {"logging": change.request()}
        return {**after, **eks_api.update_logging(aws, region, change.cluster, change.request())}, ""
    if isinstance(change, DisassociateChange):
        eks_api.disassociate_policy(aws, region, change.cluster, change.principal_arn, change.policy_arn)
        return _disassociated(change), ""
    assert isinstance(change, TemplateChange) and action.template is not None
    # A version eksguard wrote earlier from the same source is the fix: never write a second one.
    version = lt_api.find_version(aws, region, change.template_id, change.description)
    if version is None:
        version = lt_api.create_version(aws, region, change.template_id, change.source_version,
                                        change.metadata_options, change.description)
    if change.set_default:
        lt_api.set_default_version(aws, region, change.template_id, version)
        note = f"version {version} is now the default; node groups on $Default roll to it with their next update"
    else:
        note = f"version {version} created; move the node groups to it: {fix_command(action.template, version)}"
    after = {"LaunchTemplateId": change.template_id, "VersionNumber": version, "DefaultVersion": change.set_default,
             "MetadataOptions": dict(change.metadata_options)}
    return after, note


def access_image(change: DisassociateChange, entry_arn: str, association: Mapping[str, Any]) -> dict[str, Any]:
    """The before-image of a disassociation: where, and the association exactly as AWS listed it."""
    scope = {"type": change.scope, "namespaces": list(change.namespaces)}
    return {"clusterName": change.cluster, "principalArn": change.principal_arn, "accessEntryArn": entry_arn,
            "associatedAccessPolicy": {"policyArn": change.policy_arn, "accessScope": scope, **association}}


def _disassociated(change: DisassociateChange) -> dict[str, Any]:
    return {"clusterName": change.cluster, "principalArn": change.principal_arn, "associatedAccessPolicy": None}

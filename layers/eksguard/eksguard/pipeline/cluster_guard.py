"""The cluster guard: EKS and launch-template events -> re-read -> pure rules EK-001 ... EK-006 ->
(enforce) endpoint, logging or launch-template fix -> audit -> alert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from eksguard.alert.eks import build_message
from eksguard.apply.eks import EksOutcome, apply
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws import topology
from eksguard.aws.audit import AuditStore, AuditWriteError
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rules_for
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import EventContext
from eksguard.parse.eks import CLUSTER_GUARD_EVENTS, EksChange, parse_eks_change
from eksguard.parse.envelope import EventError, is_eks_service_role
from eksguard.pipeline.guard import alert_outcomes, open_event, raise_if_retryable
from eksguard.pipeline.node_templates import node_templates
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan.eks import plan
from eksguard.snapshot.eks import EksSnapshot

# The rule families this guard re-checks: its EventBridge rules match their events (tests/unit/test_catalog.py),
# plus DeleteCluster, answered "nothing left to check".
FAMILIES = (Family.CLUSTER,)
EXTRA_EVENTS = ("DeleteCluster",)


def handle(raw: Mapping[str, Any], config: Config, eks_config: EksConfig, aws: Aws, now: datetime) -> GuardResult:
    event = open_event(raw, config, CLUSTER_GUARD_EVENTS, "not a call the cluster guard handles")
    if isinstance(event, GuardResult):
        return event
    ctx = event.context
    if ctx.source == "aws.ec2" and is_eks_service_role(event):
        return GuardResult("skipped", ctx.event_id, ctx.event_name,
                           "EKS manages the launch templates and instances it creates itself")
    try:
        change = parse_eks_change(event)
    except EventError as exc:
        return GuardResult("rejected", ctx.event_id, ctx.event_name, str(exc))
    if change.event_name in topology.TOPOLOGY_EVENTS:  # what this container kept of the region is stale now
        topology.invalidate(aws, ctx.region)
    if not ctx.account:
        ctx = replace(ctx, account=aws.account_id())
    if change.event_name == "DeleteCluster":
        return GuardResult("processed", ctx.event_id, ctx.event_name, "cluster deleted: nothing left to check")

    snapshot, reason = read_snapshot(aws, ctx.region, change, config)
    if reason:
        return GuardResult("processed", ctx.event_id, ctx.event_name, reason)
    findings = evaluate(Posture(eks=snapshot), config, eks_config,
                        only=rules_for(change.event_name, FAMILIES))
    actions = plan(snapshot, findings, config, eks_config, ctx.event_id, now.date())
    audit = AuditStore(aws, config.audit_table) if any(a.change for a in actions) else None
    outcomes = apply(actions, aws, audit, ctx, config)
    alerts = publish_outcomes(outcomes, aws, audit, ctx, config)
    extra: dict[str, Any] = {}
    if change.event_name == "CreateCluster":
        # After the alerts: a history that cannot be written must not hold back what was found.
        try:
            extra["issuer"] = hand_over_issuer(aws, config, ctx, snapshot)
        except AuditWriteError as exc:
            raise RetryableError(f"cluster issuer not recorded: {exc}") from exc
    result = GuardResult("processed", ctx.event_id, ctx.event_name, findings=len(findings),
                         actions=tuple(summary(o) for o in outcomes), alerts_sent=alerts, extra=extra)
    raise_if_retryable(outcomes)
    return result


def read_snapshot(aws: Aws, region: str, change: EksChange, config: Config) -> tuple[EksSnapshot, str | None]:
    """What the event points at, re-read; a reason instead when there is nothing left to check."""
    name = change.event_name
    if name in ("CreateCluster", "UpdateClusterConfig", "CreateAccessEntry", "AssociateAccessPolicy"):
        assert change.cluster is not None
        grants = name != "UpdateClusterConfig"
        cluster = eks_api.read_cluster(aws, region, change.cluster, grants=grants, principal=change.principal_arn)
        if cluster is None:
            return EksSnapshot(), f"cluster {change.cluster} no longer exists: nothing to do"
        return EksSnapshot(clusters=(cluster,)), None
    if name == "CreateNodegroup":
        assert change.cluster is not None
        ids = [r.template_id for r in eks_api.read_node_groups(aws, region, [change.cluster])
               if r.name == change.nodegroup]
        if not ids:
            return EksSnapshot(), (f"node group {change.nodegroup} launches from no launch template of yours "
                                   "(or no longer exists): nothing to check")
        return _templates(aws, region, config, ids), None
    if name == "ModifyInstanceMetadataOptions":
        assert change.instance_id is not None
        instance = lt_api.read_node_instance(aws, region, change.instance_id)
        if instance is None:
            return EksSnapshot(), f"{change.instance_id} is not a running EKS node: nothing to check"
        return EksSnapshot(instances=(instance,)), None
    return _template_snapshot(aws, region, change, config)


def _templates(aws: Aws, region: str, config: Config, ids: list[str],
               extra: Mapping[str, list[int]] | None = None) -> EksSnapshot:
    """The node templates among ``ids``, chosen and read as the scan and the sweep choose and read them (every
    node group of the region that launches from them, the versions they resolve to, default and latest)."""
    refs = eks_api.read_node_groups(aws, region, eks_api.list_cluster_names(aws, region))
    return EksSnapshot(templates=node_templates(aws, region, config, [r for r in refs if r.template_id in ids],
                                                ids=ids, extra_versions=extra))


def _template_snapshot(aws: Aws, region: str, change: EksChange,
                       config: Config) -> tuple[EksSnapshot, str | None]:
    ids = [change.template_id] if change.template_id else []
    names = [] if ids else [change.template_name or ""]
    found = list(lt_api.describe_templates(aws, region, ids=ids, names=names))
    if not found:
        return EksSnapshot(), "the launch template no longer exists: nothing to do"
    extra = {i: [change.template_version] for i in found if change.template_version is not None}
    snapshot = _templates(aws, region, config, found, extra)
    if not snapshot.templates:
        return EksSnapshot(), ("not a node launch template (no node group uses it, it carries no node or cluster "
                               "security group, no cluster tag): out of scope; CreateNodegroup re-checks it when a "
                               "node group starts using it")
    return snapshot, None


def hand_over_issuer(aws: Aws, config: Config, ctx: EventContext, snapshot: EksSnapshot) -> str:
    """A new cluster means a new OIDC issuer: record it in the issuer history (aws/audit.py), which the IRSA
    side reads to refresh trust policies keyed to a previous issuer of the same name (IR-005). The refresh
    itself runs in IrsaRefreshFunction on this same CreateCluster event: it holds the IAM permissions this
    function must not have."""
    cluster = snapshot.clusters[0]
    if not cluster.issuer:
        return "no issuer yet (cluster still creating): the sweep records it"
    store = AuditStore(aws, config.audit_table)
    new = store.record_cluster_issuer(ctx.region, cluster.name, cluster.issuer, cluster.arn, ctx.time, ctx.event_id)
    return f"{'recorded' if new else 'already recorded'} in the issuer history: {cluster.issuer}"


def publish_outcomes(outcomes: list[EksOutcome], aws: Aws, audit: AuditStore | None, ctx: EventContext,
                     config: Config) -> int:
    return alert_outcomes(outcomes, lambda o: build_message(o, ctx, config), "applied", aws, audit, config)


def summary(outcome: EksOutcome) -> ActionSummary:
    finding = outcome.action.finding
    note = outcome.note or outcome.action.note  # what was done, else why nothing was (alert only, exempt)
    detail = f"{finding.detail} ({note})" if note else finding.detail
    return ActionSummary(rule_id=finding.rule_id, severity=finding.severity.label, resource_id=finding.resource_id,
                         target_id=finding.target_id, action=outcome.kind.value, status=outcome.status,
                         detail=detail, error=outcome.error)

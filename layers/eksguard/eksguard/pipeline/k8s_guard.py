"""The in-cluster guard: a write to aws-auth, a NetworkPolicy, a Calico policy, a ServiceAccount or a Namespace,
seen in the cluster's audit log (CloudWatch Logs subscription) -> re-read the cluster (DescribeCluster, its
Kubernetes API, its node templates, the account's IAM) -> K8-000 ... K8-004 -> alert. Alert only: eksguard
never writes inside a cluster."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eksguard import clock
from eksguard.alert.k8s import k8s_message
from eksguard.alert.messages import AlertMessage
from eksguard.alert.publish import publish
from eksguard.arn import partition_of
from eksguard.aws import eks as eks_api
from eksguard.aws import launch_templates as lt_api
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate, rules_for
from eksguard.detect.k8s import EVENTS
from eksguard.detect.rule import Family
from eksguard.errors import RetryableError
from eksguard.model import ActionKind, EventContext, Finding
from eksguard.parse.envelope import EventError
from eksguard.parse.k8s_audit import parse_audit_batch
from eksguard.pipeline.kubernetes import read_kubernetes
from eksguard.pipeline.node_templates import node_templates
from eksguard.pipeline.posture import read_iam
from eksguard.pipeline.result import ActionSummary, GuardResult
from eksguard.plan.exemptions import exemption
from eksguard.snapshot.eks import EksSnapshot

FAMILIES = (Family.KUBERNETES,)
REMEDIATION_NAMESPACE = uuid.UUID("2f6d8a41-93c5-4e07-b1d2-7a5c3e9f0b18")


@dataclass(frozen=True)
class Decision:
    kind: ActionKind  # alert-only or exempt: nothing inside a cluster is ever changed
    note: str
    message: AlertMessage


def decide(finding: Finding, cluster_tags: Mapping[str, str], ctx: EventContext, config: Config,
           today: date) -> Decision:
    exempt = exemption(cluster_tags, config.exempt_tag_key, today)
    kind = ActionKind.EXEMPT if exempt.active else ActionKind.ALERT_ONLY
    note = exempt.note if exempt.active else "; ".join(n for n in ("alert-only rule", exempt.note) if n)
    rid = str(uuid.uuid5(REMEDIATION_NAMESPACE, f"{ctx.event_id}|{finding.resource_id}|"
                                                f"{finding.target_id or ''}|{finding.rule_id}"))
    return Decision(kind, note, k8s_message(finding, kind, rid, ctx, config, note))


def handle(raw: Mapping[str, Any], config: Config, eks_config: EksConfig, aws: Aws, now: datetime) -> GuardResult:
    try:
        batch = parse_audit_batch(raw)
    except EventError as exc:
        return GuardResult("rejected", reason=str(exc))
    event_id = f"k8s-audit:{batch.log_group}:{batch.first_event_id}"
    if not batch.writes:
        return GuardResult("skipped", event_id, EVENTS[0], "no write to what the K8 rules read")
    region = aws.home_region
    cluster = eks_api.read_cluster(aws, region, batch.cluster)
    if cluster is None:
        return GuardResult("processed", event_id, EVENTS[0], f"cluster {batch.cluster} no longer exists")
    account = aws.account_id()
    if batch.account != account:
        return GuardResult("rejected", event_id, EVENTS[0], f"log batch of account {batch.account} delivered to "
                                                            f"{account}")
    ctx = EventContext(event_id=event_id, event_name=EVENTS[0], source="aws.logs", account=account, region=region,
                       time=clock.stamp(now), actor="; ".join(sorted({w.user for w in batch.writes})),
                       partition=partition_of(region))
    # Why pods may reach IMDS (K8-003) is read as the scan reads it: the region's node templates (those other
    # clusters' node groups use included, to tell whose they are) and nodes.
    refs = eks_api.read_node_groups(aws, region, eks_api.list_cluster_names(aws, region))
    eks = EksSnapshot(clusters=(cluster,), templates=node_templates(aws, region, config, refs),
                      instances=lt_api.read_node_instances(aws, region))
    k8s = read_kubernetes(aws, region, eks, read_iam(aws, account), account, eks_config)
    findings = evaluate(Posture(k8s=k8s), config, eks_config, only=rules_for(EVENTS[0], FAMILIES))
    return _alert(findings, cluster.tags, ctx, config, aws, now.date(),
                  {"cluster": cluster.name, "writes": [w.describe() for w in batch.writes]})


def _alert(findings: Sequence[Finding], tags: Mapping[str, str], ctx: EventContext, config: Config, aws: Aws,
           today: date, extra: dict[str, Any]) -> GuardResult:
    if findings and not config.alert_topic_arn:
        raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
    sent, summaries = 0, []
    for finding in findings:
        decision = decide(finding, tags, ctx, config, today)
        sent += publish(aws, config.alert_topic_arn, decision.message) is not None
        summaries.append(ActionSummary(finding.rule_id, finding.severity.label, finding.resource_id,
                                       finding.target_id, decision.kind.value, "unchanged", finding.detail))
    return GuardResult("processed", ctx.event_id, ctx.event_name, findings=len(findings), actions=tuple(summaries),
                       alerts_sent=sent, extra=extra)

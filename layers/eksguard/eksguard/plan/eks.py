"""Plan what to do about cluster-posture findings: one action per finding, in the mode, opt-ins and
exemption state of its cluster, access entry or launch template. Only EK-001 (with TrustedCidrs), EK-002,
EK-004 (with EnforceImdsv2) and EK-006 (with RevokeClusterAdmin and a non-empty AdminPrincipals) ever change
anything; everything else alerts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from eksguard.config import Config, Mode
from eksguard.config_eks import EksConfig
from eksguard.detect import catalog
from eksguard.detect.rule import Rule
from eksguard.model import ActionKind, Finding
from eksguard.plan.exemptions import Exemption, exemption
from eksguard.plan.sg import remediation_id
from eksguard.snapshot.eks import (
    ALL_LOG_TYPES,
    REQUIRED_LOG_TYPES,
    AccessGrant,
    ClusterPosture,
    EksSnapshot,
    NodeTemplate,
)

# Marks the versions eksguard writes, so a later run finds its own fix instead of writing another.
VERSION_MARK = "eksguard: IMDSv2 required, hop limit 1 (from version {source})"


@dataclass(frozen=True)
class EndpointChange:
    cluster: str
    public: bool
    private: bool
    cidrs: tuple[str, ...]

    def request(self) -> dict[str, Any]:
        # Every endpoint-access field, always: EKS applies them as one EndpointAccessUpdate, and a
        # field left out must not fall back to anything but what we decided.
        return {"endpointPublicAccess": self.public, "endpointPrivateAccess": self.private,
                "publicAccessCidrs": list(self.cidrs)}


@dataclass(frozen=True)
class LoggingChange:
    cluster: str
    enabled: tuple[str, ...]

    def request(self) -> dict[str, Any]:
        disabled = [t for t in ALL_LOG_TYPES if t not in self.enabled]
        entries = [{"types": list(self.enabled), "enabled": True}]
        return {"clusterLogging": entries + ([{"types": disabled, "enabled": False}] if disabled else [])}


@dataclass(frozen=True)
class TemplateChange:
    template_id: str
    source_version: int
    metadata_options: Mapping[str, Any]
    set_default: bool
    description: str


@dataclass(frozen=True)
class DisassociateChange:
    """EK-006: take one access policy off one access entry (the scope is the before-image's)."""

    cluster: str
    principal_arn: str
    policy_arn: str
    scope: str
    namespaces: tuple[str, ...] = ()


Change = EndpointChange | LoggingChange | TemplateChange | DisassociateChange


@dataclass(frozen=True)
class EksAction:
    remediation_id: str
    kind: ActionKind
    finding: Finding
    change: Change | None = None
    cluster: ClusterPosture | None = None
    template: NodeTemplate | None = None
    note: str = ""


def plan(snapshot: EksSnapshot, findings: Iterable[Finding], config: Config, eks: EksConfig, event_id: str,
         today: date) -> list[EksAction]:
    return [_decide(snapshot, f, config, eks, event_id, today) for f in findings]


def _decide(snap: EksSnapshot, finding: Finding, config: Config, eks: EksConfig, event_id: str,
            today: date) -> EksAction:
    rid = remediation_id(event_id, finding)
    cluster = snap.cluster(finding.resource_id)
    template = snap.template(f"{finding.resource_id}:{finding.target_id}")
    tags = cluster.tags if cluster else template.tags if template else {}
    exempt = _exemption(tags, admin_grant(cluster, finding), config.exempt_tag_key, today)
    if exempt.active:
        return EksAction(rid, ActionKind.EXEMPT, finding, None, cluster, template, exempt.note)
    change, kind, refusal = _change(finding, cluster, template, eks, config)
    if config.mode is Mode.ENFORCE and change is not None:
        return EksAction(rid, kind, finding, change, cluster, template, exempt.note)
    note = "audit mode: nothing changed" if config.mode is Mode.AUDIT and change is not None else refusal
    return EksAction(rid, ActionKind.ALERT_ONLY, finding, None, cluster, template,
                     "; ".join(n for n in (note, exempt.note) if n))


def _exemption(tags: Mapping[str, str], grant: AccessGrant | None, key: str, today: date) -> Exemption:
    """The cluster's (or template's) exemption; for a cluster-admin grant also its access entry's, which exempts
    that one principal (what a rollback of EK-006 sets, so the restored grant stays)."""
    on_resource = exemption(tags, key, today)
    if on_resource.active or grant is None:
        return on_resource
    on_entry = exemption(grant.entry_tags, key, today)
    return on_entry if on_entry.active or not on_resource.note else on_resource


def admin_grant(cluster: ClusterPosture | None, finding: Finding) -> AccessGrant | None:
    """The cluster-admin association an EK-006 finding is about (None: the aws-auth-only finding, or not read)."""
    if cluster is None or finding.rule_id != "EK-006" or finding.target_id is None:
        return None
    return next((g for g in cluster.grants or () if g.principal_arn == finding.target_id and g.is_cluster_admin),
                None)


Fix = Callable[[Finding, ClusterPosture | None, NodeTemplate | None, EksConfig, Config],
               tuple[Change | None, str]]


def _change(finding: Finding, cluster: ClusterPosture | None, template: NodeTemplate | None,
            eks: EksConfig, config: Config) -> tuple[Change | None, ActionKind, str]:
    """The change the rule's catalog action asks for, or None and why not."""
    action = catalog.rule(finding.rule_id).action
    fix = FIXES.get(action) if action is not None else None
    if action is None or fix is None:
        return None, ActionKind.ALERT_ONLY, "alert-only rule"
    if cluster is not None and cluster.status != "ACTIVE":
        # EKS refuses updates until the cluster is ACTIVE (creating, updating): the sweep applies it then.
        return None, ActionKind.ALERT_ONLY, f"cluster is {cluster.status}: the next sweep fixes it once ACTIVE"
    change, refusal = fix(finding, cluster, template, eks, config)
    return change, action if change is not None else ActionKind.ALERT_ONLY, refusal


def _restrict_endpoint(finding: Finding, cluster: ClusterPosture | None, template: NodeTemplate | None,
                       eks: EksConfig, config: Config) -> tuple[Change | None, str]:
    if cluster is None:
        return None, "cluster not read"
    if not eks.trusted_cidrs:
        return None, "TrustedCidrs is not set: alert only"
    # Nodes reach a restricted public endpoint only from the trusted ranges: keep them working through the
    # private endpoint, turned on in the same update.
    return EndpointChange(cluster.name, True, True, eks.trusted_cidrs), ""


def _enable_logging(finding: Finding, cluster: ClusterPosture | None, template: NodeTemplate | None,
                    eks: EksConfig, config: Config) -> tuple[Change | None, str]:
    if cluster is None:
        return None, "cluster not read"
    return LoggingChange(cluster.name, tuple(t for t in ALL_LOG_TYPES
                                             if t in cluster.logging_enabled | REQUIRED_LOG_TYPES)), ""


def _require_imdsv2(finding: Finding, cluster: ClusterPosture | None, template: NodeTemplate | None,
                    eks: EksConfig, config: Config) -> tuple[Change | None, str]:
    if template is None:
        return None, "a node, not a launch template: change its metadata options or replace it"
    if not eks.enforce_imdsv2:
        return None, f"EnforceImdsv2 is off: alert only; fix: {fix_command(template)}"
    if not template.node_groups:
        return None, "no managed node group uses this template: alert only"
    options = {**template.image, "HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"}
    return TemplateChange(template.template_id, template.version, options,
                          set_default=any(n.follows_default for n in template.node_groups),
                          description=VERSION_MARK.format(source=template.version)), ""


def _revoke_cluster_admin(finding: Finding, cluster: ClusterPosture | None, template: NodeTemplate | None,
                          eks: EksConfig, config: Config) -> tuple[Change | None, str]:
    if cluster is not None and finding.target_id is None:
        return None, ("aws-auth only (authentication mode CONFIG_MAP): there is no access entry to disassociate; "
                      "move the cluster to API_AND_CONFIG_MAP, then API")
    grant = admin_grant(cluster, finding)
    if cluster is None or grant is None:
        return None, "the access grant was not read: alert only"
    if grant.scope != "cluster":
        return None, (f"namespace-scoped ({', '.join(grant.namespaces) or 'no namespace'}): alert only; only a "
                      "cluster-scope AmazonEKSClusterAdminPolicy is disassociated")
    if f":role{config.own_role_path}" in grant.principal_arn:
        return None, f"an eksguard role (IAM path {config.own_role_path}): never disassociated"
    command = (f"aws eks disassociate-access-policy --cluster-name {cluster.name} --principal-arn "
               f"{grant.principal_arn} --policy-arn {grant.policy_arn}")
    if not eks.revoke_cluster_admin:
        return None, f"RevokeClusterAdmin is off: alert only; to remove it: {command}"
    if not eks.admin_principals:
        # Lock-out guard: with nobody named as admin, every cluster admin is "outside AdminPrincipals", the
        # legitimate ones included; disassociating them could leave the cluster with no admin at all.
        return None, ("AdminPrincipals is empty: never disassociated (lock-out guard: name the principals that "
                      f"must keep cluster admin first); to remove it by hand: {command}")
    return DisassociateChange(cluster.name, grant.principal_arn, grant.policy_arn, grant.scope, grant.namespaces), ""


# The planner's dispatch: the catalog's enforce action of a rule -> how to change the resource. A rule whose
# action has no entry here fails tests/unit/test_catalog.py instead of silently becoming alert-only.
FIXES: Mapping[ActionKind, Fix] = {
    ActionKind.RESTRICTED_ENDPOINT: _restrict_endpoint,
    ActionKind.ENABLED_LOGGING: _enable_logging,
    ActionKind.NEW_LAUNCH_TEMPLATE_VERSION: _require_imdsv2,
    ActionKind.REVOKED: _revoke_cluster_admin,
}


def remediates(rule: Rule) -> bool:
    return rule.action in FIXES


def fix_command(template: NodeTemplate, version: int | str | None = None) -> str:
    """What an operator runs to move the template's node groups onto a compliant version."""
    if version is None:
        return (f"aws ec2 create-launch-template-version --launch-template-id {template.template_id} "
                f"--source-version {template.version} --launch-template-data "
                "'{\"MetadataOptions\":{\"HttpTokens\":\"required\",\"HttpPutResponseHopLimit\":1}}'")
    commands = [f"aws eks update-nodegroup-version --cluster-name {n.cluster} --nodegroup-name {n.name} "
                f"--launch-template id={template.template_id},version={version}" for n in template.node_groups]
    return " && ".join(commands)

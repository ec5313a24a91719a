"""Cluster posture rules EK-001 ... EK-004, EK-006 and the CloudTrail check CT-001 (docs/rules.md).
Each check is a small pure function over the snapshot; ``RULES`` is the explicit registry."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from eksguard.config_eks import EksConfig
from eksguard.detect.rule import Family, Rule
from eksguard.model import ActionKind, Finding, Severity
from eksguard.snapshot.eks import REQUIRED_LOG_TYPES, EksSnapshot

Check = Callable[[EksSnapshot, EksConfig], Iterator[Finding]]
CLUSTER_WRITES = ("CreateCluster", "UpdateClusterConfig")
NODE_TEMPLATE_WRITES = ("CreateNodegroup", "CreateLaunchTemplate", "CreateLaunchTemplateVersion",
                        "ModifyInstanceMetadataOptions")
ACCESS_WRITES = ("CreateCluster", "UpdateClusterConfig", "CreateAccessEntry", "AssociateAccessPolicy")


def _finding(rule_id: str, resource_id: str, detail: str, target_id: str | None = None, remediable: bool = False,
             severity: Severity | None = None, **evidence: Any) -> Finding:
    spec = RULES_BY_ID[rule_id]
    return Finding(rule_id, severity or spec.severity, spec.title, resource_id, detail, target_id=target_id,
                   remediable=remediable and spec.action is not None, evidence=tuple(sorted(evidence.items())))


def ek001_public_endpoint_world(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    for c in snap.clusters:
        if c.world_open:
            cidrs = ", ".join(c.public_cidrs or ("0.0.0.0/0",))
            yield _finding("EK-001", c.name, f"the API endpoint of cluster {c.name} is public and open to {cidrs}",
                           remediable=bool(cfg.trusted_cidrs), publicAccessCidrs=list(c.public_cidrs),
                           endpointPrivateAccess=c.endpoint_private)


def ek002_logging_disabled(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    for c in snap.clusters:
        missing = sorted(REQUIRED_LOG_TYPES - c.logging_enabled)
        if missing:
            yield _finding("EK-002", c.name, f"control-plane log types {', '.join(missing)} are disabled on "
                           f"cluster {c.name}", remediable=True, missing=missing)


def ek003_secrets_not_encrypted(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    for c in snap.clusters:
        if c.secrets_key_arn is None:
            yield _finding("EK-003", c.name, f"Kubernetes secrets of cluster {c.name} are not envelope-encrypted "
                           "with a KMS key (aws eks associate-encryption-config; it cannot be undone)")


def ek004_imds_reachable_from_pods(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    for t in snap.templates:
        problems = t.metadata.problems()
        if problems:
            users = ", ".join(f"{n.cluster}/{n.name} ({n.version_spec})" for n in t.node_groups) or "no node group yet"
            yield _finding("EK-004", t.template_id, f"launch template {t.template_name} version {t.version}: "
                           f"{'; '.join(problems)}; used by {users}", target_id=str(t.version),
                           remediable=cfg.enforce_imdsv2 and bool(t.node_groups), **t.image)
    for i in snap.instances:
        problems = i.metadata.problems()
        if problems:
            yield _finding("EK-004", i.instance_id, f"node {i.instance_id} of cluster {i.cluster}: "
                           f"{'; '.join(problems)}", **i.image)


def ek006_cluster_access(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    for c in snap.clusters:
        if c.auth_mode == "CONFIG_MAP":
            yield _finding("EK-006", c.name, f"cluster {c.name} authenticates only through the aws-auth ConfigMap "
                           "(its edits are invisible to CloudTrail); move to API_AND_CONFIG_MAP, then API",
                           severity=Severity.MEDIUM, authenticationMode=c.auth_mode)
        for grant in c.grants or ():
            if grant.is_cluster_admin and grant.principal_arn not in cfg.admin_principals:
                where = "the whole cluster" if grant.scope == "cluster" else f"namespaces {', '.join(grant.namespaces)}"
                yield _finding("EK-006", c.name, f"{grant.principal_arn} holds AmazonEKSClusterAdminPolicy on "
                               f"{where} of cluster {c.name} and is not in AdminPrincipals",
                               target_id=grant.principal_arn,
                               remediable=cfg.revoke_cluster_admin and bool(cfg.admin_principals)
                               and grant.scope == "cluster",
                               principalArn=grant.principal_arn, policyArn=grant.policy_arn, accessScope=grant.scope)


def ct001_no_management_trail(snap: EksSnapshot, cfg: EksConfig) -> Iterator[Finding]:
    trail = snap.trail
    if trail is not None and not trail.logging_trails:
        seen = ", ".join(trail.all_trails) or "none"
        yield _finding("CT-001", f"cloudtrail:{trail.region}", f"no CloudTrail trail logs management write events in "
                       f"{trail.region} (trails seen: {seen}): EventBridge never receives the calls eksguard reacts to",
                       trails=list(trail.all_trails))


CLUSTER = Family.CLUSTER
RULES: tuple[Rule, ...] = (
    Rule("EK-001", "Cluster API endpoint is public and open to 0.0.0.0/0", Severity.HIGH, ek001_public_endpoint_world,
         CLUSTER, "eks-cluster", CLUSTER_WRITES, ActionKind.RESTRICTED_ENDPOINT, ("TrustedCidrs", "ExemptTagKey"),
         ("CIS Amazon EKS Benchmark 5.4.1", "CIS Amazon EKS Benchmark 5.4.2", "AWS FSBP EKS.1")),
    Rule("EK-002", "Control-plane logging (api, audit, authenticator) is disabled", Severity.MEDIUM,
         ek002_logging_disabled, CLUSTER, "eks-cluster", CLUSTER_WRITES, ActionKind.ENABLED_LOGGING, ("ExemptTagKey",),
         ("CIS Amazon EKS Benchmark 2.1.1", "AWS FSBP EKS.8", "EKS Best Practices: Detective controls")),
    Rule("EK-003", "Kubernetes secrets are not envelope-encrypted with KMS", Severity.MEDIUM,
         ek003_secrets_not_encrypted, CLUSTER, "eks-cluster", ("CreateCluster",), None, (),
         ("CIS Amazon EKS Benchmark 5.3.1", "AWS FSBP EKS.3", "EKS Best Practices: Data encryption and secrets")),
    Rule("EK-004", "Node instance metadata reachable from pods (IMDSv1 or hop limit > 1)", Severity.HIGH,
         ek004_imds_reachable_from_pods, CLUSTER, "launch-template", NODE_TEMPLATE_WRITES,
         ActionKind.NEW_LAUNCH_TEMPLATE_VERSION, ("EnforceImdsv2", "Scope", "ExemptTagKey"),
         ("AWS FSBP EC2.170", "AWS FSBP EC2.8",
          "EKS Best Practices: Restrict access to the instance profile assigned to the worker node")),
    Rule("EK-006", "Cluster access: aws-auth only, or cluster admin outside AdminPrincipals", Severity.HIGH,
         ek006_cluster_access, CLUSTER, "eks-cluster", ACCESS_WRITES, ActionKind.REVOKED,
         ("AdminPrincipals", "RevokeClusterAdmin", "ExemptTagKey"),
         ("CIS Amazon EKS Benchmark 4.1.1", "EKS Best Practices: Identity and access management - access entries")),
    Rule("CT-001", "No CloudTrail trail logs management events in the region", Severity.CRITICAL,
         ct001_no_management_trail, Family.CLOUDTRAIL, "cloudtrail", (), None, (),
         ("AWS FSBP CloudTrail.1", "CIS AWS Foundations 3.1")),
)
RULES_BY_ID = {rule.rule_id: rule for rule in RULES}


def detect(snapshot: EksSnapshot, config: EksConfig, only: Collection[str] | None = None) -> list[Finding]:
    """Findings of every rule, or of the rules in ``only`` (an event looks at what it can change)."""
    return [f for rule in RULES if only is None or rule.rule_id in only for f in rule.check(snapshot, config)]

"""Rules on what was read inside a cluster, K8-000 ... K8-004 (DESIGN section 3). Each check is a small pure
function over one cluster's snapshot and what the account side knows (``K8Inputs``); ``RULES`` is the registry.
A rule whose input was not read yields nothing: K8-000 says what was not evaluated and why."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from eksguard.config_eks import DEFAULT_IMDS_ALLOWED_NAMESPACES
from eksguard.detect.imds_policy import imds_reachable
from eksguard.detect.rule import Family, Rule
from eksguard.model import Finding, Severity
from eksguard.snapshot.irsa import Role, like_match
from eksguard.snapshot.k8s import SYSTEM_MASTERS, AwsAuthMapping, ClusterK8sSnapshot, ServiceAccount

NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
EDIT_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"


@dataclass(frozen=True)
class K8Inputs:
    """What the K8 rules need from outside the cluster; ``None`` where it was not read (the rule then skips)."""

    account: str
    # Names of the account's IAM roles and users (aws-auth ARNs carry no path: compared by name).
    role_names: frozenset[str] | None = None
    user_names: frozenset[str] | None = None
    # Why some node template or node lets pods reach IMDS (EK-004's reasons); empty when all are locked down.
    node_imds_open: tuple[str, ...] = ()
    imds_allowed_namespaces: frozenset[str] = DEFAULT_IMDS_ALLOWED_NAMESPACES
    # The cluster's OIDC issuer (``oidc.eks.<region>.amazonaws.com/id/<ID>``) and the account's IRSA roles.
    issuer: str | None = None
    irsa_roles: tuple[Role, ...] | None = field(default=None, compare=False)


Check = Callable[[ClusterK8sSnapshot, K8Inputs], Iterator[Finding]]


# Read by the sweep, the scan and the in-cluster guard (the control-plane audit log's writes to aws-auth,
# NetworkPolicies, GlobalNetworkPolicies, ServiceAccounts and Namespaces).
EVENTS = ("KubernetesAuditWrite",)
KUBE = Family.KUBERNETES


def _finding(rule_id: str, resource_id: str, detail: str, target_id: str | None = None, **evidence: Any) -> Finding:
    spec = RULES_BY_ID[rule_id]
    return Finding(rule_id, spec.severity, spec.title, resource_id, detail, target_id=target_id,
                   evidence=tuple(sorted(evidence.items())))


def k8_000_not_evaluated(snap: ClusterK8sSnapshot, inputs: K8Inputs) -> Iterator[Finding]:
    if snap.error is not None:
        yield _finding("K8-000", snap.cluster, f"cluster {snap.cluster} was not evaluated: {snap.error}",
                       reason=snap.error, region=snap.region)
        return
    reasons = [f"{resource}: {why}" for resource, why in snap.gaps]
    reasons += [f"aws-auth: {e}" for e in (snap.aws_auth.errors if snap.aws_auth else ())]
    if reasons:
        yield _finding("K8-000", snap.cluster, f"cluster {snap.cluster} was partly not evaluated: "
                       + "; ".join(reasons), reason=reasons, region=snap.region)


def access_entry_commands(m: AwsAuthMapping, cluster: str, region: str) -> tuple[str, ...]:
    """The access-entry commands that replace a ``system:masters`` mapping (the cluster must be in
    API_AND_CONFIG_MAP mode first); a node role gets a node entry, anything else a scoped policy."""
    base = f"aws eks create-access-entry --cluster-name {cluster} --region {region} --principal-arn {m.arn}"
    if m.kind == "role" and m.username == NODE_USERNAME:
        return (f"{base} --type EC2_LINUX",)
    return (base, f"aws eks associate-access-policy --cluster-name {cluster} --region {region} --principal-arn "
                  f"{m.arn} --policy-arn {EDIT_POLICY} --access-scope type=namespace,namespaces=<namespace>")


def k8_001_system_masters(snap: ClusterK8sSnapshot, inputs: K8Inputs) -> Iterator[Finding]:
    for m in snap.aws_auth.mappings if snap.aws_auth else ():
        if SYSTEM_MASTERS in m.groups:
            commands = access_entry_commands(m, snap.cluster, snap.region)
            yield _finding("K8-001", snap.cluster, f"aws-auth maps {m.kind} {m.arn} (username {m.username or '-'}) "
                           f"into system:masters: cluster admin that no RBAC binding can take away, and its edits "
                           f"never reach CloudTrail. Replace it: `{'` then `'.join(commands)}`, then remove the "
                           "mapping from aws-auth", target_id=m.arn, principalArn=m.arn, groups=list(m.groups),
                           commands=list(commands))


def k8_002_unknown_principal(snap: ClusterK8sSnapshot, inputs: K8Inputs) -> Iterator[Finding]:
    for m in snap.aws_auth.mappings if snap.aws_auth else ():
        names = inputs.role_names if m.kind == "role" else inputs.user_names
        if names is None or m.account != inputs.account or m.name in names:
            continue  # not read, or another account's principal (not readable from here)
        yield _finding("K8-002", snap.cluster, f"aws-auth maps {m.kind} {m.arn} (groups {', '.join(m.groups)}), "
                       f"which does not exist in IAM: whoever creates a {m.kind} named {m.name} gets that access",
                       target_id=m.arn, principalArn=m.arn, groups=list(m.groups))


def k8_003_imds_reachable(snap: ClusterK8sSnapshot, inputs: K8Inputs) -> Iterator[Finding]:
    if not inputs.node_imds_open or snap.namespaces is None or snap.network_policies is None:
        return
    if snap.calico_policies is None and snap.calico_installed is not False:
        return  # Calico policies not read (a gap): K8-000 says so
    calico = snap.calico_policies or ()
    for ns in snap.namespaces:
        if ns.name in inputs.imds_allowed_namespaces:
            continue
        verdict = imds_reachable(ns, calico, snap.network_policies)
        if verdict.reachable:
            yield _finding("K8-003", f"{snap.cluster}/{ns.name}", f"pods of namespace {ns.name} in cluster "
                           f"{snap.cluster} can reach IMDS (169.254.169.254) and so the node role: "
                           f"{'; '.join(inputs.node_imds_open)}; and {verdict.why}", target_id=ns.name,
                           namespace=ns.name, why=verdict.why, notes=list(verdict.notes),
                           nodes=list(inputs.node_imds_open))


def _sub_allowed(role: Role, issuer: str, sub: str) -> bool:
    """Some allowing web-identity statement for ``issuer`` lets ``sub`` through (sub conditions AND together)."""
    for stmt in role.trust.irsa_statements:
        if issuer.lower() not in (i.lower() for i in stmt.eks_issuers):
            continue
        conds = stmt.claim_conditions(issuer, "sub")
        if all(any(like_match(v, sub) if c.like else v == sub for v in c.values) for c in conds):
            return True
    return False


def _exact_subs(role: Role, issuer: str) -> set[str]:
    return {v for s in role.trust.irsa_statements for c in s.claim_conditions(issuer, "sub") if not c.like
            for v in c.values if v.startswith("system:serviceaccount:")}


def k8_004_irsa_mismatch(snap: ClusterK8sSnapshot, inputs: K8Inputs) -> Iterator[Finding]:
    if snap.service_accounts is None or inputs.issuer is None or inputs.irsa_roles is None:
        return
    by_arn = {r.arn: r for r in inputs.irsa_roles}
    for sa in snap.service_accounts:
        if sa.role_arn is None or sa.role_arn.split(":")[4:5] != [inputs.account]:
            continue
        yield from _annotation(snap, inputs, sa, by_arn.get(sa.role_arn), inputs.issuer)
    existing = {sa.sub for sa in snap.service_accounts}
    for role in inputs.irsa_roles:
        for sub in sorted(_exact_subs(role, inputs.issuer) - existing):
            yield _finding("K8-004", role.name, f"the trust of role {role.name} names {sub}, which does not exist "
                           f"in cluster {snap.cluster}: whoever can create that ServiceAccount gets the role",
                           target_id=sub, role=role.arn, sub=sub)


def _annotation(snap: ClusterK8sSnapshot, inputs: K8Inputs, sa: ServiceAccount, role: Role | None,
                issuer: str) -> Iterator[Finding]:
    where = f"ServiceAccount {sa.namespace}/{sa.name} in cluster {snap.cluster}"
    name = (sa.role_arn or "").rsplit("/", 1)[-1]
    if role is None:
        missing = inputs.role_names is not None and name not in inputs.role_names
        why = "does not exist" if missing else f"has no web-identity trust for the cluster's issuer {issuer}"
    elif not _sub_allowed(role, issuer, sa.sub):
        why = f"does not allow {sa.sub} from issuer {issuer} in its trust"
    else:
        return
    yield _finding("K8-004", f"{snap.cluster}/{sa.namespace}/{sa.name}", f"{where} is annotated with role "
                   f"{sa.role_arn}, which {why}: its pods silently get no AWS credentials", target_id=sa.role_arn,
                   role=sa.role_arn, sub=sa.sub)


RULES: tuple[Rule, ...] = (
    Rule("K8-000", "Cluster could not be read: not evaluated", Severity.MEDIUM, k8_000_not_evaluated, KUBE,
         "eks-cluster", EVENTS, None, (),
         ("EKS User Guide: Grant IAM users access to Kubernetes with access entries",)),
    Rule("K8-001", "aws-auth maps an IAM role or user into system:masters", Severity.HIGH, k8_001_system_masters,
         KUBE, "eks-cluster", EVENTS, None, (),
         ("CIS Amazon EKS Benchmark 4.1.1", "EKS Best Practices: Identity and access management - access entries")),
    Rule("K8-002", "aws-auth maps an IAM role or user that does not exist", Severity.HIGH, k8_002_unknown_principal,
         KUBE, "eks-cluster", EVENTS, None, (),
         ("EKS Best Practices: Identity and access management - aws-auth",)),
    Rule("K8-003", "Pods of a namespace can reach IMDS (no network policy denies it)", Severity.HIGH,
         k8_003_imds_reachable, KUBE, "k8s-namespace", EVENTS, None, ("ImdsAllowedNamespaces",),
         ("EKS Best Practices: Restrict access to the instance profile assigned to the worker node",)),
    Rule("K8-004", "ServiceAccount role annotation and IRSA trust disagree", Severity.MEDIUM, k8_004_irsa_mismatch,
         KUBE, "k8s-service-account", EVENTS, None, (), (
             "EKS Best Practices: IRSA - scope the IAM role trust policy to the service account",)),
)
RULES_BY_ID = {rule.rule_id: rule for rule in RULES}


def detect(snapshot: ClusterK8sSnapshot, inputs: K8Inputs, only: Collection[str] | None = None) -> list[Finding]:
    """Findings of every K8 rule (or those in ``only``); an unreadable cluster yields only K8-000."""
    rules = RULES[:1] if snapshot.error is not None else RULES
    found = [f for rule in rules if only is None or rule.rule_id in only for f in rule.check(snapshot, inputs)]
    # Every K8 finding names its cluster (K8-004 on a role names the role): exemptions and alerts need it.
    return [f if "cluster" in dict(f.evidence) else replace(f, evidence=(("cluster", snapshot.cluster), *f.evidence))
            for f in found]

"""IRSA trust rules IR-001 ... IR-007 (docs/rules.md). Each check is a small pure function over one role
and the snapshot; ``RULES`` is the explicit registry, in rule-id order.

Findings carry what the planner needs as evidence (statement index, issuer, the exact subs, the
successor issuer), so planning never re-derives a rule's reasoning."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from eksguard.detect.rule import Family, Rule
from eksguard.model import ActionKind, Finding, Severity
from eksguard.snapshot.irsa import (
    CLUSTER_TAG,
    SA_TAG,
    STS_AUDIENCE,
    IrsaSnapshot,
    Role,
    Statement,
    issuer_region,
    like_match,
    provider_arn,
    successor,
)

Check = Callable[[Role, IrsaSnapshot], Iterator[Finding]]
POD_IDENTITY_HINT = ("EKS Pod Identity (trust pods.eks.amazonaws.com) needs no per-cluster OIDC provider and "
                     "survives cluster re-creation")


# What changes an IRSA trust's verdict: the role's trust, the providers it names, a cluster re-created (the
# issuer refresh on EKS CreateCluster, in every region).
EVENTS = ("CreateRole", "UpdateAssumeRolePolicy", "CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider",
          "CreateCluster")
SCOPE_BP = "EKS Best Practices: IRSA - scope the IAM role trust policy to the service account"


def _rule(rule_id: str, title: str, severity: Severity, check: Check, action: ActionKind | None,
          references: tuple[str, ...] = (SCOPE_BP,)) -> Rule:
    return Rule(rule_id, title, severity, check, Family.IRSA, "iam-role", EVENTS, action, ("ExemptTagKey",),
                references)


def _finding(rule_id: str, role: Role, stmt: Statement, detail: str, remediable: bool = False,
             **evidence: Any) -> Finding:
    spec = RULES_BY_ID[rule_id]
    return Finding(rule_id, spec.severity, spec.title, role.name, f"{stmt.ref}: {detail}", target_id=stmt.ref,
                   remediable=remediable and spec.action is not None,
                   evidence=tuple({"statement": stmt.index, **evidence}.items()))


def _irsa(role: Role) -> Iterator[tuple[Statement, str]]:
    for stmt in role.trust.irsa_statements:
        for issuer in stmt.eks_issuers:
            yield stmt, issuer


def ir001_audience(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt, issuer in _irsa(role):
        auds = stmt.claim_conditions(issuer, "aud")
        values = sorted({v for c in auds for v in c.values})
        if not auds:
            yield _finding("IR-001", role, stmt, f"no {issuer}:aud condition", True, issuer=issuer)
        elif values != [STS_AUDIENCE]:
            yield _finding("IR-001", role, stmt, f"aud is {', '.join(values)}, not exactly {STS_AUDIENCE}"
                           + (" (typo: no token carries it, so the role cannot be assumed)"
                              if "sts.amazon.com" in values else ""), True, issuer=issuer)


def ir002_no_sub(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt, issuer in _irsa(role):
        if stmt.claim_conditions(issuer, "sub"):
            continue
        subs, source = snap.known_subs(role, issuer)
        how = f"exact sub from {source}" if subs else f"{source}: alert only, never a guess" if source else (
            f"service account unknown: tag the role {SA_TAG}=<namespace>/<name> to let eksguard pin it")
        yield _finding("IR-002", role, stmt, f"no {issuer}:sub condition: every service account of the cluster "
                       f"can assume the role ({how})", bool(subs), issuer=issuer, subs=subs)


def ir003_wildcard_sub(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt, issuer in _irsa(role):
        subs = stmt.claim_conditions(issuer, "sub")
        patterns = tuple(v for c in subs if c.like for v in c.wildcard_values)
        # Conditions AND together: one fully exact sub condition already pins the statement.
        pinned = any(not c.like or not c.wildcard_values for c in subs)
        if not patterns or pinned:
            continue
        known, source = snap.known_subs(role, issuer)
        fits = bool(known) and all(any(like_match(p, sub) for p in patterns) for sub in known)
        if fits:
            how = f"tighten to {', '.join(known)} ({source})"
        elif known:
            how = f"{source} names {', '.join(known)}, which the wildcard does not cover: not changed"
        elif source:
            how = f"{source}: alert only, never a guess"
        else:
            how = f"service account unknown: tag the role {SA_TAG}=<namespace>/<name>"
        yield _finding("IR-003", role, stmt, f"sub matches {', '.join(patterns)} ({how})", fits,
                       issuer=issuer, subs=known if fits else (), patterns=patterns)


def ir004_star_in_string_equals(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt, issuer in _irsa(role):
        for cond in stmt.conditions:
            if cond.issuer_key == issuer.lower() and cond.positive and not cond.like and cond.wildcard_values:
                yield _finding("IR-004", role, stmt, f"{cond.operator} {cond.key} = "
                               f"{', '.join(cond.wildcard_values)}: a literal under StringEquals, it never matches "
                               "(the role is broken, not open; StringLike was probably meant)", issuer=issuer,
                               claim=cond.claim)


def ir005_stale_issuer(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt, issuer in _irsa(role):
        region = issuer_region(issuer)
        if region not in snap.regions or snap.live_cluster(issuer) is not None:
            continue
        cluster, source = successor(role, issuer, snap)
        if cluster is None or cluster.issuer is None:
            yield _finding("IR-005", role, stmt, f"issuer {issuer} belongs to no live cluster in {region} (cluster "
                           f"deleted or recreated); tag the role {CLUSTER_TAG}=<cluster> to let eksguard move it, "
                           f"or delete the role. {POD_IDENTITY_HINT}", issuer=issuer)
            continue
        new_arn = provider_arn(snap.account, cluster.issuer, snap.partition)
        exists = snap.provider_exists(new_arn) is True
        detail = (f"issuer {issuer} is stale; cluster {cluster.name} now has {cluster.issuer} ({source})")
        if not exists:
            detail += f"; {create_provider_advice(cluster.name, cluster.region, cluster.issuer)}"
        yield _finding("IR-005", role, stmt, detail, exists, issuer=issuer, new_issuer=cluster.issuer,
                       new_provider=new_arn, cluster=cluster.name, cluster_region=cluster.region)


def create_provider_commands(cluster: str, region: str, issuer: str) -> tuple[str, str]:
    return (f"eksctl utils associate-iam-oidc-provider --cluster {cluster} --region {region} --approve",
            f"aws iam create-open-id-connect-provider --url https://{issuer} --client-id-list {STS_AUDIENCE}")


def create_provider_advice(cluster: str, region: str, issuer: str) -> str:
    eksctl, cli = create_provider_commands(cluster, region, issuer)
    return (f"create the IAM OIDC provider for cluster {cluster}: `{eksctl}` or `{cli}`; eksguard then moves "
            "the role")


def ir006_missing_provider(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt in role.trust.irsa_statements:
        for arn in stmt.provider_arns:
            if snap.provider_exists(arn) is False:
                yield _finding("IR-006", role, stmt, f"OIDC provider {arn} does not exist in IAM: no token can "
                               f"assume the role. {POD_IDENTITY_HINT}", provider=arn)


def ir007_open_trust(role: Role, snap: IrsaSnapshot) -> Iterator[Finding]:
    for stmt in role.trust.statements:
        if not stmt.allows:
            continue
        if stmt.anyone:
            yield _finding("IR-007", role, stmt, "Principal \"*\": any AWS principal"
                           + (" (conditions apply: check them)" if stmt.conditions else " with no condition")
                           + " may assume the role")
        elif stmt.web_identity and any(k == "Federated" for k, _ in stmt.principals) and not stmt.conditions:
            yield _finding("IR-007", role, stmt, "web-identity trust with no condition at all: any token of the "
                           "identity provider (every pod of the cluster) may assume the role")


REWRITE = ActionKind.REWROTE_TRUST
RULES: tuple[Rule, ...] = (
    _rule("IR-001", "IRSA trust does not pin aud to sts.amazonaws.com", Severity.MEDIUM, ir001_audience, REWRITE,
          (SCOPE_BP, "EKS User Guide: IAM roles for service accounts - trust policy")),
    _rule("IR-002", "IRSA trust has no sub condition", Severity.HIGH, ir002_no_sub, REWRITE),
    _rule("IR-003", "IRSA trust matches service accounts by wildcard", Severity.HIGH, ir003_wildcard_sub, REWRITE),
    _rule("IR-004", "Wildcard inside StringEquals in an IRSA trust (never matches)", Severity.LOW,
          ir004_star_in_string_equals, None),
    _rule("IR-005", "IRSA trust names a stale issuer (cluster recreated or deleted)", Severity.MEDIUM,
          ir005_stale_issuer, REWRITE, ("aws/containers-roadmap#1579", "EKS Best Practices: EKS Pod Identity")),
    _rule("IR-006", "IRSA trust references an OIDC provider that does not exist", Severity.MEDIUM,
          ir006_missing_provider, None),
    _rule("IR-007", "Role trust open to anyone, or web identity with no condition", Severity.CRITICAL,
          ir007_open_trust, None, (SCOPE_BP, "AWS FSBP IAM.1")),
)
RULES_BY_ID = {rule.rule_id: rule for rule in RULES}


def detect_role(role: Role, snapshot: IrsaSnapshot, only: Collection[str] | None = None) -> list[Finding]:
    return [f for rule in RULES if only is None or rule.rule_id in only for f in rule.check(role, snapshot)]


def detect(snapshot: IrsaSnapshot, only: Collection[str] | None = None) -> list[Finding]:
    return [f for role in snapshot.roles for f in detect_role(role, snapshot, only)]
